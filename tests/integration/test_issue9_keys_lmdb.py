"""Issue 9, findings 7 and 11 (keysvc side): nothing keysvc relies on is
writable by the workers' user, and a frozen keysvc is replaced.

- As root with user = "krx" and keysvc_user = "krx-keys" (two workers):
  after records went through krxd (so LMDB's data.mdb and lock.mdb
  exist), the user krx can neither list the DEK cache directory nor open
  lock.mdb or data.mdb for reading or writing, nor create a file there
  (before: lock.mdb was 0660 with krx's group, and taking LMDB's writer
  mutex froze keysvc for good). keysvc has no core limit and
  no_new_privs set (finding 11). Then produce and consume through krxd
  still work, encrypted at the broker.
- A keysvc stopped with SIGSTOP no longer answers the master's liveness
  ping: within the timeout the master kills it and a new keysvc serves;
  a produce to a new topic whose KEK must be resolved by keysvc works
  again.
"""

import os
import signal

import pytest

import keytest
import krxtest
import tools
from test_keysvc_privsep import (env, make_krxd, open_dir,  # noqa: F401
                                 proc_ids, users)

PROBE = r"""
import os, sys
d = sys.argv[1]
out = []
for what, fn in (
        ("listdir", lambda: os.listdir(d)),
        ("lock-rw", lambda: os.open(os.path.join(d, "lock.mdb"), os.O_RDWR)),
        ("lock-r", lambda: os.open(os.path.join(d, "lock.mdb"), os.O_RDONLY)),
        ("data-r", lambda: os.open(os.path.join(d, "data.mdb"), os.O_RDONLY)),
        ("data-rw", lambda: os.open(os.path.join(d, "data.mdb"), os.O_RDWR)),
        ("create", lambda: os.open(os.path.join(d, "x"),
                                   os.O_CREAT | os.O_WRONLY, 0o600))):
    try:
        fn()
        out.append(what + " allowed")
    except PermissionError:
        out.append(what + " denied")
print("\n".join(out))
"""


def proc_limit_core(pid):
    with open(f"/proc/{pid}/limits") as f:
        for ln in f:
            if ln.startswith("Max core file size"):
                return ln.split()[4:6]
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: krxd switches "
                    "users only when started as root")
def test_workers_cannot_touch_lmdb(kafka, env, topic_name):  # noqa: F811
    open_dir, krxd_factory, users = env
    keys = users["krx-keys"]
    keks = os.path.join(open_dir, "keks")
    os.mkdir(keks, 0o700)
    os.chown(keks, keys.pw_uid, keys.pw_gid)
    cache = os.path.join(open_dir, "dekcache")
    krxd = make_krxd(krxd_factory, kafka, os.path.join(open_dir, "krxd"),
                     os.path.join(keks, "keystore"), cache,
                     extra='user = "krx";\nkeysvc_user = "krx-keys";\n')
    krxd.start()
    ks = keytest.wait_keysvc(krxd)["pid"]
    kek = f"KEK-{topic_name}"
    keytest.kek_create(krxd, kek)
    first = [b"lmdb-a-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, topic_name, first)
    for name in ("data.mdb", "lock.mdb"):
        assert os.path.exists(os.path.join(cache, name)), name

    r = keytest.run_as("krx", ["python3", "-c", PROBE, cache])
    assert r.returncode == 0, r
    got = r.stdout.split()
    assert "allowed" not in got, r.stdout
    assert got.count("denied") == 6, r.stdout
    assert keytest.file_mode(cache) == (keys.pw_uid, keys.pw_gid, 0o700)

    assert proc_limit_core(ks) == ["0", "0"], proc_limit_core(ks)
    assert proc_ids(ks)["NoNewPrivs"] == 1

    more = [b"lmdb-b-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, topic_name, more)
    raw = keytest.records(kafka.bootstrap, topic_name)
    keytest.check_encrypted(raw, kek, first + more)
    keytest.kill_workers(krxd)      # no DEK in any worker's memory
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic_name)] \
        == first + more
    assert len(krxd.worker_pids()) == 2
    assert keytest.keysvc_status(krxd)["pid"] == ks


def test_frozen_keysvc_is_replaced(kafka, krxd_factory, tmp_path,
                                   topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    a, b = f"{topic_name}-a", f"{topic_name}-b"
    tools.create_topics(kafka.bootstrap, {a: 1, b: 1})
    keytest.kek_create(krxd, f"KEK-{a}")
    keytest.produce(krxd.bootstrap, a, [b"before"])
    ks = keytest.keysvc_status(krxd)["pid"]
    start = krxd.log_size()
    krxd.expected_deaths.add(ks)
    os.kill(ks, signal.SIGSTOP)
    try:
        st = keytest.wait_keysvc(krxd, not_pid=ks, timeout=30)
    finally:
        if krxtest.pid_alive(ks):
            os.kill(ks, signal.SIGCONT)
    assert st["pid"] != ks
    krxd.wait_log(r"keysvc \(pid %d\) did not answer a ping" % ks,
                  start=start)
    keytest.kek_create(krxd, f"KEK-{b}")
    values = [b"after-%d" % i for i in range(10)]
    keytest.produce(krxd.bootstrap, b, values)
    keytest.check_encrypted(keytest.records(kafka.bootstrap, b),
                            f"KEK-{b}", values)
    assert [r[4] for r in keytest.records(krxd.bootstrap, b)] == values
