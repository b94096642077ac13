"""keysvc on its own, driven by the test as its master and its workers
(test_kms_outage.py, test_kms_secrets.py): `krxd -K -g -c CONF` with
the test's end of a socketpair as fd 3, the way master/keysvc_spawn.c
starts it. The test sends KRX_IPC_KS_INIT (the 32-byte DEK cache key),
hands keysvc worker channels (KRX_IPC_KS_CHANNEL with the fd), and
speaks the worker <-> keysvc protocol of proto/ipc.h on them, so a
burst of 1,000 concurrent questions needs no Kafka client at all.

Wire (proto/ipc.h): a 16-byte header in host byte order (type, length
with the header, request id, flags u16, version u16 = 1), then a
payload of big-endian integers and u32-length byte strings:
  RESOLVE  u32 vc | str alias   -> u8 status | str kek_id
  GENERATE u32 vc | str kek_id  -> u8 status | str edek | str dek
  DECRYPT  u32 vc | u32 n | n x str edek -> u32 n | n x (u8 st | str dek)
Statuses: 0 OK, 1 NOT_FOUND, 2 UNAVAILABLE, 3 DENIED, 4 INVALID.
"""

import os
import select
import socket
import struct
import subprocess
import time

import krxtest

T_READY, T_KS_CHANNEL, T_KS_INIT = 1, 3, 4
T_KS_ADMIN, T_KS_ADMIN_REPLY = 5, 6
T_RESOLVE, T_GENERATE, T_DECRYPT, T_REPLY = 50, 51, 52, 54
F_ERROR, F_FD = 1, 2
HDR = struct.Struct("=IIIHH")
OK, NOT_FOUND, UNAVAILABLE, DENIED, INVALID = range(5)
KEYS_KMS_CHECK = 5


def frame(mtype, mid, payload, flags=0):
    return HDR.pack(mtype, HDR.size + len(payload), mid, flags, 1) + payload


def bstr(b):
    return struct.pack(">I", len(b)) + b


class Chan:
    """One end of a channel: whole messages in, whole messages out."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def messages(self, want, timeout):
        """Read until `want` whole messages arrived (or timeout):
        [(type, id, flags, payload)]."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < want:
            while len(self.buf) >= HDR.size:
                t, n, mid, fl, _ = HDR.unpack_from(self.buf)
                if len(self.buf) < n:
                    break
                out.append((t, mid, fl, self.buf[HDR.size:n]))
                self.buf = self.buf[n:]
            if len(out) >= want:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(out)} of {want} messages")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                b = self.sock.recv(1 << 20)
                if not b:
                    raise ConnectionError(
                        f"keysvc closed the channel after {len(out)} of "
                        f"{want} messages")
                self.buf += b
        return out


def parse_decrypt_reply(p):
    """-> [(status, dek bytes)]"""
    (n,) = struct.unpack_from(">I", p)
    pos, out = 4, []
    for _ in range(n):
        st, ln = struct.unpack_from(">BI", p, pos)
        pos += 5
        out.append((st, p[pos:pos + ln]))
        pos += ln
    assert pos == len(p), "trailing bytes in a DECRYPT reply"
    return out


def parse_resolve_reply(p):
    st, ln = struct.unpack_from(">BI", p)
    assert 5 + ln == len(p)
    return st, p[5:]


def parse_generate_reply(p):
    st, ln = struct.unpack_from(">BI", p)
    edek = p[5:5 + ln]
    (dl,) = struct.unpack_from(">I", p, 5 + ln)
    dek = p[9 + ln:9 + ln + dl]
    assert 9 + ln + dl == len(p)
    return st, edek, dek


