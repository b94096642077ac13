"""Issue 9, finding 6 (fetch part): a tombstone carrying the encryption
header is read as a tombstone.

Records are produced through krxd to an encrypted topic; then, straight
at the broker, a tombstone (null value) with the header
kroxylicious.io/encryption = 0x02 (and one with an unknown version byte,
in a gzip batch) is appended; then more records through krxd. Read
through krxd (confluent-kafka, and a raw Fetch), every record is
readable: the values decrypted, the tombstones null with their headers
as the broker holds them (krxd never encrypts a null value, so there is
nothing to decrypt and nothing to strip). Before the fix the partition
answered CORRUPT_MESSAGE for good: every consumer of it was stuck.
"""

import enctest
import tools
from confluent_kafka import Producer


def produce(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for v in values:
        p.produce(topic, key=b"k", value=v, partition=0)
    assert p.flush(30) == 0


def test_issue9_fetch_tombstone(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    topic = f"{topic_name}-enc"
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    produce(krxd.bootstrap, topic, [b"before-0", b"before-1"])

    marked = ((enctest.ENC_HEADER, b"\x02"),)
    odd = ((enctest.ENC_HEADER, b"\x07"), ("x", b"y"))
    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    res = dconn.produce({topic: {0: enctest.encode_batch(
        [(b"t1", None, marked)])}})
    assert res[(topic, 0)] == (0, 2), res
    res = dconn.produce({topic: {0: enctest.encode_batch(
        [(b"t2", None, odd)], codec=1)}})
    assert res[(topic, 0)] == (0, 3), res
    dconn.close()
    produce(krxd.bootstrap, topic, [b"after-0", b"after-1"])

    # The values are encrypted at the broker, the tombstones are not.
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    assert [r[4] is None for r in direct] == \
        [False, False, True, True, False, False]
    assert direct[0][4] != b"before-0"

    via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
    assert [(r[2], r[3], r[4]) for r in via] == [
        (0, b"k", b"before-0"), (1, b"k", b"before-1"), (2, b"t1", None),
        (3, b"t2", None), (4, b"k", b"after-0"), (5, b"k", b"after-1")]
    assert via[2][5] == marked
    assert via[3][5] == odd
    assert via[0][5] is None and via[5][5] is None

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        _, res = conn.fetch({topic: {0: 0}})
    finally:
        conn.close()
    r = res[(topic, 0)]
    assert r["error"] == 0, r
    vals = [rec["value"] for b in enctest.decode_batches(r["records"])
            for rec in b["records"]]
    assert vals == [b"before-0", b"before-1", None, None, b"after-0",
                    b"after-1"]
    assert "cannot decrypt" not in krxd.log_text()
