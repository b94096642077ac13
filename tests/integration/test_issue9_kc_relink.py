"""Issue 9, finding 2: a worker that loses its keysvc channel gets a new
one.

keysvc closes a worker's channel without killing anything: on a message
over the channel cap, or (with the master's kill following) a protocol
violation. The worker used to stay without keysvc for good while
`krx-ctl status` said "running": every encrypted produce of new keys
failed. Now the worker fails what was pending, asks the master
(KRX_IPC_KS_RELINK), and the master brokers a new socketpair to both.

Nothing a client can send makes keysvc drop the channel any more (the
worker bounds what it asks), so the test does it for keysvc: it takes a
copy of keysvc's end of the worker's channel (pidfd_getfd(2)) and shuts
the socket down, a clean EOF on both sides with no violation. Then a KEK created afterwards must still work
for a new topic (resolve and generate need keysvc): the records reach the
broker encrypted under it, with the same worker and keysvc as before.
"""

import ctypes
import os
import re
import socket
import subprocess

import pytest

import keytest


def sock_inodes(pid):
    """{socket inode: fd} of process pid."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        if m:
            out[int(m.group(1))] = int(fd)
    return out


def unix_peers():
    """{inode: peer inode} of connected unix stream sockets."""
    r = subprocess.run(["ss", "-xa"], capture_output=True, text=True,
                       check=True)
    out = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"u_str\s+ESTAB\s+\d+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+"
                     r"(\d+)", ln)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def keysvc_fd_of_worker(ks_pid, w_pid):
    """keysvc's fd of its channel to worker w_pid."""
    w, peers = sock_inodes(w_pid), unix_peers()
    fds = [fd for ino, fd in sock_inodes(ks_pid).items()
           if peers.get(ino) in w]
    assert len(fds) == 1, f"keysvc fds to the worker: {fds}"
    return fds[0]


SYS_PIDFD_GETFD = 438


def shut_down_fd_of(pid, fd):
    """shutdown(SHUT_RDWR) the socket behind fd of process pid."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        mine = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if mine < 0:
            err = ctypes.get_errno()
            if err in (38, 1):          # ENOSYS, EPERM
                pytest.skip(f"pidfd_getfd: {os.strerror(err)}")
            raise OSError(err, os.strerror(err))
    finally:
        os.close(pidfd)
    s = socket.socket(fileno=mine)
    try:
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()


def test_worker_gets_a_new_keysvc_channel(kafka, krxd_factory, tmp_path,
                                          topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1)
    t1, t2 = f"{topic_name}-1", f"{topic_name}-2"
    keytest.kek_create(krxd, f"KEK-{t1}")
    keytest.produce(krxd.bootstrap, t1, [b"before-%d" % i for i in range(5)])
    keytest.check_encrypted(keytest.records(kafka.bootstrap, t1),
                            f"KEK-{t1}")

    ks_pid = keytest.keysvc_status(krxd)["pid"]
    w_pid = krxd.worker_pids()[0]
    fd = keysvc_fd_of_worker(ks_pid, w_pid)
    at = krxd.log_size()
    shut_down_fd_of(ks_pid, fd)
    krxd.wait_log(r"lost the key service channel", timeout=10, start=at)
    krxd.wait_log(r"worker 0 \(pid %d\) lost its key service channel; "
                  r"handing it a new one" % w_pid, timeout=10, start=at)

    keytest.kek_create(krxd, f"KEK-{t2}")
    values = [b"after-%d" % i for i in range(5)]
    keytest.produce(krxd.bootstrap, t2, values)
    keytest.check_encrypted(keytest.records(kafka.bootstrap, t2),
                            f"KEK-{t2}", values)
    assert [r[4] for r in keytest.records(krxd.bootstrap, t2)] == values
    assert krxd.worker_pids() == [w_pid]
    assert keytest.keysvc_status(krxd)["pid"] == ks_pid
    krxd.assert_running()
