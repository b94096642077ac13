"""Issue 9, finding 1: a Produce batch's recordsCount is the client's.

Through an encrypting krxd (one worker), raw Produce v7 requests carry
RecordBatches with a correct CRC-32C but a record count that lies:
2^31-1 and -1 (alone, and as 20 batches in one partition), 2^31-1 in a
gzip batch, one more than the records there, and -1 on a passthrough
topic (no KEK). Each request also carries a good partition. Every lying
partition is answered within 5 s as the broker answers such a batch,
INVALID_RECORD (87) (a batch with a bad CRC: CORRUPT_MESSAGE (2)), while
the good partition of the same request gets the retriable
REQUEST_TIMED_OUT (7) and nothing of it is stored; keysvc's GENERATE
count does not move for them; the connection stays usable (a good
Produce on it afterwards is stored), no worker restarted, and a normal
confluent-kafka round trip through krxd works afterwards.
"""

import struct
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

import enctest
import keytest
import krxtest
import tools

CORRUPT_MESSAGE = 2
REQUEST_TIMED_OUT = 7


def lying(batch, count):
    """batch (one RecordBatch v2) with its recordsCount set to count and
    the CRC-32C made right again."""
    b = bytearray(batch)
    struct.pack_into(">i", b, 57, count)
    struct.pack_into(">I", b, 17, enctest.crc32c(bytes(b[21:])))
    return bytes(b)


def recs(tag, n):
    return [(f"{tag}-k{i}".encode(), f"{tag}-value-{i:04d}".encode() * 4,
             (("i", str(i).encode()),)) for i in range(n)]


def has_leaders(bootstrap, topic, n):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(
        topic, timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None and \
        all(p in t.partitions and t.partitions[p].leader >= 0
            for p in range(n))


def test_issue9_produce_counts(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 2, clear: 2})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    workers = krxd.worker_pids()

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    # The pool gets its DEK first (the verified endless loop needed one).
    good = enctest.encode_batch(recs("first", 3))
    for t in (enc, clear):
        krxtest.wait_for(lambda: has_leaders(kafka.bootstrap, t, 2), 30,
                         f"{t} has leaders")
    assert conn.produce({enc: {1: good}}) == {(enc, 1): (0, 0)}
    gen0 = keytest.cache_stats(krxd)["keysvc.generate_requests"]

    three = enctest.encode_batch(recs("lie", 3))
    cases = {
        "count 2^31-1": (enc, lying(three, 2**31 - 1)),
        "count -1": (enc, lying(three, -1)),
        "20 batches of 2^31-1": (enc, lying(three, 2**31 - 1) * 20),
        "20 batches of -1": (enc, lying(three, -1) * 20),
        "gzip, count 2^31-1": (enc, lying(enctest.encode_batch(
            recs("gz", 3), codec=1), 2**31 - 1)),
        "count + 1": (enc, lying(three, 4)),
        "count - 1": (enc, lying(three, 2)),
        "passthrough, count -1": (clear, lying(three, -1)),
        "passthrough, count 2^31-1": (clear, lying(three, 2**31 - 1)),
    }
    bad_crc = bytearray(three)
    bad_crc[-1] ^= 1
    for what, (topic, bad) in list(cases.items()) + [
            ("bad CRC", (enc, bytes(bad_crc)))]:
        want = CORRUPT_MESSAGE if what == "bad CRC" else \
            enctest.INVALID_RECORD
        t0 = time.monotonic()
        res = conn.produce({topic: {0: bad, 1: good}})
        took = time.monotonic() - t0
        assert took < 5, f"{what}: answered after {took:.1f} s"
        assert res == {(topic, 0): (want, -1),
                       (topic, 1): (REQUEST_TIMED_OUT, -1)}, \
            f"{what}: answered {res}"

    gen1 = keytest.cache_stats(krxd)["keysvc.generate_requests"]
    assert gen1 - gen0 <= 1, f"lying counts made {gen1 - gen0} GENERATEs"

    # The same connection goes on; the good partition was not stored.
    assert conn.produce({enc: {1: good}}) == {(enc, 1): (0, 3)}
    conn.close()
    assert krxd.worker_pids() == workers
    assert all(w["restarts"] == 0 for w in krxd.workers_status())

    p = Producer({"bootstrap.servers": krxd.bootstrap, "linger.ms": 5,
                  "log_level": 3})
    errors = []
    after = recs("after", 20)
    for k, v, h in after:
        p.produce(enc, key=k, value=v, headers=list(h), partition=0,
                  on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0 and not errors, f"{errors[:3]}"
    via = enctest.read_topics(krxd.bootstrap, [enc, clear])
    assert [(r[3], r[4], r[5]) for r in via[enc][0]] == after
    assert [(r[3], r[4]) for r in via[enc][1]] == \
        [(k, v) for k, v, _ in recs("first", 3) * 2]
    assert via[clear] == {0: [], 1: []}
    dec = enctest.Decryptor(krxd.keystore)
    direct = enctest.read_topics(kafka.bootstrap, [enc])[enc][0]
    for rec, (k, v, h) in zip(direct, after):
        dec.check(rec, k, v, h, what=enc)


def test_issue9_produce_resolve_cap(kafka, krxd_factory, topic_name):
    """Distinct topic names in one Produce each cost keysvc a RESOLVE:
    a request resolves at most 1000 of them; past that its topics fail
    with the retriable REQUEST_TIMED_OUT (so does the request, nothing
    forwarded), and the connection stays usable."""
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    # A keystore must exist: a missing one is UNAVAILABLE, not "no KEK".
    enctest.kek(krxd, "create", "unused")
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    batch = enctest.encode_batch(recs("r", 1))
    res0 = keytest.cache_stats(krxd)["keysvc.resolve_requests"]
    names = [f"{topic_name}-nokek-{i:04d}" for i in range(1200)]
    res = conn.produce({t: {0: batch} for t in names})
    assert len(res) == len(names)
    assert set(res.values()) == {(REQUEST_TIMED_OUT, -1)}, \
        f"answers {set(res.values())}"
    res1 = keytest.cache_stats(krxd)["keysvc.resolve_requests"]
    assert 0 < res1 - res0 <= 1000, f"{res1 - res0} RESOLVEs"
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    krxtest.wait_for(lambda: has_leaders(kafka.bootstrap, topic_name, 1),
                     30, f"{topic_name} has a leader")
    assert conn.produce({topic_name: {0: batch}}) == {(topic_name, 0): (0, 0)}
    conn.close()
