"""Issue 9, finding 6: clients cannot plant the encryption header.

A tombstone carrying `kroxylicious.io/encryption: 0x02`, produced with
confluent-kafka through an encrypting krxd into an encrypted topic, is
refused with INVALID_RECORD (87) and never reaches the broker; so is a
value carrying the header (second position), and the same records on a
passthrough topic (no KEK) of that cluster. Records produced before and
after, in separate requests, are stored, and a consumer through krxd reads
each whole partition without an error (the poison pill would stop it).
At the broker no record carries the header but krxd's own ciphertexts.
"""

from confluent_kafka import KafkaError, Producer

import enctest
import tools

HDR = enctest.ENC_HEADER


def produce_one(bootstrap, topic, key, value, headers):
    """One record in its own request; its delivery error or None."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                  "log_level": 3, "message.timeout.ms": 30000})
    out = []
    p.produce(topic, key=key, value=value, headers=headers, partition=0,
              on_delivery=lambda e, m: out.append(e))
    assert p.flush(60) == 0, "undelivered"
    return out[0]


def test_issue9_produce_enc_header(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 1, clear: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")

    poison = [
        (b"t", None, [(HDR, b"\x02")]),                 # the poison pill
        (b"t", None, [("a", b"b"), (HDR, b"\x02")]),
        (b"v", b"plain", [("a", b"b"), (HDR, b"\x02")]),
        (b"w", b"plain", [(HDR, None)]),
    ]
    for topic in (enc, clear):
        stored = []
        for i, (k, v, h) in enumerate(poison):
            before = (f"k{i}".encode(), f"before-{i}".encode(),
                      [("n", str(i).encode())])
            assert produce_one(krxd.bootstrap, topic, *before) is None
            stored.append(before)
            err = produce_one(krxd.bootstrap, topic, k, v, h)
            assert err is not None and \
                err.code() == KafkaError.INVALID_RECORD, \
                f"{topic}: {k!r}/{v!r}/{h!r} answered {err}"
        after = (b"last", None, [("n", b"after")])      # a tombstone
        assert produce_one(krxd.bootstrap, topic, *after) is None
        stored.append(after)

        via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
        assert [(r[3], r[4], list(r[5] or ())) for r in via] == \
            [(k, v, h) for k, v, h in stored], f"{topic} via krxd"
        direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
        assert len(direct) == len(stored)
        for r in direct:
            hdrs = list(r[5] or ())
            marked = [x for x in hdrs if x[0] == HDR]
            if topic == clear or r[4] is None:
                assert not marked, f"{topic}@{r[2]} carries {marked}"
            else:
                assert hdrs[0] == (HDR, b"\x02") and len(marked) == 1
