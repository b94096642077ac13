"""Workers share DEKs through the LMDB cache that keysvc writes.

krxd runs two workers. Records produced through krxd make keysvc generate
a DEK, which it also writes (sealed) into the LMDB cache. Both workers are
then killed with kill -9, so no worker holds the DEK in memory; keysvc and
the cache survive. Consuming through krxd decrypts every record, and
krx-ctl cache stats shows a cache hit (keysvc answers hits itself since
issue 9, finding 7: keysvc.cache_hits; before that the workers read the
cache: workers.dek_lmdb_hits) and keysvc.decrypt_edeks still 0: no
EDEK reached the KMS.

Then the other way round: keysvc is killed (its replacement starts an
empty cache) and the workers again, so the DEK is nowhere but in the
records; consuming makes keysvc decrypt the EDEK, and writes it to the
cache; a third set of workers then reads everything through the cache
without another keysvc decrypt.
"""

import os
import signal

import keytest

N = 200


def hits(stats):
    """Cache hits wherever they are served."""
    return stats.get("keysvc.cache_hits", 0) + \
        stats.get("workers.dek_lmdb_hits", 0)


def test_lmdb_sharing(kafka, krxd_factory, tmp_path, topic_name):
    topic = topic_name
    krxd, _, cache = keytest.make_encrypting(krxd_factory, tmp_path,
                                             workers=2)
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    values = [b"lmdb-%05d" % i for i in range(N)]
    keytest.produce(krxd.bootstrap, topic, values)

    raw = keytest.records(kafka.bootstrap, topic)
    assert len(raw) == N
    edeks = {e for e, _ in keytest.check_encrypted(raw, kek, values)}
    s0 = keytest.cache_stats(krxd)
    assert s0["keysvc.generate_requests"] >= 1
    assert s0["keysvc.cache_writes"] >= len(edeks), s0
    assert s0["keysvc.decrypt_edeks"] == 0
    assert os.path.getsize(os.path.join(cache, "data.mdb")) > 0

    # No worker has the DEK in memory now; keysvc and LMDB are the same.
    ks_pid = keytest.keysvc_status(krxd)["pid"]
    keytest.kill_workers(krxd)
    assert keytest.keysvc_status(krxd)["pid"] == ks_pid

    got = keytest.records(krxd.bootstrap, topic)
    assert [r[4] for r in got] == values
    s1 = keytest.cache_stats(krxd)
    assert hits(s1) - hits(s0) >= 1, (s0, s1)
    assert s1["keysvc.decrypt_edeks"] == 0, \
        f"an EDEK went to the KMS: {s1}"
    assert s1["workers.records_decrypted"] - \
        s0["workers.records_decrypted"] >= N

    # Without the cache entry the EDEK has to go to keysvc, which then
    # puts the DEK in the cache for the next worker.
    krxd.expected_deaths.add(ks_pid)
    os.kill(ks_pid, signal.SIGKILL)
    keytest.wait_keysvc(krxd, not_pid=ks_pid)
    keytest.kill_workers(krxd)
    s2 = keytest.cache_stats(krxd)
    assert s2["keysvc.decrypt_edeks"] == 0 and \
        s2["keysvc.cache_writes"] == 0, s2
    got = keytest.records(krxd.bootstrap, topic)
    assert [r[4] for r in got] == values
    s3 = keytest.cache_stats(krxd)
    assert 1 <= s3["keysvc.decrypt_edeks"] <= len(edeks), s3
    assert s3["keysvc.cache_writes"] >= s3["keysvc.decrypt_edeks"], s3

    keytest.kill_workers(krxd)
    got = keytest.records(krxd.bootstrap, topic)
    assert [r[4] for r in got] == values
    s4 = keytest.cache_stats(krxd)
    assert s4["keysvc.decrypt_edeks"] == s3["keysvc.decrypt_edeks"], \
        f"{s3}\n{s4}"
    assert hits(s4) > hits(s3), f"{s3}\n{s4}"
