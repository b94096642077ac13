"""unresolvedKeyPolicy: topics whose KEK does not exist.

PASSTHROUGH_UNENCRYPTED: a topic without a KEK is stored in clear, and
one Produce request (sent raw, so that it surely carries both) touching
an encrypted and an unencrypted topic succeeds for both: ciphertext for
the one with a KEK, the exact clear records for the other. Both read back
through krxd as produced.

REJECT: confluent-kafka's delivery report for a topic without a KEK
carries INVALID_RECORD (87); a raw Produce touching an encrypted and an
unencrypted topic gets 87 for every partition and writes nothing to
either; a topic with a KEK is still encrypted and stored.
"""

from confluent_kafka import KafkaError, Producer

import enctest
import tools


def produce(bootstrap, topic, recs, idempotent=True):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                  "enable.idempotence": idempotent, "log_level": 3,
                  "message.timeout.ms": 30000})
    errors = []
    for key, val, hdrs in recs:
        p.produce(topic, key=key, value=val, headers=list(hdrs),
                  partition=0, on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0, "undelivered"
    return errors


def records(tag, n):
    return [(f"{tag}-k{i}".encode(), f"{tag}-value-{i}".encode() * 3,
             (("tag", tag.encode()), ("i", str(i).encode())))
            for i in range(n)]


def raw_produce_both(krxd, enc_topic, clear_topic, recs):
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        batch = enctest.encode_batch(recs)
        return conn.produce({enc_topic: {0: batch}, clear_topic: {0: batch}})
    finally:
        conn.close()


def test_enc_policy_passthrough(kafka, krxd_factory, topic_name, enc_kms):
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms,
                            policy="PASSTHROUGH_UNENCRYPTED")
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 1, clear: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")

    plain = records("solo", 10)
    assert produce(krxd.bootstrap, clear, plain) == []
    both = records("both", 5)
    res = raw_produce_both(krxd, enc, clear, both)
    assert res == {(enc, 0): (0, 0), (clear, 0): (0, 10)}, \
        f"mixed Produce answered {res}"

    dec = enctest.decryptor(krxd)
    direct = enctest.read_topics(kafka.bootstrap, [enc, clear])
    assert len(direct[enc][0]) == len(both)
    for rec, (k, v, h) in zip(direct[enc][0], both):
        dec.check(rec, k, v, h, what=enc)
    assert len(direct[clear][0]) == len(plain) + len(both)
    for rec, (k, v, h) in zip(direct[clear][0], plain + both):
        enctest.assert_clear(rec, k, v, h, what=clear)

    via = enctest.read_topics(krxd.bootstrap, [enc, clear])
    assert [(r[3], r[4], r[5]) for r in via[enc][0]] == both
    assert [(r[3], r[4], r[5]) for r in via[clear][0]] == plain + both
    assert [r[7] for r in via[clear][0]] == [r[7] for r in direct[clear][0]]


def test_enc_policy_reject(kafka, krxd_factory, topic_name, enc_kms):
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms, policy="REJECT")
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 1, clear: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")

    errs = produce(krxd.bootstrap, clear, records("rej", 3),
                   idempotent=False)
    assert len(errs) == 3, f"delivery reports: {errs}"
    assert KafkaError.INVALID_RECORD == enctest.INVALID_RECORD
    for e in errs:
        assert e.code() == KafkaError.INVALID_RECORD, \
            f"delivery error {e} (want INVALID_RECORD)"

    res = raw_produce_both(krxd, enc, clear, records("both", 4))
    assert res == {(enc, 0): (enctest.INVALID_RECORD, -1),
                   (clear, 0): (enctest.INVALID_RECORD, -1)}, \
        f"mixed Produce answered {res}"

    ok = records("ok", 6)
    assert produce(krxd.bootstrap, enc, ok) == []
    wm = tools.watermarks(kafka.bootstrap, clear, [0])
    assert wm[0] == (0, 0), f"{clear} got records: {wm}"
    dec = enctest.decryptor(krxd)
    direct = enctest.read_topics(kafka.bootstrap, [enc])[enc][0]
    assert len(direct) == len(ok), "the rejected request wrote records"
    for rec, (k, v, h) in zip(direct, ok):
        dec.check(rec, k, v, h, what=enc)
    via = enctest.read_topics(krxd.bootstrap, [enc])[enc][0]
    assert [(r[3], r[4], r[5]) for r in via] == ok


def test_enc_policy_passthrough_kek_created(kafka, krxd_factory, topic_name):
    """PASSTHROUGH_UNENCRYPTED, then the operator creates the topic's
    KEK: the very next records are encrypted. The worker had cached
    "not found" for the name (for 30 s); kek create must clear it. One
    worker, so that both producers surely meet the same cache."""
    krxd = enctest.enc_krxd(krxd_factory, workers=1,
                            policy="PASSTHROUGH_UNENCRYPTED")
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    enctest.kek(krxd, "create", "KEK-another")    # the keystore exists
    before = records("before", 4)
    assert produce(krxd.bootstrap, topic_name, before) == []
    enctest.kek(krxd, "create", f"KEK-{topic_name}")
    after = records("after", 4)
    assert produce(krxd.bootstrap, topic_name, after) == []

    direct = enctest.read_topics(kafka.bootstrap, [topic_name])
    recs = direct[topic_name][0]
    assert len(recs) == len(before) + len(after)
    for rec, (k, v, h) in zip(recs, before):
        enctest.assert_clear(rec, k, v, h, what="before kek create")
    dec = enctest.decryptor(krxd)
    for rec, (k, v, h) in zip(recs[len(before):], after):
        dec.check(rec, k, v, h, what="after kek create")
