"""Privilege separation between the workers and the key service.

Needs root (CI runs as root): users krx and krx-keys are created if
missing (system users without a home or a login shell).

- krxd runs as root with user = "krx" and keysvc_user = "krx-keys": the
  master stays root; every worker runs with krx's uid and gid (real,
  effective, saved and filesystem), no supplementary group but krx's and
  no_new_privs; keysvc runs as krx-keys the same way (no_new_privs
  included: one privilege drop, common/privdrop.c) and is undumpable
  (its /proc entries belong to root, and a process of its own uid cannot
  read its /proc/PID/environ). kek create works; the keystore file is
  mode 0600 owned by krx-keys, root can read it and krx cannot. The DEK
  cache directory and its files are krx-keys' alone (0700, 0600: issue 9,
  finding 7). Records produced through krxd are encrypted at the broker
  and come back in clear; after the workers are killed, the new workers
  (as krx) get the DEKs from keysvc's cache hits (keysvc.cache_hits),
  without a KMS decrypt.
- krxd run as the unprivileged user krx (no switching): keysvc's /proc
  entries still belong to root and krx cannot read its environ, while the
  master's belong to krx and can be read, so the check above sees the
  prctl and not only the uid change.
"""

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

import keytest
import krxtest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: krxd switches its workers to "
    "user krx and keysvc to krx-keys only when started as root")

USERS = ("krx", "krx-keys")


