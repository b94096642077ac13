"""Who may use krxd's control socket (issue 13).

Needs root: a group and two users are created for the test (and removed
after it): U, a plain local user, and A, a member of the group that krxd
names in control_group. krxd runs as root in a directory every user may
reach; its control socket is mode 0666.

- U may run the read-only commands (status, cache stats) and is refused
  reload, stop, reopen-logs, kek create, kms check, dek rotate and cache
  flush with "permission denied: 'CMD' needs root or membership of group
  G" and exit 4 (-j: {"error": ...}, exit 4); krxd logs each refusal with
  U's uid and keeps running, in the same generation.
- A (supplementary group from the group database, via setpriv
  --init-groups) may reload: the generation goes up.
- Without control_group, U is told that root or krxd's user is needed.
- A socket U cannot reach (its directory is root's, 0700): "cannot open
  PATH: permission denied; run as root or a member of ...", exit 4.
"""

import json
import os
import pwd
import grp
import shutil
import subprocess
import tempfile
import time

import pytest

import krxtest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: creates users and a group")

REFUSED = [("reload",), ("stop",), ("stop", "--graceful"),
           ("reopen-logs",), ("kek", "create", "KEK-x"),
           ("kms", "check", "KEK-x"), ("dek", "rotate"), ("cache", "flush")]


@pytest.fixture
def accounts():
    tag = f"{os.getpid() % 100000}"
    group, user, admin = f"krxtg{tag}", f"krxtu{tag}", f"krxta{tag}"
    try:
        subprocess.run(["groupadd", group], check=True)
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin",
                        user], check=True)
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin",
                        "-G", group, admin], check=True)
        yield {"group": group, "user": pwd.getpwnam(user),
               "admin": pwd.getpwnam(admin)}
    finally:
        for u in (user, admin):
            subprocess.run(["userdel", u], stderr=subprocess.DEVNULL)
        subprocess.run(["groupdel", group], stderr=subprocess.DEVNULL)


@pytest.fixture
def open_dir(tmp_path):
    d = tempfile.mkdtemp(prefix="krx-ctl-admin-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    log = os.path.join(d, "krxd", "krxd.log")
    if os.path.exists(log):
        shutil.copy(log, str(tmp_path))
    shutil.rmtree(d, ignore_errors=True)


def as_user(pw, *args):
    """krx-ctl as pw's user, its groups from the group database."""
    return subprocess.run(
        ["setpriv", "--reuid", str(pw.pw_uid), "--regid", str(pw.pw_gid),
         "--init-groups", krxtest.KRXCTL] + list(args),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, timeout=30)


def start(kafka, open_dir, factory, extra=""):
    k = krxtest.Krxd(os.path.join(open_dir, "krxd"), kafka.bootstrap,
                     workers=2, extra=extra)
    factory.instances.append(k)     # stopped before open_dir goes
    k.start()
    return k


def test_permissions(kafka, accounts, open_dir, krxd_factory):
    g = accounts["group"]
    k = start(kafka, open_dir, krxd_factory, f'control_group = "{g}";\n')
    sock = k.control_socket
    assert os.stat(sock).st_mode & 0o777 == 0o666
    gen = k.status()["generation"]
    u = accounts["user"]
    r = as_user(u, "-s", sock, "status")
    assert r.returncode == 0, r
    assert krxtest.parse_status(r.stdout)["pid"] == k.pid
    r = as_user(u, "-s", sock, "cache", "stats")
    assert r.returncode == 0 and "workers." in r.stdout, r
    for cmd in REFUSED:
        r = as_user(u, "-s", sock, *cmd)
        word = " ".join(c for c in cmd[:2] if not c.startswith("-")
                        and c != "KEK-x")
        assert r.returncode == 4, (cmd, r)
        assert (f"krx-ctl: permission denied: '{word}' needs root or "
                f"membership of group {g}") in r.stderr, (cmd, r.stderr)
        k.assert_running()
    r = as_user(u, "-j", "-s", sock, "reload")
    assert r.returncode == 4
    assert "permission denied" in json.loads(r.stdout)["error"]
    k.wait_log(rf"refused 'reload' to uid {u.pw_uid} pid \d+")
    k.wait_log(rf"refused 'cache flush' to uid {u.pw_uid}")
    st = k.status()
    assert st["generation"] == gen and st["pid"] == k.pid
    assert len([c for c in st["children"] if c["kind"] == "worker"]) == 2

    a = accounts["admin"]
    assert g in [x.gr_name for x in grp.getgrall()
                 if a.pw_name in x.gr_mem]
    r = as_user(a, "-s", sock, "reload")
    assert r.returncode == 0, r
    assert k.status()["generation"] == gen + 1
    r = as_user(a, "-s", sock, "dek", "rotate")
    assert r.returncode == 0 and "in 2 workers" in r.stdout, r
    k.assert_running()


def test_no_control_group(kafka, accounts, open_dir, krxd_factory):
    k = start(kafka, open_dir, krxd_factory)
    r = as_user(accounts["admin"], "-s", k.control_socket, "reload")
    assert r.returncode == 4
    assert "'reload' needs root or krxd's user" in r.stderr, r.stderr
    assert as_user(accounts["user"], "-s", k.control_socket,
                   "status").returncode == 0
    k.ctl("reload")     # root may


def test_socket_not_reachable(krxd, accounts):
    # pytest's tmp_path is under a root-only 0700 directory.
    r = as_user(accounts["user"], "-s", krxd.control_socket, "status")
    assert r.returncode == 4, r
    assert (f"cannot open {krxd.control_socket}: permission denied; run as "
            f"root or a member of") in r.stderr, r.stderr


HOLD = r"""
import select, socket, sys, time
socks = []
for i in range(32):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    socks.append(s)
deadline = time.monotonic() + 10
open_ = socks
while time.monotonic() < deadline:
    r, _, _ = select.select(open_, [], [], 0.2)
    open_ = [s for s in open_ if s not in r or s.recv(1) != b""]
    if len(open_) <= 24:
        break
print(len(open_), flush=True)
sys.stdin.read()
"""


def test_admin_connections_kept(kafka, accounts, open_dir, krxd_factory):
    """A local user holding control connections cannot lock root out:
    beyond 24 of 32, krxd closes a non-admin's new connections, and root
    is still served while the user holds them."""
    k = start(kafka, open_dir, krxd_factory)
    u = accounts["user"]
    p = subprocess.Popen(
        ["setpriv", "--reuid", str(u.pw_uid), "--regid", str(u.pw_gid),
         "--init-groups", "python3", "-c", HOLD, k.control_socket],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(p.stdout.readline())
        assert held == 24, held
        k.wait_log(r"control socket: 24 connections open, refusing")
        assert k.status()["pid"] == k.pid      # root still served
        r = as_user(u, "-s", k.control_socket, "status")
        assert r.returncode != 0, r            # the user is not
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    deadline = time.monotonic() + 10       # krxd sees the closes
    while as_user(u, "-s", k.control_socket, "status").returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
