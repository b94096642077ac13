"""Batch splitting under a small topic limit, and a record too large.

A topic with max.message.bytes = 65536 and 2 partitions. Through an
encrypting krxd (default splitCompression), confluent-kafka producers
(idempotent, batch.size 204800, linger.ms 1000) send 1,000 records of
1 KiB random values to partition 0 uncompressed and 1,000 to partition
1 with lz4: client batches of ~200 KiB that must be split into pieces
of at most 64 KiB once encrypted. Then one 70 KiB record (the
producer's message.max.bytes raised so librdkafka sends it) must fail
with MESSAGE_TOO_LARGE: a single record cannot be split.

Checked: no delivery error for the 2,000 records, all acknowledged in
order; at the broker (raw Fetch) every stored batch is at most 65,536
bytes, the lz4 partition's batches are still lz4, sequence numbers run
from 0 without gap or overlap, and there are exactly the 2,000 records
(the 70 KiB one is not stored), each encrypted and decrypted by the
test's own code to what was sent; through krxd all come back once, in
order; krx-ctl cache stats counts split batches, in enough pieces.
"""

import random

from confluent_kafka import KafkaError

import enctest
import keytest
import splittest
import tools

LIMIT = 65536
N = 1000
VALUE = 1024
RUNS = {0: "none", 1: "lz4"}          # partition: client codec


def test_split_small_limit(kafka, krxd_factory, topic_name):
    krxd = splittest.split_krxd(krxd_factory)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: len(RUNS)},
                        config={"max.message.bytes": str(LIMIT)})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    rnd = random.Random(4)

    want = {}
    for q, codec in RUNS.items():
        want[q] = [(b"%s-%05d" % (codec.encode(), i), rnd.randbytes(VALUE))
                   for i in range(N)]
        dr = splittest.Deliveries()
        with splittest.producer({"bootstrap.servers": krxd.bootstrap,
                                 "enable.idempotence": True, "acks": "all",
                                 "batch.size": 204800, "linger.ms": 1000,
                                 "compression.type": codec,
                                 "log_level": 3}) as p:
            splittest.produce(p, topic, {q: want[q]}, dr)
            left = p.flush(90)
        assert left == 0, f"{codec}: {left} undelivered; " + \
            dr.error_summary()
        dr.assert_clean({q: want[q]})
    split, pieces = splittest.assert_split(krxd, "max.message.bytes 65536")
    # ~200 KiB client batches, ~230 KiB encrypted: 4 or more pieces each
    assert pieces >= 4 * split, f"{split} batches split into {pieces} pieces"
    # The limit came from DescribeConfigs, not from the broker refusing a
    # batch (the fallback, test_split_fallback.py).
    st = keytest.cache_stats(krxd)
    assert st.get("workers.topic_limit_lookups", 0) >= 1, st
    assert "refused an encrypted batch" not in krxd.log_text()

    # One record too large on its own.
    dr = splittest.Deliveries()
    big = rnd.randbytes(70 * 1024)
    with splittest.producer({"bootstrap.servers": krxd.bootstrap,
                             "acks": "all", "message.max.bytes": 2_000_000,
                             "linger.ms": 0, "compression.type": "none",
                             "log_level": 3}) as p:
        p.produce(topic, key=b"big", value=big, partition=0,
                  on_delivery=dr)
        left = p.flush(60)
    assert left == 0, "the 70 KiB record got no delivery report"
    assert dr.count() == 0 and len(dr.errors) == 1, \
        f"70 KiB record: delivered {dr.ok}, errors {dr.error_summary()}"
    err = dr.errors[0][0]
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE, \
        f"70 KiB record: {err} (want MSG_SIZE_TOO_LARGE)"

    # At the broker: batches within the limit, every record encrypted.
    batches = splittest.stored_batches(kafka.host, kafka.port, topic, RUNS)
    for q, codec in RUNS.items():
        bs = batches[q]
        what = f"{topic}[{q}] ({codec})"
        sizes = [len(b["raw"]) for b in bs]
        assert max(sizes) <= LIMIT, f"{what}: batch sizes {sizes}"
        assert sum(b["count"] for b in bs) == N, what
        assert len(bs) >= N * VALUE // LIMIT, \
            f"{what}: {len(bs)} batches for {N} KiB"
        codecs = {b["attributes"] & 7 for b in bs}
        if codec == "none":
            assert codecs <= {0, splittest.CODECS["zstd"]}, (what, codecs)
        else:
            assert codecs == {splittest.CODECS[codec]}, (what, codecs)
        splittest.check_sequences(bs, what=what)
    splittest.check_stored(kafka.bootstrap, topic, want, krxd.keystore)

    splittest.check_via_krxd(krxd.bootstrap, topic, want)
