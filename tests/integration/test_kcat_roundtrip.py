"""kcat (librdkafka 2.0) produce and consume through krxd.

Each of five partitions is written through krxd by one kcat -P run with its
own compression codec (none, gzip, snappy, lz4, zstd), keys and two static
headers. Reading back through krxd with kcat -C -J (once with default fetch
sizes, once with tiny ones so that fetch responses end in a truncated
batch) gives exactly the records, offsets, timestamps and headers that a
direct kcat read of the broker gives, and what was sent. kcat -L through
krxd lists only krxd's node address.
"""

import json
import random
import subprocess

import tools

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_PARTITION = 800


def kcat(args, input=None, timeout=120):
    r = subprocess.run(["kcat"] + args, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    assert r.returncode == 0, \
        f"kcat {' '.join(args)} exited {r.returncode}: {r.stderr[-3000:]!r}"
    return r


def read_json(bootstrap, topic, extra=()):
    r = kcat(["-C", "-b", bootstrap, "-t", topic, "-J", "-e", "-q",
              "-o", "beginning", "-X", "check.crcs=true"] + list(extra))
    recs = [json.loads(ln) for ln in r.stdout.decode().splitlines() if ln]
    out = {}
    for m in recs:
        out.setdefault(m["partition"], []).append(m)
    return out


def test_kcat_roundtrip(kafka, krxd, topic_name):
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: len(CODECS)})

    md = json.loads(kcat(["-L", "-J", "-b", krxd.bootstrap,
                          "-t", topic]).stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == \
        [(1, krxd.node_address(1))], md["brokers"]

    rnd = random.Random(7)
    sent = {}
    for p, codec in enumerate(CODECS):
        lines = []
        for i in range(PER_PARTITION):
            key = f"k{rnd.randrange(30)}"
            val = f"p{p}-{i}-" + "".join(
                rnd.choice("xyz0123456789 :;,.äλ") for _ in
                range(rnd.choice([0, 10, 100, 1000])))
            lines.append((key, val))
        data = "".join(f"{k}:{v}\n" for k, v in lines).encode()
        kcat(["-P", "-b", krxd.bootstrap, "-t", topic, "-p", str(p),
              "-K", ":", "-H", f"codec={codec}", "-H", "via=krxd",
              "-X", f"compression.codec={codec}",
              "-X", "enable.idempotence=true"], input=data)
        sent[p] = lines

    direct = read_json(kafka.bootstrap, topic)
    proxied = read_json(krxd.bootstrap, topic)
    small = read_json(krxd.bootstrap, topic,
                      ["-X", "max.partition.fetch.bytes=1500",
                       "-X", "fetch.max.bytes=3000",
                       "-X", "message.max.bytes=3000"])

    assert sorted(direct) == list(range(len(CODECS)))
    for p, codec in enumerate(CODECS):
        assert proxied.get(p) == direct[p], \
            f"partition {p} ({codec}) differs between krxd and broker"
        assert small.get(p) == direct[p], \
            f"partition {p} ({codec}) differs with small fetches via krxd"
        got = [(m["key"], m["payload"]) for m in proxied[p]]
        assert got == sent[p], f"partition {p} ({codec}): not what was sent"
        assert [m["offset"] for m in proxied[p]] == \
            list(range(PER_PARTITION))
        for m in proxied[p]:
            assert m["headers"] == ["codec", codec, "via", "krxd"]
            assert m["tstype"] == "create" and m["ts"] > 0
    krxd.assert_served(kafka)
