"""Record encryption round trip, every codec, Java and librdkafka clients.

For each codec (none, gzip, snappy, lz4, zstd) keyed records with headers
are produced through an encrypting krxd by Kafka's Java ConsoleProducer
(--compression-codec; Java writes xerial-framed snappy) and by confluent-kafka
(librdkafka), one topic per (client, codec), each with its KEK. Read
directly from the broker, every value is a wrapper v2 with the
kroxylicious.io/encryption=0x02 header first and the original headers
after it, keys and timestamps unchanged; the test's own decryptor
(keystore KEK -> EDEK -> DEK -> AES-GCM -> parcel) recovers exactly the
produced value, and the batches keep the client's codec. Read back
through krxd with confluent-kafka, kcat and the Java ConsoleConsumer,
every record has the produced key, value, headers (in order) and
timestamp.
"""

import random
import re
import subprocess
import time

from confluent_kafka import Producer

import enctest
import krxtest
import tools

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
N = 240          # records per (client, codec)
SAFE = "abcdefghijklmnopqrstuvwxyz0123456789 .;-_/äöüßéλ€"


def java_lines(rnd, topic, codec):
    """ConsoleProducer input 'h:v,...<TAB>key<TAB>value' and what each
    line means: (key, value, headers)."""
    lines, want = [], []
    for i in range(N):
        key = f"jk-{rnd.randrange(20)}"
        r = rnd.random()
        if r < 0.05:
            val = ""                                    # empty, not null
        elif r < 0.15:
            val = f"long-{i}-" + "abcdefgh" * rnd.randrange(200, 600)
        else:
            val = f"v{i}|" + "".join(rnd.choice(SAFE) for _ in
                                     range(rnd.randrange(0, 120)))
        hdrs = [("t", topic), ("codec", codec), ("i", str(i))]
        lines.append(",".join(f"{k}:{v}" for k, v in hdrs) +
                     f"\t{key}\t{val}")
        want.append((key.encode(), val.encode(),
                     tuple((k, v.encode()) for k, v in hdrs)))
    return lines, want


def java_produce(bootstrap, jobs):
    """Run one ConsoleProducer per (topic, codec, lines), in parallel."""
    procs = []
    for topic, codec, lines in jobs:
        cmd = tools.java_tool_cmd(
            tools.CONSOLE_PRODUCER,
            ["--bootstrap-server", bootstrap, "--topic", topic,
             "--request-timeout-ms", "30000", "--max-block-ms", "60000",
             "--property", "parse.key=true",
             "--property", "parse.headers=true",
             "--producer-property", "acks=all",
             "--producer-property", "linger.ms=50",
             # ConsoleProducer overrides compression.type with this
             "--compression-codec", codec])
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append((p, "".join(ln + "\n" for ln in lines).encode()))
    for p, data in procs:
        _, err = p.communicate(data, timeout=240)
        assert p.returncode == 0, \
            f"ConsoleProducer failed: {err.decode(errors='replace')[-3000:]}"


def rdk_records(rnd, topic, codec):
    """(key, value, headers, ts) for confluent-kafka: binary keys and
    values (no \\n or \\t, which the console consumer's lines use), empty
    values, repeated and null-valued headers, explicit timestamps."""
    def blob(n):
        return rnd.randbytes(n).replace(b"\t", b"T").replace(b"\n", b"N")
    out = []
    # explicit, but recent: older than retention.ms (7 days) would be
    # deleted by the broker's next retention check
    base = int(time.time() * 1000) - 600_000
    for i in range(N):
        key = None if i % 17 == 0 else b"rk-" + blob(rnd.randrange(1, 8))
        r = rnd.random()
        if r < 0.05:
            val = b""
        elif r < 0.08:
            val = blob(30_000)                          # incompressible
        elif r < 0.2:
            val = b"0123456789abcdef" * rnd.randrange(100, 400)
        else:
            val = blob(rnd.randrange(1, 300))
        hdrs = (("t", topic.encode()), ("codec", codec.encode()),
                ("i", str(i).encode()), ("dup", b"1"), ("dup", b"2"))
        if i % 7 == 0:
            hdrs += (("nullh", None),)
        out.append((key, val, hdrs, base + i * 13))
    return out


def rdk_produce(bootstrap, topic, codec, recs):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
                  "enable.idempotence": True, "linger.ms": 50,
                  "log_level": 3})
    errors = []
    for key, val, hdrs, ts in recs:
        p.produce(topic, key=key, value=val, headers=list(hdrs),
                  timestamp=ts, partition=0,
                  on_delivery=lambda e, m: e and errors.append(e))
        p.poll(0)
    assert p.flush(60) == 0, "messages left undelivered"
    assert not errors, f"{topic}: delivery errors {errors[:3]}"


def kcat_read(bootstrap, topic):
    """[(offset, ts, key, value, headers text)] read with kcat -C through
    bootstrap; keys and values are length-delimited, so binary-safe."""
    fmt = r"%o\t%T\t%K\t%S\t%k%s\t%h\n"
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e",
                        "-q", "-o", "beginning", "-X", "check.crcs=true",
                        "-f", fmt], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, f"kcat on {topic}: {r.stderr[-2000:]!r}"
    assert r.stdout, f"kcat read nothing from {topic}: {r.stderr[-3000:]!r}"
    out, b, pos = [], r.stdout, 0
    while pos < len(b):
        f = []
        for _ in range(4):
            e = b.index(b"\t", pos)
            f.append(int(b[pos:e]))
            pos = e + 1
        off, ts, kl, vl = f
        key = None if kl < 0 else b[pos:pos + kl]
        pos += max(kl, 0)
        val = None if vl < 0 else b[pos:pos + vl]
        pos += max(vl, 0)
        assert b[pos:pos + 1] == b"\t", f"kcat output at {pos}"
        e = b.index(b"\n", pos + 1)
        out.append((off, ts, key, val, b[pos + 1:e].decode()))
        pos = e + 1
    return out


