"""Issue 9, finding 2: a record whose wrapper carries an oversize EDEK
fails only its partition's fetch, never krxd.

An encrypted topic with four partitions gets records produced through
krxd on each; then, straight at the broker (not through krxd), one
record with the encryption header and a wrapper whose EDEK is 5,000
bytes is appended to partition 0, one with a 70,000-byte EDEK to
partition 1, and one with a 100-byte EDEK of garbage (which the key
service answers INVALID) to partition 2. Through krxd, ten raw Fetches
of all four partitions each answer CORRUPT_MESSAGE (2) with no records
for partitions 0 to 2 and the decrypted records of partition 3; a
confluent-kafka consumer of
partition 0 gets a consumer error and no record of it. Afterwards the
workers and the key service have the pids they had before (before the
fix, keysvc flagged the worker, the master killed it on every fetch and
gave up after five), the master runs, the log has no "giving up" and
names the partitions, the offsets and why.
"""

import re
import time

from confluent_kafka import Consumer, OFFSET_BEGINNING, Producer, \
    TopicPartition

import enctest
import tools

CORRUPT_MESSAGE = 2


def bogus_wrapper(edek_len):
    """A wrapper v2 value with an EDEK of edek_len bytes."""
    return (b"\x00" + enctest.put_uvarint(edek_len) + b"\xab" * edek_len +
            b"\x00" + b"\x01" * 12 + b"\x02" * 40)


def test_issue9_fetch_edek(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    topic = f"{topic_name}-enc"
    tools.create_topics(kafka.bootstrap, {topic: 4})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    for part in range(4):
        for i in range(5):
            p.produce(topic, key=b"k", value=f"v{part}-{i}".encode(),
                      partition=part)
    assert p.flush(30) == 0
    del p

    # Plant the bad records at the broker.
    hdr = [(enctest.ENC_HEADER, b"\x02")]
    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    res = dconn.produce({topic: {
        0: enctest.encode_batch([(b"bad", bogus_wrapper(5000), hdr)]),
        1: enctest.encode_batch([(b"bad", bogus_wrapper(70000), hdr)]),
        2: enctest.encode_batch([(b"bad", bogus_wrapper(100), hdr)]),
    }})
    dconn.close()
    assert res[(topic, 0)] == (0, 5), res
    assert res[(topic, 1)] == (0, 5), res
    assert res[(topic, 2)] == (0, 5), res

    workers = sorted(krxd.worker_pids())
    keysvc = enctest.keysvc_pid(krxd)
    start = krxd.log_size()

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        for attempt in range(10):
            _, res = conn.fetch({topic: {0: 0, 1: 0, 2: 0, 3: 0}})
            for part in (0, 1, 2):
                r = res[(topic, part)]
                assert r["error"] == CORRUPT_MESSAGE, \
                    f"attempt {attempt}: {topic}-{part}: {r}"
                assert not r["records"], "records of a failed partition"
            r = res[(topic, 3)]
            assert r["error"] == 0, f"attempt {attempt}: {r}"
            vals = [rec["value"] for b in enctest.decode_batches(
                r["records"]) for rec in b["records"]]
            assert vals == [f"v3-{i}".encode() for i in range(5)]
            err, _ = conn.api_versions()
            assert err == 0
    finally:
        conn.close()

    # A real client: an error for partition 0, never a record of it.
    c = Consumer({"bootstrap.servers": krxd.bootstrap, "group.id": "g",
                  "enable.auto.commit": False, "log_level": 0})
    errors, got = [], []
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
            else:
                got.append(m.offset())
    finally:
        c.close()
    assert errors, "the consumer saw no error within 30 s"
    assert not [o for o in got if o >= 5], f"records past 5: {got}"

    krxd.assert_running()
    assert sorted(krxd.worker_pids()) == workers, "a worker was replaced"
    assert enctest.keysvc_pid(krxd) == keysvc, "keysvc was replaced"
    log = krxd.log_text()
    assert "giving up" not in log
    assert "violation" not in log[start:], log[start:][-3000:]
    for part in (0, 1):
        assert re.search(
            rf"cannot decrypt records of {re.escape(topic)}-{part} .*an "
            r"EDEK over 4096 bytes.*answering error 2 .*\(offset 5\)",
            log[start:]), f"no log line for {topic}-{part}:\n" \
            f"{log[start:][-3000:]}"
    assert re.search(
        rf"cannot decrypt records of {re.escape(topic)}-2 .*the key "
        r"service found the EDEK invalid; answering error 2 .*\(offset 5\)",
        log[start:]), f"no log line for {topic}-2:\n{log[start:][-3000:]}"
