"""KEK rotation: old and new records both decrypt.

krxd runs with short DEK lifetimes (encryptionDekRefreshAfterWriteSeconds
= 1, encryptionDekExpireAfterWriteSeconds = 2). Records produced before
`krx-ctl kek rotate` carry EDEKs wrapped by KEK version 1; records are
then produced until one with a version 2 EDEK reaches the broker (bounded
wait), and a last chunk after the old DEKs have expired is all version
2. Through krxd every record, old and new, decrypts to what was sent, in
order; the test's own code decrypts them too with the two keystore
versions.
"""

import time

from confluent_kafka import Producer

import enctest
import tools

WAIT = 30


def test_enc_rotation(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, experimental={
        "encryptionDekRefreshAfterWriteSeconds": 1,
        "encryptionDekExpireAfterWriteSeconds": 2})
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    p = Producer({"bootstrap.servers": krxd.bootstrap, "linger.ms": 5,
                  "enable.idempotence": True, "log_level": 3})
    sent = []
    errors = []

    def send(n, tag):
        for _ in range(n):
            i = len(sent)
            k, v = f"k{i}".encode(), f"{tag}-{i}".encode()
            p.produce(topic, key=k, value=v, partition=0,
                      on_delivery=lambda e, m: e and errors.append(e))
            sent.append((k, v))
        assert p.flush(30) == 0 and not errors, errors[:3]

    dec = enctest.Decryptor(krxd.keystore)

    def versions():
        recs = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
        return [dec.check(r, k, v, None, what=topic)["version"]
                for r, (k, v) in zip(recs, sent)]

    send(40, "before")
    assert set(versions()) == {1}
    assert "rotate done" in enctest.kek(krxd, "rotate", f"KEK-{topic}")
    rotated = len(sent)

    deadline = time.monotonic() + WAIT
    while True:
        send(5, "during")
        vs = versions()
        if vs[-1] == 2:
            break
        assert time.monotonic() < deadline, \
            f"no version 2 EDEK within {WAIT}s of kek rotate: {vs[-20:]}"
        time.sleep(0.3)
    time.sleep(2.5)             # every version 1 DEK has expired now
    send(40, "after")

    vs = versions()
    assert len(vs) == len(sent)
    assert set(vs[:rotated]) == {1}
    assert set(vs) == {1, 2}
    assert set(vs[-40:]) == {2}, "records after expiry still use version 1"
    first2 = vs.index(2)
    assert all(v == 2 for v in vs[first2:]), \
        f"version 1 EDEKs after version 2 ones: {vs[first2:]}"

    via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
    assert [(r[2], r[3], r[4], r[5]) for r in via] == \
        [(i, k, v, None) for i, (k, v) in enumerate(sent)]