def kcat_headers(hdrs):
    """The n=v CSV kcat prints for headers."""
    return ",".join(f"{k}={'NULL' if v is None else v.decode()}"
                    for k, v in hdrs)


def java_headers(hdrs):
    if not hdrs:
        return b"NO_HEADERS"
    return b",".join(k.encode() + b":" + (b"<null>" if v is None else v)
                     for k, v in hdrs)


def test_enc_roundtrip(kafka, krxd_factory, topic_name, enc_kms):
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms)
    rnd = random.Random(11)
    jtopics = {c: f"{topic_name}-java-{c}" for c in CODECS}
    rtopics = {c: f"{topic_name}-rdk-{c}" for c in CODECS}
    topics = list(jtopics.values()) + list(rtopics.values())
    tools.create_topics(kafka.bootstrap, {t: 1 for t in topics})
    for t in topics:
        enctest.kek(krxd, "create", f"KEK-{t}")

    # want[topic] = [(key, value, headers, ts or None)] in produce order
    want = {}
    jobs = []
    for c, t in jtopics.items():
        lines, w = java_lines(rnd, t, c)
        jobs.append((t, c, lines))
        want[t] = [(k, v, h, None) for k, v, h in w]
    java_produce(krxd.bootstrap, jobs)
    for c, t in rtopics.items():
        recs = rdk_records(rnd, t, c)
        rdk_produce(krxd.bootstrap, t, c, recs)
        want[t] = recs

    # At the broker: ciphertext that our own code decrypts.
    dec = enctest.decryptor(krxd)
    direct = enctest.read_topics(kafka.bootstrap, topics)
    broker_ts = {}
    for t in topics:
        got = direct[t][0]
        assert len(got) == N, f"{t}: {len(got)} records at the broker"
        assert [r[2] for r in got] == list(range(N)), f"{t}: offsets"
        for rec, (k, v, h, ts) in zip(got, want[t]):
            w = dec.check(rec, k, v, h, ts, what=t)
            assert w["name"] == f"KEK-{t}" and \
                w["version"] == enc_kms.first_version
        broker_ts[t] = [r[7] for r in got]
        assert all(ts > 0 for ts in broker_ts[t])

    # The encrypted batches kept the codec the client chose.
    conn = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        for c in CODECS:
            for t in (jtopics[c], rtopics[c]):
                codecs = {b["attributes"] & 7
                          for b in enctest.fetch_all(conn, t)}
                assert codecs == {CODECS.index(c)}, \
                    f"{t}: batches at the broker use codecs {codecs}"
    finally:
        conn.close()

    # Through krxd with confluent-kafka: plaintext, all fields identical.
    via = enctest.read_topics(krxd.bootstrap, topics)
    for t in topics:
        got = [(r[3], r[4], r[5], r[7]) for r in via[t][0]]
        exp = [(k, v, h, ts if ts is not None else bts)
               for (k, v, h, ts), bts in zip(want[t], broker_ts[t])]
        assert [r[2] for r in via[t][0]] == list(range(N))
        assert got == exp, f"{t}: confluent-kafka via krxd differs"

    # Through krxd with kcat.
    for t in topics:
        got = kcat_read(krxd.bootstrap, t)
        exp = [(i, bts, k, v, kcat_headers(h)) for i, ((k, v, h, _), bts)
               in enumerate(zip(want[t], broker_ts[t]))]
        assert got == exp, f"{t}: kcat via krxd differs"

    # Through krxd with one Java ConsoleConsumer subscribed to all topics.
    args = ["--bootstrap-server", krxd.bootstrap,
            "--include", "^" + re.escape(topic_name) + "-.*",
            "--group", f"g-{topic_name}", "--from-beginning",
            "--max-messages", str(N * len(topics)), "--timeout-ms", "60000"]
    for k, v in tools.DUMP_FORMAT.items():
        args += ["--property", f"{k}={v}"]
    r = tools.run_java_tool(tools.CONSOLE_CONSUMER, args, check=False)
    lines = [ln for ln in r.stdout.split(b"\n") if ln]
    assert len(lines) == N * len(topics), \
        f"ConsoleConsumer read {len(lines)} lines: " \
        f"{r.stderr.decode(errors='replace')[-3000:]}"
    by_topic = {}
    for ln in lines:
        hdrs = ln.split(b"\t")[3]
        t = hdrs.split(b",")[0].split(b":", 1)[1].decode()
        by_topic.setdefault(t, []).append(ln)
    assert sorted(by_topic) == sorted(topics)
    for t in topics:
        recs = krxtest.console_records(by_topic[t])[0]
        exp = [(i, bts, java_headers(h),
                b"<null>" if k is None else k, v)
               for i, ((k, v, h, _), bts) in enumerate(zip(want[t],
                                                           broker_ts[t]))]
        assert [r[:5] for r in recs] == exp, \
            f"{t}: Java ConsoleConsumer via krxd differs"
    krxd.assert_served(kafka)
