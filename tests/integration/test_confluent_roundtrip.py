"""confluent-kafka (Python, librdkafka 2.x) produce and consume through krxd.

Binary keys and values (empty, null/tombstone, up to ~900 KB), repeated and
null-valued headers and explicit timestamps go to three partitions through
krxd, once per compression codec. Reading through krxd (default and tiny
fetch sizes) returns exactly what a direct read of the broker returns and
what was sent, per partition and in order. The client's statistics show
that the only brokers it talked to are krxd's node addresses.
"""

import os
import random
import time

from confluent_kafka import Producer

import tools

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PARTITIONS = 3
PER_CODEC = 300


BASE_TS = int(time.time() * 1000) - 3_600_000


def make_record(rnd, i, codec):
    r = rnd.random()
    if r < 0.05:
        value = None                      # tombstone
    elif r < 0.10:
        value = b""
    elif r < 0.12:
        value = os.urandom(200_000)       # incompressible, several frames
    else:
        value = bytes(rnd.randrange(256) for _ in
                      range(rnd.choice([1, 17, 300, 4000])))
    key = None if i % 11 == 0 else f"key-{rnd.randrange(50)}".encode() + \
        bytes([rnd.randrange(256)])
    headers = [("codec", codec.encode()), ("i", str(i).encode()),
               ("dup", b"1"), ("dup", b"2"), ("nullh", None)]
    if i % 5 == 0:
        headers = None
    # recent: the broker's 7-day retention would delete older records
    ts = BASE_TS + i * 7
    return key, value, headers, ts


def produce(bootstrap, topic, codec, rnd, stats):
    p = Producer({"bootstrap.servers": bootstrap,
                  "compression.type": codec,
                  "enable.idempotence": True,
                  "linger.ms": 20,
                  "message.max.bytes": 2_000_000,
                  "statistics.interval.ms": 200,
                  "stats_cb": stats.append,
                  "log_level": 3})
    sent = {q: [] for q in range(PARTITIONS)}
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(err)

    for i in range(PER_CODEC):
        part = i % PARTITIONS
        key, value, headers, ts = make_record(rnd, i, codec)
        kw = {"partition": part, "key": key, "value": value,
              "timestamp": ts, "on_delivery": dr}
        if headers is not None:
            kw["headers"] = headers
        p.produce(topic, **kw)
        sent[part].append((key, value, headers, ts))
        p.poll(0)
    assert p.flush(60) == 0, "messages left undelivered"
    p.poll(0.5)  # one more statistics callback
    assert not errors, f"delivery errors: {errors[:5]}"
    return sent


def norm_headers(h):
    return tuple(h) if h else None


def test_confluent_roundtrip(kafka, krxd, topic_name):
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS},
                        config={"max.message.bytes": "2000000"})
    rnd = random.Random(42)
    stats = []
    sent = {q: [] for q in range(PARTITIONS)}
    for codec in CODECS:
        s = produce(krxd.bootstrap, topic, codec, rnd, stats)
        for q in s:
            sent[q] += s[q]

    seen = {}
    for st in stats:
        seen.update(tools.client_brokers(st))
    assert seen == {1: krxd.node_address(1)}, \
        f"producer saw brokers {seen}"

    parts = list(range(PARTITIONS))
    direct = tools.read_partitions(kafka.bootstrap, topic, parts,
                                   conf={"fetch.message.max.bytes":
                                         2_000_000})
    proxied = tools.read_partitions(krxd.bootstrap, topic, parts,
                                    conf={"fetch.message.max.bytes":
                                          2_000_000})
    small = tools.read_partitions(krxd.bootstrap, topic, parts,
                                  conf={"fetch.max.bytes": 3000,
                                        "max.partition.fetch.bytes": 1500,
                                        "message.max.bytes": 3000})
    for q in parts:
        assert len(direct[q]) == len(sent[q])
        assert proxied[q] == direct[q], f"partition {q} differs via krxd"
        assert small[q] == direct[q], \
            f"partition {q} differs via krxd with small fetches"
        got = [(r[3], r[4], r[5], r[7]) for r in proxied[q]]
        want = [(k, v, norm_headers(h), ts) for k, v, h, ts in sent[q]]
        assert got == want, f"partition {q}: not what was produced"
        assert [r[2] for r in proxied[q]] == list(range(len(sent[q])))
    krxd.assert_served(kafka)
