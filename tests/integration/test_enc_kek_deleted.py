"""A deleted KEK: RESOURCE_NOT_FOUND on fetch, connection kept.

Records are produced through krxd to a topic with a KEK (and to a topic
without one, in clear); then `krx-ctl kek delete` removes the KEK and
krxd is restarted (same keystore and DEK cache paths, so no DEK is held
in memory any more). Through the new krxd:
- a confluent-kafka consumer of the encrypted partition gets the consumer
  error RESOURCE_NOT_FOUND (91) and never a record;
- a raw Fetch of both partitions answers 91 with no records for the
  encrypted one and the clear partition's records byte for byte as the
  broker has them; the same connection then answers ApiVersions and a
  second Fetch (the connection stays open);
- krxd's log names the topic-partition and the KEK, and has no closed
  connection warning.
"""

import re

from confluent_kafka import Producer

import enctest
import tools


def test_enc_kek_deleted(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 1, clear: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    for i in range(20):
        p.produce(enc, key=b"k", value=f"secret-{i}".encode(), partition=0)
        p.produce(clear, key=b"k", value=f"open-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    del p                       # no reconnects to the stopped krxd
    # readable before the delete
    via = enctest.read_topics(krxd.bootstrap, [enc])[enc][0]
    assert [r[4] for r in via] == [f"secret-{i}".encode() for i in range(20)]

    assert "delete done" in enctest.kek(krxd, "delete", f"KEK-{enc}")
    krxd.stop()
    krxd = enctest.enc_krxd(krxd_factory)           # the restart

    # confluent-kafka: consumer error 91, no records
    errors, msgs = enctest.consume_until_error(krxd.bootstrap, enc,
                                               log_level=3)
    got = [m.value() for m in msgs]
    assert not got, f"records of a deleted KEK were delivered: {got[:3]}"
    assert errors, "no consumer error within 30 s"
    assert errors[0].code() == enctest.RESOURCE_NOT_FOUND, \
        f"consumer error {errors[0]} (want RESOURCE_NOT_FOUND)"

    # raw Fetch: per-partition error, other partition intact, conn open
    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    _, want = dconn.fetch({clear: {0: 0}})
    dconn.close()
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        for _ in range(2):
            _, res = conn.fetch({enc: {0: 0}, clear: {0: 0}})
            assert res[(enc, 0)]["error"] == enctest.RESOURCE_NOT_FOUND, res
            assert not res[(enc, 0)]["records"], \
                "records of the failed partition were not removed"
            assert res[(clear, 0)]["error"] == 0
            assert res[(clear, 0)]["records"] == want[(clear, 0)]["records"]
            err, apis = conn.api_versions()
            assert err == 0 and 1 in apis
    finally:
        conn.close()

    log = krxd.log_text()
    assert re.search(rf"{re.escape(enc)}-0 \(KEK KEK-{re.escape(enc)} "
                     r"version 1\).*KEK not found", log), \
        f"krxd log does not name {enc}-0 and its KEK:\n{log[-3000:]}"
    closed = re.findall(r".*broker=\S+: closing connection.*", log)
    assert not closed, f"krxd closed connections: {closed}"