@pytest.fixture(scope="module")
def users():
    """{name: passwd entry} for krx and krx-keys, created if missing and
    removed again afterwards if this module created them."""
    made = []
    for u in USERS:
        try:
            pwd.getpwnam(u)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--shell", "/usr/sbin/nologin", u], check=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            made.append(u)
    yield {u: pwd.getpwnam(u) for u in USERS}
    for u in made:
        subprocess.run(["userdel", u], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


@pytest.fixture
def open_dir(tmp_path):
    """A directory the two users can reach (pytest's tmp_path sits under
    a root-only 0700 directory). krxd's log is copied to tmp_path before
    the directory is removed."""
    d = tempfile.mkdtemp(prefix="krx-privsep-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    log = os.path.join(d, "krxd", "krxd.log")
    if os.path.exists(log):
        shutil.copy(log, str(tmp_path))
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(open_dir, krxd_factory, users):
    """(directory, krxd factory, users), set up in this order so that the
    factory stops krxd before the directory (its control socket and
    log) is removed."""
    return open_dir, krxd_factory, users


def proc_ids(pid):
    """Uid, Gid (4 values each), Groups and NoNewPrivs of pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("Uid", "Gid"):
                out[k] = [int(x) for x in v.split()]
            elif k == "Groups":
                out[k] = sorted(int(x) for x in v.split())
            elif k == "NoNewPrivs":
                out[k] = int(v)
    return out


def proc_owner(pid):
    return os.stat(f"/proc/{pid}/status").st_uid


def make_krxd(krxd_factory, kafka, workdir, keystore, cache, extra=""):
    k = krxtest.Krxd(workdir, kafka.bootstrap, workers=2,
                     extra=extra + keytest.cache_conf(cache),
                     vc_extra=keytest.encryption_conf(keystore))
    krxd_factory.instances.append(k)
    return k


def test_privsep_as_root(kafka, env, topic_name):
    open_dir, krxd_factory, users = env
    krx, keys = users["krx"], users["krx-keys"]
    keks = os.path.join(open_dir, "keks")
    os.mkdir(keks, 0o700)
    os.chown(keks, keys.pw_uid, keys.pw_gid)
    keystore = os.path.join(keks, "keystore")
    cache = os.path.join(open_dir, "dekcache")
    krxd = make_krxd(krxd_factory, kafka, os.path.join(open_dir, "krxd"),
                     keystore, cache,
                     extra='user = "krx";\nkeysvc_user = "krx-keys";\n')
    krxd.start()
    ks = keytest.wait_keysvc(krxd)["pid"]
    workers = krxd.worker_pids()
    assert len(workers) == 2

    assert proc_ids(krxd.pid)["Uid"] == [0] * 4, "the master left root"
    for w in workers:
        ids = proc_ids(w)
        assert ids["Uid"] == [krx.pw_uid] * 4, f"worker {w}: {ids}"
        assert ids["Gid"] == [krx.pw_gid] * 4, f"worker {w}: {ids}"
        assert ids["Groups"] == [krx.pw_gid], f"worker {w}: {ids}"
        assert ids["NoNewPrivs"] == 1, f"worker {w}: {ids}"
    ids = proc_ids(ks)
    assert ids["Uid"] == [keys.pw_uid] * 4, f"keysvc: {ids}"
    assert ids["Gid"] == [keys.pw_gid] * 4, f"keysvc: {ids}"
    assert ids["Groups"] == [keys.pw_gid], f"keysvc: {ids}"
    assert ids["NoNewPrivs"] == 1, f"keysvc: {ids}"

    # Undumpable: /proc/PID belongs to root, and even its own uid is
    # refused what ptrace access guards.
    assert proc_owner(ks) == 0
    r = keytest.run_as("krx-keys", ["cat", f"/proc/{ks}/environ"])
    assert r.returncode != 0 and "Permission denied" in r.stderr, r

    # The keystore: keysvc's alone.
    kek = f"KEK-{topic_name}"
    keytest.kek_create(krxd, kek)
    assert keytest.file_mode(keystore) == (keys.pw_uid, keys.pw_gid,
                                           0o600)
    assert keytest.ctl(krxd, "kek", "rotate", kek).returncode == 0
    assert keytest.file_mode(keystore)[2] == 0o600
    assert sorted(keytest.read_keystore(keystore)[kek]) == [1, 2]
    for argv in (["cat", keystore], ["ls", keks]):
        r = keytest.run_as("krx", argv)
        assert r.returncode != 0 and "Permission denied" in r.stderr \
            and r.stdout == "", f"user krx: {argv}: {r}"
    r = keytest.ctl(krxd, "kms", "check", kek)
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr

    # The DEK cache: krx-keys' alone (issue 9, finding 7).
    assert keytest.file_mode(cache) == (keys.pw_uid, keys.pw_gid, 0o700)

    values = [b"privsep-%04d" % i for i in range(100)]
    keytest.produce(krxd.bootstrap, topic_name, values)
    raw = keytest.records(kafka.bootstrap, topic_name)
    keytest.check_encrypted(raw, kek, values)
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic_name)] \
        == values
    for name in ("data.mdb", "lock.mdb"):
        assert keytest.file_mode(os.path.join(cache, name)) == \
            (keys.pw_uid, keys.pw_gid, 0o600), name

    # New workers (as krx) get the DEK from keysvc's cache hits.
    s0 = keytest.cache_stats(krxd)
    new = keytest.kill_workers(krxd)
    assert all(proc_ids(w)["Uid"] == [krx.pw_uid] * 4 for w in new)
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic_name)] \
        == values
    s1 = keytest.cache_stats(krxd)
    assert s1["keysvc.cache_hits"] > s0["keysvc.cache_hits"], (s0, s1)
    assert s1["workers.dek_lmdb_hits"] == s0["workers.dek_lmdb_hits"], \
        (s0, s1)
    assert s1["keysvc.decrypt_edeks"] == 0, s1
    assert keytest.keysvc_status(krxd)["pid"] == ks


def test_keysvc_undumpable_unprivileged(kafka, env, topic_name):
    open_dir, krxd_factory, users = env
    krx = users["krx"]
    workdir = os.path.join(open_dir, "krxd")
    os.mkdir(workdir)
    os.chown(workdir, krx.pw_uid, krx.pw_gid)
    keks = os.path.join(workdir, "keks")
    os.mkdir(keks, 0o700)
    os.chown(keks, krx.pw_uid, krx.pw_gid)
    krxd = make_krxd(krxd_factory, kafka, workdir,
                     os.path.join(keks, "keystore"),
                     os.path.join(workdir, "dekcache"))
    krxd.popen_kwargs = {"user": krx.pw_uid, "group": krx.pw_gid,
                         "extra_groups": []}
    krxd.start()
    ks = keytest.wait_keysvc(krxd)["pid"]
    assert proc_ids(krxd.pid)["Uid"] == [krx.pw_uid] * 4
    assert proc_ids(ks)["Uid"] == [krx.pw_uid] * 4
    # No identity to change, no_new_privs all the same (issue 11).
    assert proc_ids(ks)["NoNewPrivs"] == 1
    assert all(proc_ids(w)["NoNewPrivs"] == 1 for w in krxd.worker_pids())
    # The master is dumpable (workers are not either: issue 9, finding
    # 11, see test_issue9_master.py).
    assert proc_owner(krxd.pid) == krx.pw_uid, "the master is undumpable?"
    r = keytest.run_as("krx", ["cat", f"/proc/{krxd.pid}/environ"])
    assert r.returncode == 0, r
    assert proc_owner(ks) == 0, "keysvc is dumpable"
    r = keytest.run_as("krx", ["cat", f"/proc/{ks}/environ"])
    assert r.returncode != 0 and "Permission denied" in r.stderr, r

    keytest.kek_create(krxd, f"KEK-{topic_name}")
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{topic_name}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