class Keysvc:
    """keysvc run by the test. conf_text: a whole krxd configuration
    (its first virtual cluster encrypts: vc index 0)."""

    def __init__(self, workdir, conf_text, slots=8):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.conf = os.path.join(workdir, "keysvc.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.log_path = os.path.join(workdir, "keysvc.log")
        self.nslots = slots
        self.proc = None
        self.master = None
        self.workers = []
        self.next_id = 0

    def start(self, timeout=30):
        m = self._spawn()
        self.master = Chan(m)
        self.master.send(frame(T_KS_INIT, 0, os.urandom(32)))
        t, _, _, _ = self.master.messages(1, timeout)[0]
        assert t == T_READY, f"keysvc answered INIT with type {t}"
        for slot in range(self.nslots):
            mine, theirs = socket.socketpair(socket.AF_UNIX,
                                             socket.SOCK_STREAM)
            socket.send_fds(m, [frame(T_KS_CHANNEL, 0,
                                      struct.pack(">I", slot), F_FD)],
                            [theirs.fileno()])
            theirs.close()
            self.workers.append(Chan(mine))
        return self

    def start_failing(self, timeout=30):
        """Start a keysvc that must refuse its configuration: its exit
        status (78: configuration)."""
        m = self._spawn()
        try:
            rc = self.proc.wait(timeout)
        finally:
            m.close()
        self.proc = None
        self.assert_clean()
        return rc

    def _spawn(self):
        """Start the process; returns the master end of its fd 3."""
        m, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        n = child.fileno()
        log = open(self.log_path, "ab")
        try:
            # fd 3 in keysvc is our socketpair's other end, fd 4 the
            # configuration (the master writes its parsed text there).
            self.proc = subprocess.Popen(
                ["bash", "-c",
                 f'exec "$0" -K -g -c "$1" 3<&{n} {n}<&- 4<"$1"',
                 krxtest.KRXD, self.conf], pass_fds=(n,),
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=krxtest._sanitizer_env(),
                cwd=self.dir)
        finally:
            log.close()
            child.close()
        return m

    def stop(self):
        for c in self.workers:
            c.sock.close()
        self.workers = []
        if self.master is not None:
            self.master.sock.close()        # keysvc exits on EOF
            self.master = None
        if self.proc is not None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("keysvc did not exit on master EOF")
        self.assert_clean()
        return self.proc.returncode if self.proc else None

    def assert_clean(self):
        """No sanitizer report in keysvc's log."""
        text = self.log_text()
        for m in krxtest.SANITIZER_MARKERS:
            assert m not in text, f"keysvc log contains {m!r}:\n" + \
                text[max(0, text.index(m) - 500):text.index(m) + 3000]

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def _id(self):
        self.next_id += 1
        return self.next_id

    # -- bursts ----------------------------------------------------------
    def burst(self, mtype, payload, n, timeout=120):
        """n copies of one request, spread over the worker channels and
        all sent before any answer is read; returns (payloads of the n
        replies, seconds until the last one)."""
        per = [n // len(self.workers) + (1 if i < n % len(self.workers)
                                         else 0)
               for i in range(len(self.workers))]
        t0 = time.monotonic()
        for c, k in zip(self.workers, per):
            c.send(b"".join(frame(mtype, self._id(), payload)
                            for _ in range(k)))
        out = []
        for c, k in zip(self.workers, per):
            for t, _, _, p in c.messages(k, timeout):
                assert t == T_REPLY, f"reply type {t}"
                out.append(p)
        return out, time.monotonic() - t0

    def decrypt_burst(self, edek, n, vc=0, timeout=120):
        """-> ([(status, dek)] of n concurrent DECRYPTs of edek, secs)"""
        payload = struct.pack(">II", vc, 1) + bstr(edek)
        reps, secs = self.burst(T_DECRYPT, payload, n, timeout)
        out = []
        for p in reps:
            r = parse_decrypt_reply(p)
            assert len(r) == 1
            out.append(r[0])
        return out, secs

    def resolve_burst(self, alias, n, vc=0, timeout=120):
        payload = struct.pack(">I", vc) + bstr(alias.encode())
        reps, secs = self.burst(T_RESOLVE, payload, n, timeout)
        return [parse_resolve_reply(p) for p in reps], secs

    def generate(self, kek, vc=0, timeout=60):
        payload = struct.pack(">I", vc) + bstr(kek.encode())
        reps, _ = self.burst(T_GENERATE, payload, 1, timeout)
        return parse_generate_reply(reps[0])

    def kms_check(self, kek, timeout=60):
        """krx-ctl kms check through the master channel: (code, text)."""
        payload = struct.pack(">B", KEYS_KMS_CHECK) + bstr(b"") + \
            bstr(kek.encode())
        mid = self._id()
        self.master.send(frame(T_KS_ADMIN, mid, payload))
        while True:
            t, rid, _, p = self.master.messages(1, timeout)[0]
            if t == T_KS_ADMIN_REPLY and rid == mid:
                return p[0], p[1:].decode(errors="replace")
