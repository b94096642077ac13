"""Issue 9 (finding 15's fix): requireEncryption = true makes Fetch
refuse records in clear on a topic whose KEK resolves.

An encrypted topic (two partitions) gets records through krxd; straight
at the broker, a record in clear (no encryption header) is appended to
partition 0 and a plain tombstone to partition 1. A topic without a KEK
gets clear records through krxd.

- Without requireEncryption (the default), krxd hands out the planted
  clear record like any other (what Kroxylicious does too).
- With requireEncryption = true (same keystore), partition 0 answers
  CORRUPT_MESSAGE (2) with no records on every raw Fetch and gives a
  confluent-kafka consumer an error, with a log line naming the
  partition and the offset; partition 1 (encrypted records and a
  tombstone) and the topic without a KEK read as usual.
- Fails closed: a raw Fetch v13 naming the topic by its id, sent before
  any Metadata response taught the new krxd that id, answers
  UNKNOWN_TOPIC_ID (100) for partition 0 (clear records, topic unknown)
  while partition 1 (nothing in clear) is decrypted.
"""

import os
import re
import struct
import time

from confluent_kafka import Consumer, OFFSET_BEGINNING, Producer, \
    TopicCollection, TopicPartition

import enctest
import tools

CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_ID = 100


def topic_id(bootstrap, topic):
    """The topic's id (16 bytes), asked of bootstrap."""
    a = tools.admin(bootstrap)
    fs = a.describe_topics(TopicCollection([topic]))
    u = fs[topic].result(30).topic_id
    del a
    return struct.pack(">qq", u.get_most_significant_bits(),
                       u.get_least_significant_bits())


def fetch_v13(krxd, tid, parts):
    """Fetch v13 (topics by id) of partitions {p: offset} of topic id
    tid through krxd: {p: (error, values)}."""
    body = struct.pack(">iiiibii", -1, 500, 1, 50_000_000, 0, 0, -1)
    body += enctest.put_uvarint(2) + tid + enctest.put_uvarint(len(parts) + 1)
    for p, off in parts.items():
        body += struct.pack(">iiqiqi", p, -1, off, -1, -1, 10_000_000)
        body += b"\x00"                             # partition tags
    body += b"\x00"                                 # topic tags
    body += enctest.put_uvarint(1)                  # no forgotten topics
    body += enctest.put_uvarint(1)                  # rack id ""
    body += b"\x00"                                 # request tags
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        conn.corr += 1
        hdr = struct.pack(">hhih", 1, 13, conn.corr, 4) + b"krxt" + b"\x00"
        msg = hdr + body
        conn.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (n,) = struct.unpack(">i", conn._recv(4))
        raw = conn._recv(n)
    finally:
        conn.close()
    (corr,) = struct.unpack_from(">i", raw)
    assert corr == conn.corr
    pos = 4 + 1                                     # header tags
    _thr, err, _sess = struct.unpack_from(">ihi", raw, pos)
    assert err == 0, f"Fetch v13 error {err}"
    pos += 10
    out = {}
    nt, pos = enctest.uvarint(raw, pos)
    for _ in range(nt - 1):
        assert raw[pos:pos + 16] == tid
        pos += 16
        np_, pos = enctest.uvarint(raw, pos)
        for _ in range(np_ - 1):
            p, perr = struct.unpack_from(">ih", raw, pos)
            pos += 4 + 2 + 8 + 8 + 8
            na, pos = enctest.uvarint(raw, pos)
            for _ in range(max(na - 1, 0)):
                pos += 16 + 1
            pos += 4                                # preferred replica
            rl, pos = enctest.uvarint(raw, pos)
            recs = raw[pos:pos + rl - 1] if rl > 0 else b""
            pos += max(rl - 1, 0)
            ntag, pos = enctest.uvarint(raw, pos)
            assert ntag == 0
            out[p] = (perr, [r["value"] for b in enctest.decode_batches(
                recs) for r in b["records"]])
        ntag, pos = enctest.uvarint(raw, pos)
        assert ntag == 0
    return out


def require_krxd(factory):
    tmp = str(factory.tmp_path)
    keystore = os.path.join(tmp, "keks")
    extra, vc = enctest.enc_config(keystore, os.path.join(tmp, "dekcache"))
    vc = vc.replace("      unresolvedKeyPolicy",
                    "      requireEncryption = true;\n"
                    "      unresolvedKeyPolicy")
    assert "requireEncryption = true" in vc
    k = factory.make(start=False, extra=extra, vc_extra=vc)
    k.keystore = keystore
    k.start()
    return k


def fetch_values(krxd, topic_parts):
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        _, res = conn.fetch(topic_parts)
        err, _ = conn.api_versions()
        assert err == 0, "connection not usable after the Fetch"
    finally:
        conn.close()
    out = {}
    for tp, r in res.items():
        out[tp] = (r["error"], [rec["value"] for b in enctest.decode_batches(
            r["records"] or b"") for rec in b["records"]])
    return out


def test_issue9_fetch_require(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    enc, plain = f"{topic_name}-enc", f"{topic_name}-plain"
    tools.create_topics(kafka.bootstrap, {enc: 2, plain: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    for part in range(2):
        for i in range(2):
            p.produce(enc, value=f"e{part}-{i}".encode(), partition=part)
    for i in range(3):
        p.produce(plain, value=f"open-{i}".encode(), partition=0)
    assert p.flush(30) == 0
    del p
    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    res = dconn.produce({enc: {
        0: enctest.encode_batch([(b"k", b"planted in clear", ())]),
        1: enctest.encode_batch([(b"k", None, ())])}})
    dconn.close()
    assert res[(enc, 0)] == (0, 2) and res[(enc, 1)] == (0, 2), res

    want_p1 = (0, [b"e1-0", b"e1-1", None])
    want_plain = (0, [f"open-{i}".encode() for i in range(3)])
    parts = {enc: {0: 0, 1: 0}, plain: {0: 0}}

    # Default: the clear record is handed out.
    got = fetch_values(krxd, parts)
    assert got[(enc, 0)] == (0, [b"e0-0", b"e0-1", b"planted in clear"])
    assert got[(enc, 1)] == want_p1
    assert got[(plain, 0)] == want_plain
    krxd.stop()

    krxd = require_krxd(krxd_factory)
    start = krxd.log_size()
    # Nothing has asked this krxd for Metadata yet: the id is unknown.
    got = fetch_v13(krxd, topic_id(kafka.bootstrap, enc), {0: 0, 1: 0})
    assert got[0] == (UNKNOWN_TOPIC_ID, []), got
    assert got[1] == want_p1, got
    for _ in range(3):
        got = fetch_values(krxd, parts)
        assert got[(enc, 0)] == (CORRUPT_MESSAGE, []), got
        assert got[(enc, 1)] == want_p1
        assert got[(plain, 0)] == want_plain
    krxd.wait_log(rf"refusing records of {re.escape(enc)}-0 \(offset 2\): "
                  r"requireEncryption: a record without encryption on a "
                  r"topic with a KEK; answering error 2", start=start)

    # A real client (its Fetch version may name topics by id).
    c = Consumer({"bootstrap.servers": krxd.bootstrap, "group.id": "g",
                  "enable.auto.commit": False, "log_level": 0})
    errors, got = [], []
    try:
        c.assign([TopicPartition(enc, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
            else:
                got.append(m.value())
    finally:
        c.close()
    assert errors, "the consumer saw no error within 30 s"
    assert b"planted in clear" not in got
    via = enctest.read_topics(krxd.bootstrap, [plain])[plain][0]
    assert [r[4] for r in via] == want_plain[1]
    krxd.assert_running()
