"""Issue 9, findings 8 and 9: Produce fails closed, never in clear.

- Finding 9: with a selector template whose expansion for a long topic
  name is over 512 bytes, a raw Produce to that topic is answered
  INVALID_RECORD (87) and logged, and nothing is stored; before, the
  topic counted as "no KEK" and went up in clear (PASSTHROUGH). A short
  topic name without a KEK still passes through.
- Finding 8: a Produce v13 naming a topic by an id krxd has no name for
  is answered UNKNOWN_TOPIC_ID (100) for that topic's partitions (the
  client refreshes its metadata), and nothing is stored.
"""

import struct
import uuid

from confluent_kafka.admin import AdminClient

import enctest
import krxtest
import tools

UNKNOWN_TOPIC_ID = 100
LONG_PREFIX = "KEK-" + "x" * 300 + "-"


def uvarint(n):
    return bytes(enctest.put_uvarint(n))


def produce_v13(conn, topic_id, records):
    """Produce v13 (flexible, topics by id) of one partition 0; returns
    the partition's error code."""
    body = uvarint(0)                                 # transactional id
    body += struct.pack(">hi", -1, 30000)
    body += uvarint(2) + topic_id + uvarint(2)        # 1 topic, 1 part
    body += struct.pack(">i", 0) + uvarint(len(records) + 1) + records
    body += b"\x00\x00\x00"                           # tagged fields
    conn.corr += 1
    hdr = struct.pack(">hhi", 0, 13, conn.corr) + struct.pack(">h", 4) + \
        b"test" + b"\x00"
    conn.sock.sendall(struct.pack(">i", len(hdr) + len(body)) + hdr + body)
    (n,) = struct.unpack(">i", conn._recv(4))
    resp = conn._recv(n)
    corr, tags = struct.unpack_from(">ib", resp)
    assert corr == conn.corr and tags == 0
    pos = 5
    ntopics, pos = enctest.uvarint(resp, pos)
    assert ntopics == 2, f"{ntopics - 1} topics in the response"
    assert resp[pos:pos + 16] == topic_id
    nparts, pos = enctest.uvarint(resp, pos + 16)
    assert nparts == 2
    index, err = struct.unpack_from(">ih", resp, pos)
    assert index == 0
    return err


def has_leader(bootstrap, topic):
    md = AdminClient({"bootstrap.servers": bootstrap}).list_topics(
        topic, timeout=10)
    t = md.topics.get(topic)
    return t is not None and t.error is None and 0 in t.partitions and \
        t.partitions[0].leader >= 0


def test_issue9_produce_fail_closed(kafka, krxd_factory, topic_name):
    tmp = str(krxd_factory.tmp_path)
    extra, vc = enctest.enc_config(f"{tmp}/keks", f"{tmp}/dekcache",
                                   template=LONG_PREFIX + "$(topicName)")
    krxd = krxd_factory.make(extra=extra, vc_extra=vc)
    # A keystore must exist: a missing one is UNAVAILABLE, not "no KEK".
    enctest.kek(krxd, "create", "unused")
    long = (topic_name + "-" + "L" * 249)[:240]
    short = f"{topic_name}-s"
    assert len(LONG_PREFIX) + len(long) > 512
    assert len(LONG_PREFIX) + len(short) <= 512
    tools.create_topics(kafka.bootstrap, {long: 1, short: 1})

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    recs = [(b"k", b"secret value", ())]
    batch = enctest.encode_batch(recs)
    # Both topics have a leader before the test proper.
    for t in (long, short):
        krxtest.wait_for(lambda: has_leader(kafka.bootstrap, t), 30,
                         f"{t} has a leader")
    start = krxd.log_size()
    res = conn.produce({long: {0: batch}})
    assert res == {(long, 0): (enctest.INVALID_RECORD, -1)}, res
    krxd.wait_log(r"KEK alias from the selector template is over 512",
                  start=start)
    assert conn.produce({short: {0: batch}}) == {(short, 0): (0, 0)}

    # Produce v13, a topic id krxd never saw in a Metadata response.
    assert produce_v13(conn, uuid.uuid4().bytes, batch) == UNKNOWN_TOPIC_ID
    assert conn.produce({short: {0: batch}}) == {(short, 0): (0, 1)}
    conn.close()

    direct = enctest.read_topics(kafka.bootstrap, [long, short])
    assert direct[long][0] == [], "stored in clear"
    assert len(direct[short][0]) == 2
