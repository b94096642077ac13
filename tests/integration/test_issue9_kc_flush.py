"""Issue 9, finding 10: KEK rotate and delete reach the workers' caches.

Workers kept an alias resolution for 10 minutes and an encryption DEK for
up to 2 hours, so after `krx-ctl kek delete` they went on producing under
the dead KEK (records unreadable once the caches let go), and after `kek
rotate` under the old version. keysvc now sends every worker
KRX_IPC_KEY_FLUSH (vc, op, KEK) and the worker drops the KEK's pools,
the alias resolutions and, on delete, its decrypted DEKs.

With unresolvedKeyPolicy REJECT, on one connection through krxd:
produce (KEK version 1), `kek rotate`, produce again: the second records'
EDEKs name version 2. `kek delete`, and the very next Produce is answered
INVALID_RECORD (87) instead of being encrypted under the deleted KEK.

Needs both halves: keysvc sending the flush (KEYS) and the worker acting
on it (worker/keyclient.c); skipped while keysvc does not send it.
"""

import glob
import os

import pytest

import enctest
import keytest
import tools

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def keysvc_sends_flush():
    for path in glob.glob(os.path.join(ROOT, "keysvc", "*.c")):
        with open(path) as f:
            if "KRX_IPC_KEY_FLUSH" in f.read():
                return True
    return False


def batch(tag, n):
    return enctest.encode_batch([(b"k%d" % i, b"%s-%d" % (tag, i), ())
                                 for i in range(n)])


@pytest.mark.skipif(not keysvc_sends_flush(),
                    reason="keysvc does not send KRX_IPC_KEY_FLUSH yet")
def test_kek_rotate_and_delete_flush_workers(kafka, krxd_factory,
                                             topic_name):
    krxd = enctest.enc_krxd(krxd_factory, policy="REJECT", workers=1)
    topic, kek = topic_name, f"KEK-{topic_name}"
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", kek)
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        assert conn.produce({topic: {0: batch(b"v1", 3)}}) == \
            {(topic, 0): (0, 0)}
        assert "rotate" in enctest.kek(krxd, "rotate", kek)
        assert conn.produce({topic: {0: batch(b"v2", 3)}}) == \
            {(topic, 0): (0, 3)}
        vers = [v for _, v in keytest.check_encrypted(
            keytest.records(kafka.bootstrap, topic), kek)]
        assert vers == [1, 1, 1, 2, 2, 2], \
            f"KEK versions after rotate: {vers}"

        assert "delete done" in enctest.kek(krxd, "delete", kek)
        res = conn.produce({topic: {0: batch(b"gone", 3)}})
        assert res == {(topic, 0): (enctest.INVALID_RECORD, -1)}, \
            f"produce after kek delete answered {res}"
    finally:
        conn.close()
    wm = tools.watermarks(kafka.bootstrap, topic, [0])
    assert wm[0] == (0, 6), wm
