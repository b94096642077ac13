"""Batch splitting with a librdkafka producer at its defaults.

confluent-kafka's Producer with its default batching (linger.ms 5,
batch.num.messages 10,000, batch.size 1,000,000; only
enable.idempotence and acks=all set) sends 50,000 records of 7-byte
values with distinct 8-byte keys over 3 partitions through an
encrypting krxd. Directly at the broker a batch of 10,000 such records
is some 230 KB, but encrypted (a wrapper of ~150 bytes and the
encryption header per record) it is near 2 MB, beyond the broker's
message.max.bytes (1,048,588): krxd must split it (or compress and
split it) into pieces the broker accepts.

Checked: no delivery error and every record acknowledged at offsets
0.. in produce order; through krxd every record comes back exactly once,
decrypted, in produce order per partition; at the broker exactly 50,000
records, each encrypted (encryption header, value not in clear, all of
them decrypted by the test's own code), no batch over the broker's
limit, one producer id whose sequence numbers run from 0 without gap or
overlap; krx-ctl cache stats counts split batches.

Run twice: with splitCompression = "none" (pieces are only split: the
batches_split counter must be positive), and with krxd's default
(zstd: krxd may compress the uncompressed client batches before
splitting, so either batches were split or the broker holds zstd
batches the client did not send).
"""

import struct

import pytest

import enctest
import splittest
import tools

N = 50_000
PARTITIONS = 3


def records():
    """{partition: [(key, value)]}: record i goes to partition i % 3."""
    want = {q: [] for q in range(PARTITIONS)}
    for i in range(N):
        want[i % PARTITIONS].append((struct.pack(">Q", i),
                                     b"v%06d" % (i % 1_000_000)))
    return want


@pytest.mark.parametrize("split_compression", ["none", None],
                         ids=["none", "default"])
def test_split_confluent(kafka, krxd_factory, topic_name, split_compression):
    krxd = splittest.split_krxd(krxd_factory,
                                split_compression=split_compression)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    want = records()
    assert all(len(v) == 7 for r in want.values() for _, v in r)
    dr = splittest.Deliveries()
    with splittest.producer({"bootstrap.servers": krxd.bootstrap,
                             "enable.idempotence": True, "acks": "all",
                             "log_level": 3}) as p:
        splittest.produce(p, topic, want, dr)
        left = p.flush(90)
    assert left == 0, f"{left} records undelivered; " + dr.error_summary()
    dr.assert_clean(want)
    assert dr.count() == N

    # At the broker: every record, encrypted; batches within its limit.
    batches = splittest.stored_batches(kafka.host, kafka.port, topic,
                                       range(PARTITIONS))
    codecs = set()
    for q, bs in batches.items():
        assert sum(b["count"] for b in bs) == len(want[q])
        splittest.check_sequences(bs, what=f"{topic}[{q}]")
        for b in bs:
            assert len(b["raw"]) <= splittest.BROKER_MESSAGE_MAX_BYTES
            codecs.add(b["attributes"] & 7)
    splittest.check_stored(kafka.bootstrap, topic, want, krxd.keystore)

    # Through krxd: each record once, decrypted, in produce order.
    splittest.check_via_krxd(krxd.bootstrap, topic, want)

    split, pieces = splittest.split_counters(krxd)
    if split_compression == "none":
        splittest.assert_split(krxd, "splitCompression none")
        assert codecs == {0}, f"codecs at the broker: {codecs}"
    else:
        assert codecs <= {0, splittest.CODECS["zstd"]}, codecs
        assert split > 0 or splittest.CODECS["zstd"] in codecs, \
            f"neither split ({split}, {pieces} pieces) nor compressed " \
            f"(codecs {codecs}) yet accepted by the broker"
