"""Issue 9, finding 10: `kek delete` and `kek rotate` reach the caches.

- keysvc's side: after records were produced, the workers are killed and
  a consumer decrypts everything from keysvc's DEK cache without a KMS
  decrypt. `krx-ctl kek delete` then empties that cache: new workers
  (no DEK in memory) answer RESOURCE_NOT_FOUND for the partition and
  deliver no record, because the EDEK had to go to the KMS, which no
  longer has the KEK (before the fix the cache kept serving the DEK for
  up to an hour).
- The workers' side (KRX_IPC_KEY_FLUSH, implemented in
  worker/keyclient.c): a producer keeps its connection (and so its
  worker, holding a DEK) across `kek delete`; its next record follows
  unresolvedKeyPolicy at once: REJECT fails it, PASSTHROUGH_UNENCRYPTED
  sends it without the encryption header. After `kek rotate` the next
  record's EDEK is under the new KEK version.
"""

import time

import pytest
from confluent_kafka import Producer

import enctest
import keytest
import tools


def test_delete_empties_keysvc_cache(kafka, krxd_factory, tmp_path,
                                     topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    kek = f"KEK-{topic_name}"
    keytest.kek_create(krxd, kek)
    values = [b"flush-%03d" % i for i in range(20)]
    keytest.produce(krxd.bootstrap, topic_name, values)

    keytest.kill_workers(krxd)
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic_name)] \
        == values
    s0 = keytest.cache_stats(krxd)
    assert s0["keysvc.decrypt_edeks"] == 0, s0     # from the cache

    assert "delete done" in keytest.ctl(krxd, "kek", "delete",
                                        kek).stdout
    keytest.kill_workers(krxd)
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        _, res = conn.fetch({topic_name: {0: 0}})
    finally:
        conn.close()
    r = res[(topic_name, 0)]
    assert r["error"] == enctest.RESOURCE_NOT_FOUND, r["error"]
    assert not r["records"], "records of a deleted KEK were delivered"
    s1 = keytest.cache_stats(krxd)
    assert s1["keysvc.decrypt_edeks"] >= 1, s1     # had to ask the KMS


def send(p, topic, value, timeout=15):
    """Produce one record on producer p; (error or None, offset)."""
    out = []
    p.produce(topic, key=b"k", value=value, partition=0,
              on_delivery=lambda err, msg: out.append(
                  (err, msg.offset() if err is None else None)))
    deadline = time.monotonic() + timeout
    while not out and time.monotonic() < deadline:
        p.poll(0.1)
    assert out, "no delivery report"
    return out[0]


@pytest.mark.parametrize("policy", ["REJECT", "PASSTHROUGH_UNENCRYPTED"])
def test_delete_reaches_running_producer(kafka, krxd_factory, tmp_path,
                                         topic_name, policy):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1,
                                         policy=policy)
    topic = f"{topic_name}-{policy[:3].lower()}"
    tools.create_topics(kafka.bootstrap, {topic: 1})
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    p = Producer({"bootstrap.servers": krxd.bootstrap, "acks": "all",
                  "linger.ms": 0, "log_level": 3, "retries": 0,
                  "message.timeout.ms": 10000})
    err, _ = send(p, topic, b"before-delete")
    assert err is None, err

    assert "delete done" in keytest.ctl(krxd, "kek", "delete",
                                        kek).stdout
    err, off = send(p, topic, b"after-delete")
    raw = keytest.records(kafka.bootstrap, topic)
    assert raw[0][5] and raw[0][5][0][0] == enctest.ENC_HEADER
    if policy == "REJECT":
        assert err is not None, \
            "a record was encrypted under a deleted KEK's DEK"
        assert len(raw) == 1
    else:
        assert err is None, err
        assert len(raw) == 2
        last = raw[1]
        assert last[4] == b"after-delete" and not any(
            h[0] == enctest.ENC_HEADER for h in (last[5] or [])), \
            "the record after the delete still carries the header"
    p.flush(5)


def test_rotate_reaches_running_producer(kafka, krxd_factory, tmp_path,
                                         topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1)
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    kek = f"KEK-{topic_name}"
    keytest.kek_create(krxd, kek)
    p = Producer({"bootstrap.servers": krxd.bootstrap, "acks": "all",
                  "linger.ms": 0, "log_level": 3})
    assert send(p, topic_name, b"v1")[0] is None
    assert keytest.ctl(krxd, "kek", "rotate", kek).returncode == 0
    assert send(p, topic_name, b"v2")[0] is None
    raw = keytest.records(kafka.bootstrap, topic_name)
    versions = [v for _, v in keytest.check_encrypted(raw, kek)]
    assert versions == [1, 2], versions
    p.flush(5)
