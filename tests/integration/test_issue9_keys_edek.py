"""Issue 9, finding 2 (keysvc side): an over-long EDEK is data, not a
protocol violation.

A record carrying the encryption header and a wrapper whose EDEK is
5,000 bytes (over the 4,096-byte bound, KRX_EDEK_MAX) is written straight
to the broker, next to a good record of another topic produced through
krxd. Fetching the bad partition through krxd several times must:
- fail that partition only (the fetch answers, the connection stays);
- not cost a worker: the same worker pids before and after, no
  "broke the key protocol" line, keysvc.violations still 0 (before the
  fix keysvc called it a violation and the master SIGKILLed the worker,
  five times in a minute took the whole proxy down);
and the good topic still decrypts afterwards.
Whether the worker refuses the EDEK itself (the wrapper parser's bound)
or keysvc answers INVALID, no process dies.
"""

import enctest
import keytest
import krxtest
import tools


def bogus_value(edek_len):
    """A wrapper v2 value: cipher 0, EDEK of edek_len bytes, aad 0, IV,
    then 32 bytes standing for the parcel and its tag."""
    edek = b"\x01" + b"A" * (edek_len - 1)
    return (b"\x00" + enctest.put_uvarint(len(edek)) + edek + b"\x00" +
            b"\x00" * 12 + b"\x55" * 32)


def test_oversize_edek_costs_no_worker(kafka, krxd_factory, tmp_path,
                                       topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    good, bad = f"{topic_name}-good", f"{topic_name}-bad"
    tools.create_topics(kafka.bootstrap, {good: 1, bad: 1})
    keytest.kek_create(krxd, f"KEK-{good}")
    values = [b"fine-%03d" % i for i in range(10)]
    keytest.produce(krxd.bootstrap, good, values)

    batch = enctest.encode_batch([(b"k", bogus_value(5000),
                                   [(enctest.ENC_HEADER, b"\x02")])])
    direct = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        res = direct.produce({bad: {0: batch}})
        assert res[(bad, 0)][0] == 0, res
    finally:
        direct.close()

    workers = sorted(krxd.worker_pids())
    ks = keytest.keysvc_status(krxd)["pid"]
    for _ in range(2):          # new connections, maybe other workers
        conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
        try:
            for _ in range(3):
                _, res = conn.fetch({bad: {0: 0}})
                r = res[(bad, 0)]
                assert r["error"] != 0, \
                    "a record with a bogus EDEK was delivered"
                assert not r["records"], "records of a failed partition"
            err, _ = conn.api_versions()    # the connection stays
            assert err == 0
        finally:
            conn.close()

    krxd.assert_running()
    assert sorted(krxd.worker_pids()) == workers, \
        "a worker was replaced over one bad record"
    assert keytest.keysvc_status(krxd)["pid"] == ks
    stats = keytest.cache_stats(krxd)
    assert stats["keysvc.violations"] == 0, stats
    assert "broke the key protocol" not in krxd.log_text()
    assert [r[4] for r in keytest.records(krxd.bootstrap, good)] == values


def test_worker_rate_cap(kafka, krxd_factory, tmp_path, topic_name):
    """Issue 9, findings 7 and 15: keysvc caps each worker's KMS-bound
    requests (keysvc_kms_rate a second, a bucket as deep; 100 here). A
    fetch of 3,000 records with distinct bogus EDEKs sends 3,000 EDEKs to
    keysvc at once: the ones over the cap are answered UNAVAILABLE (not
    a violation), a warning names the worker, and the proxy keeps
    serving."""
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1,
                                         extra="keysvc_kms_rate = 100;\n")
    good, bad = f"{topic_name}-good", f"{topic_name}-many"
    tools.create_topics(kafka.bootstrap, {good: 1, bad: 1})
    keytest.kek_create(krxd, f"KEK-{good}")
    n = 3000
    direct = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        for first in range(0, n, 500):
            recs = []
            for i in range(first, first + 500):
                # A LocalKms-shaped EDEK (format 1, name "X") that no
                # keystore holds: the KMS has to look at each one.
                edek = b"\x01\x01X" + b"%08d" % i + b"\x00" * 56
                value = (b"\x00" + enctest.put_uvarint(len(edek)) + edek +
                         b"\x00" + b"\x00" * 12 + b"\x55" * 32)
                recs.append((b"k", value, [(enctest.ENC_HEADER, b"\x02")]))
            batch = enctest.encode_batch(recs)
            krxtest.wait_for(lambda: direct.produce({bad: {0: batch}})[
                (bad, 0)][0] == 0, 30, "the broker to take a batch")
    finally:
        direct.close()

    workers = sorted(krxd.worker_pids())
    s0 = keytest.cache_stats(krxd)
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        _, res = conn.fetch({bad: {0: 0}})
        assert res[(bad, 0)]["error"] != 0
        assert not res[(bad, 0)]["records"]
    finally:
        conn.close()
    s1 = keytest.cache_stats(krxd)
    assert s1["keysvc.refused_over_caps"] > s0["keysvc.refused_over_caps"], \
        (s0, s1)
    assert s1["keysvc.decrypt_edeks"] - s0["keysvc.decrypt_edeks"] < 3000, \
        s1
    assert s1["keysvc.violations"] == 0, s1
    krxd.wait_log(r"worker 0 is over its key request caps")
    assert sorted(krxd.worker_pids()) == workers
    values = [b"still-%d" % i for i in range(5)]
    keytest.produce(krxd.bootstrap, good, values)
    assert [r[4] for r in keytest.records(krxd.bootstrap, good)] == values
