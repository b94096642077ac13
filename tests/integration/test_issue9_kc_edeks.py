"""Issue 9, findings 2 and 6: EDEKs a worker will not pass on, and EDEKs
it asks about only once.

Records carrying the encryption header are written straight to the
broker (any producer to a passthrough topic, or the broker, can plant
them) and fetched through krxd, which runs one worker:

- EDEKs of 5,000 and 70,000 bytes (over keysvc's 4,096-byte bound, the
  second over the 64 KiB channel cap): the worker used to send them, and
  keysvc called the first a violation (the master killed the worker; five
  fetches ended the whole proxy) and dropped the channel over the second.
  Now the worker answers INVALID itself: the partition fails, no request
  reaches keysvc, the worker keeps its pid and keysvc counts no
  violation; the next fetch does the same.
- 300 distinct EDEKs of a KEK that does not exist: the first fetch asks
  keysvc about each (one request each, hashed so many pending requests
  cost no quadratic scan), the second within the minute asks about none
  (the worker remembers NOT_FOUND); both fail the partition with
  RESOURCE_NOT_FOUND.
"""

import os
import struct
import time

import enctest
import keytest
import tools

HDR = [("kroxylicious.io/encryption", b"\x02")]


def wrapper(edek):
    return b"\x00" + enctest.put_uvarint(len(edek)) + edek + b"\x00" + \
        b"\x11" * 12 + b"\x22" * 40


def localkms_edek(kek, i):
    name = kek.encode()
    return b"\x01" + enctest.put_uvarint(len(name)) + name + \
        struct.pack(">I", 1) + struct.pack(">I", i) + b"\x33" * 8 + \
        b"\x44" * 48


def plant(kafka, topic, values):
    conn = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        res = conn.produce({topic: {0: enctest.encode_batch(
            [(b"k", v, HDR) for v in values])}})
    finally:
        conn.close()
    assert res[(topic, 0)][0] == 0, res


def fetch_error(krxd, topic):
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        _, res = conn.fetch({topic: {0: 0}})
    finally:
        conn.close()
    r = res[(topic, 0)]
    assert not r["records"], "records of a failed partition were sent"
    return r["error"]


def test_oversize_edeks_answered_by_the_worker(kafka, krxd_factory,
                                               tmp_path, topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1)
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    plant(kafka, topic_name, [wrapper(b"\x01" + b"x" * 4999),
                              wrapper(b"\x01" + b"y" * 69999)])
    pid = krxd.worker_pids()[0]
    s0 = keytest.cache_stats(krxd)
    for _ in range(6):
        assert fetch_error(krxd, topic_name) != 0
    s1 = keytest.cache_stats(krxd)
    assert s1["workers.keysvc_requests"] == s0["workers.keysvc_requests"], \
        (s0, s1)
    assert s1["keysvc.violations"] == 0, s1
    assert krxd.worker_pids() == [pid]
    log = krxd.log_text()
    assert "broke the key protocol" not in log
    assert "lost the key service channel" not in log
    krxd.assert_running()


def test_bogus_edeks_asked_once(kafka, krxd_factory, tmp_path, topic_name):
    n = 300
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1)
    keytest.kek_create(krxd, "KEK-other")       # a keystore, not KEK-none
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    plant(kafka, topic_name, [wrapper(localkms_edek("KEK-none", i))
                              for i in range(n)])
    s0 = keytest.cache_stats(krxd)
    t0 = time.monotonic()
    assert fetch_error(krxd, topic_name) == enctest.RESOURCE_NOT_FOUND
    t1 = time.monotonic()
    s1 = keytest.cache_stats(krxd)
    asked = s1["workers.keysvc_requests"] - s0["workers.keysvc_requests"]
    assert 1 <= asked <= n, (s0, s1)
    assert fetch_error(krxd, topic_name) == enctest.RESOURCE_NOT_FOUND
    t2 = time.monotonic()
    s2 = keytest.cache_stats(krxd)
    assert s2["workers.keysvc_requests"] == s1["workers.keysvc_requests"], \
        f"the second fetch asked keysvc again: {s1} {s2}"
    print(f"{n} bogus EDEKs: {asked} keysvc requests, first fetch "
          f"{t1 - t0:.3f} s, second {t2 - t1:.3f} s")
    if os.environ.get("KRX_VERBOSE"):
        print(s2)
