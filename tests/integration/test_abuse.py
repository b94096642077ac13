"""Abuse suite (issue 9): hostile clients against an encrypting krxd.

One krxd with record encryption (LocalKms, a KEK for the round-trip topic)
and 2 workers serves every phase (module-scoped fixture); each phase is a
test of its own, so a failure names it:

- idle: thousands of connections that never send a byte (no broker
  connection is opened for them);
- slowloris: frames trickled a byte at a time (request_timeout ends them);
- frame sizes: negative, above max_frame_bytes, above
  max_frame_bytes_unauthenticated before the broker answered;
- garbage: random bytes;
- framed garbage: a valid size and request header for every API key krx
  knows (a supported version where there is one) and a random body;
- lying batches: Produce with recordsCount -1 and 2^31-1, and batch
  lengths that do not match;
- EDEK sizes: records planted at the broker carrying the encryption header
  with huge EDEKs, fetched through krxd;
- clients that never read (ApiVersions v99 spam, finding 3);
- stalled frames: 12 clients send 90 MiB of a 100 MiB frame, then stall
  (worker_buffer_bytes, finding 4).

After each phase a confluent-kafka producer and consumer complete an
encrypted round trip through krxd, no worker or keysvc was restarted (same
pids), the master runs, and krxd's total RSS (master + workers + keysvc,
VmRSS) stays under the bound the phase states. A watchdog kills krxd if
its RSS passes WATCHDOG_RSS, so a regression fails the phase instead of
exhausting the machine.
"""

import os
import random
import resource
import signal
import socket
import struct
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

import enctest
import krxtest
import tools

MiB = 1024 * 1024
WORKERS = 2
IDLE = 3000
MAX_FRAME = 100 * MiB
REQUEST_TIMEOUT = 6
HANDSHAKE_TIMEOUT = 12

SLACK = krxtest.RSS_SLACK
RSS_BOUND = 300 * MiB * SLACK          # every phase but the stalled frames
STALL_RSS_BOUND = 400 * MiB * SLACK
WATCHDOG_RSS = 1536 * MiB * SLACK
LIMITS = (f"max_connections = {IDLE + 2000};\n"
          f"max_connections_per_client_address = {IDLE + 2000};\n"
          f"request_timeout = {REQUEST_TIMEOUT};\n"
          f"handshake_timeout = {HANDSHAKE_TIMEOUT};\n")


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api_key, version, body, corr=1, client="abuse"):
    msg = struct.pack(">hhi", api_key, version, corr) + _str(client) + body
    return struct.pack(">i", len(msg)) + msg


def vm_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def api_versions(s):
    """ApiVersions v0 on a raw socket: the broker answers, so the
    connection is past its pre-authentication phase."""
    s.sendall(request(18, 0, b""))
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    recv_exact(s, n)


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError("closed")
        out += b
    return bytes(out)


def is_closed(s):
    """True when krxd closed s (EOF or reset); data is discarded."""
    s.setblocking(False)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def wait_all_closed(socks, timeout):
    deadline = time.monotonic() + timeout
    left = list(socks)
    while left and time.monotonic() < deadline:
        left = [s for s in left if not is_closed(s)]
        if left:
            time.sleep(0.1)
    return left


class Abused:
    """The shared krxd, its pids, and the after-phase checks."""

    def __init__(self, kafka, krxd, topic):
        self.kafka = kafka
        self.krxd = krxd
        self.topic = topic
        # the bootstrap port and the port of broker 1, the only broker
        self.ports = [krxd.bootstrap_port, krxd.node_port(1)]
        self.pids = self.child_pids()
        self.rss = {}
        self.killed = None
        self.stop = threading.Event()
        self.peak = 0
        self.dog = threading.Thread(target=self.watchdog, daemon=True)
        self.dog.start()

    def child_pids(self):
        st = self.krxd.status()
        return sorted((c["kind"], c["slot"], c["pid"])
                      for c in st["children"])

    def total_rss(self):
        pid = self.krxd.pid
        return vm_rss(pid) + sum(vm_rss(c) for c in children(pid))

    def watchdog(self):
        while not self.stop.wait(0.1):
            r = self.total_rss()
            self.peak = max(self.peak, r)
            if r > WATCHDOG_RSS and self.killed is None:
                self.killed = r
                for c in children(self.krxd.pid):
                    try:
                        os.kill(c, signal.SIGKILL)
                    except ProcessLookupError:
                        pass

    def worker_rchar(self):
        """Bytes the workers have read (/proc/PID/io rchar)."""
        n = 0
        for kind, _, pid in self.pids:
            if kind != "worker":
                continue
            with open(f"/proc/{pid}/io") as f:
                for line in f:
                    if line.startswith("rchar:"):
                        n += int(line.split()[1])
        return n

    def reset_peak(self):
        self.peak = self.total_rss()

    def round_trip(self, tag):
        """Produce one record through krxd and read it back through it."""
        got = {}

        def delivered(err, msg):
            got["err"], got["off"] = err, msg.offset() if msg else None

        v = f"{tag}-{time.time()}".encode()
        p = Producer({"bootstrap.servers": self.krxd.bootstrap,
                      "log_level": 3, "linger.ms": 0,
                      "message.timeout.ms": 30000})
        p.produce(self.topic, key=tag.encode(), value=v, partition=0,
                  on_delivery=delivered)
        assert p.flush(40) == 0, f"{tag}: round trip record not delivered"
        assert got.get("err") is None, f"{tag}: {got}"
        c = Consumer({"bootstrap.servers": self.krxd.bootstrap,
                      "group.id": f"abuse-{tag}", "log_level": 3,
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(self.topic, 0, got["off"])])
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                assert not m.error(), f"{tag}: {m.error()}"
                assert m.value() == v, f"{tag}: read back {m.value()!r}"
                return
            raise AssertionError(f"{tag}: round trip record not consumed")
        finally:
            c.close()

    def after(self, phase, bound=RSS_BOUND):
        """The checks every phase ends with."""
        assert self.killed is None, (
            f"{phase}: krxd RSS reached {self.killed >> 20} MiB; killed")
        self.krxd.assert_running()
        peak = max(self.peak, self.total_rss())
        self.rss[phase] = peak
        print(f"\n[abuse] {phase}: peak krxd RSS {peak / MiB:.1f} MiB "
              f"(bound {bound >> 20} MiB)")
        assert peak < bound, (f"{phase}: krxd RSS {peak >> 20} MiB over "
                              f"{bound >> 20} MiB")
        t0 = time.monotonic()
        self.round_trip(phase)
        print(f"[abuse] {phase}: round trip in "
              f"{time.monotonic() - t0:.1f} s")
        now = self.child_pids()
        before, self.pids = self.pids, now     # later phases start afresh
        assert now == before, (f"{phase}: a worker or keysvc was "
                               f"restarted: {before} -> {now}")


@pytest.fixture(scope="module")
def abuse(kafka, tmp_path_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 3 * IDLE + 1024)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < 2 * IDLE + 512:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} too low")
    tmp = tmp_path_factory.mktemp("abuse")
    extra, vc = enctest.enc_config(str(tmp / "keks"), str(tmp / "dekcache"))
    k = krxtest.Krxd(str(tmp / "krxd"), kafka.bootstrap, workers=WORKERS,
                     log_level="info", extra=extra + LIMITS, vc_extra=vc)
    k.start()
    topic = f"abuse-{os.getpid()}-{int(time.time() * 1000) % 1000000}"
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(k, "create", f"KEK-{topic}")
    a = Abused(kafka, k, topic)
    try:
        yield a
    finally:
        a.stop.set()
        print("\n[abuse] peak RSS per phase (MiB): " + ", ".join(
            f"{p} {r / MiB:.0f}" for p, r in a.rss.items()))
        try:
            k.stop()
        finally:
            k.kill()
        problems = k.problems()
        if problems:
            pytest.fail("\n\n".join(problems), pytrace=False)


def test_baseline(abuse):
    """The round trip works and is encrypted at the broker."""
    abuse.reset_peak()
    abuse.round_trip("baseline")
    raw = enctest.KafkaConn(abuse.kafka.host, abuse.kafka.port)
    try:
        batches = enctest.fetch_all(raw, abuse.topic)
    finally:
        raw.close()
    recs = [r for b in batches for r in b["records"]]
    assert recs and all(not r["value"].startswith(b"baseline")
                        for r in recs), "values are in clear at the broker"
    abuse.after("baseline")


def test_idle_connections(abuse):
    """IDLE connections that never send: accepted, cheap, and no broker
    connection for any of them."""
    abuse.reset_peak()
    k = abuse.krxd
    ports = k.ports
    workers = [p for kind, _, p in abuse.pids if kind == "worker"]
    socks = []
    try:
        for i in range(IDLE):
            socks.append(connect(ports[i % len(ports)]))

        def accepted():
            n = up = 0
            for w in workers:
                for lp, rp in krxtest.established_ports(w):
                    n += lp in ports
                    up += rp == abuse.kafka.port
            return (n, up) if n >= IDLE else None
        n, up = krxtest.wait_for(accepted, 60, "krxd to accept the idle "
                                 "connections")
        print(f"\n[abuse] idle: {n} client sockets, {up} broker sockets")
        assert up < 50, f"{up} broker connections for idle clients"
        abuse.after("idle")
    finally:
        for s in socks:
            s.close()


def test_slowloris(abuse):
    """Frames trickled a byte at a time are closed by request_timeout,
    before and after the broker answered ApiVersions."""
    abuse.reset_peak()
    start = abuse.krxd.log_size()
    socks = []
    for i in range(100):
        s = connect(abuse.krxd.bootstrap_port)
        if i % 2:
            api_versions(s)
        s.sendall(struct.pack(">i", 4000))
        socks.append(s)
    deadline = time.monotonic() + REQUEST_TIMEOUT + 6
    alive = list(socks)
    while alive and time.monotonic() < deadline:
        nxt = []
        for s in alive:
            try:
                s.send(b"\0")
            except OSError:
                continue
            if not is_closed(s):
                nxt.append(s)
        alive = nxt
        time.sleep(0.5)
    for s in socks:
        s.close()
    assert not alive, f"{len(alive)} slowloris connections still open"
    abuse.krxd.wait_log(r"request_timeout", start=start)
    abuse.after("slowloris")


SIZES = {
    "negative": (-1, "negative frame size"),
    "min_int": (-2 ** 31, "negative frame size"),
    "over_max": (MAX_FRAME + 1, "exceeds max_frame_bytes"),
    "max_int": (2 ** 31 - 1, "exceeds max_frame_bytes"),
    "over_unauth": (600 * 1024, "exceeds max_frame_bytes_unauthenticated"),
}


def test_frame_sizes(abuse):
    abuse.reset_peak()
    start = abuse.krxd.log_size()
    socks = []
    for name, (size, _) in SIZES.items():
        for i in range(20):
            s = connect(abuse.ports[i % 2])
            s.sendall(struct.pack(">i", size) + os.urandom(64))
            socks.append(s)
    left = wait_all_closed(socks, 10)
    for s in socks:
        s.close()
    assert not left, f"{len(left)} connections with bad sizes still open"
    log = abuse.krxd.log_text()[start:]
    for name, (_, msg) in SIZES.items():
        assert msg in log, f"{name}: no {msg!r} in the log"
    abuse.after("frame_sizes")


def test_garbage(abuse):
    abuse.reset_peak()
    rnd = random.Random(9)
    socks = []
    for i in range(100):
        s = connect(abuse.ports[i % 2])
        try:
            s.sendall(rnd.randbytes(rnd.randrange(1, 65536)))
        except OSError:
            pass
        socks.append(s)
    # Random sizes are mostly too large or negative; the rest wait for
    # bytes that never come: request_timeout.
    left = wait_all_closed(socks, REQUEST_TIMEOUT + 5)
    for s in socks:
        s.close()
    assert not left, f"{len(left)} garbage connections still open"
    abuse.after("garbage")


def test_framed_garbage(abuse):
    """A valid size and header for every API key krx knows, with a
    supported version, and a random body; keys it does not know too."""
    abuse.reset_peak()
    rnd = random.Random(99)
    c = enctest.KafkaConn(abuse.krxd.host, abuse.krxd.bootstrap_port)
    try:
        err, apis = c.api_versions()
    finally:
        c.close()
    assert err == 0 and 0 in apis and 1 in apis, apis
    cases = []
    for key in range(0, max(apis) + 8):
        lo, hi = apis.get(key, (0, 0))
        for v in sorted({lo, (lo + hi) // 2, hi}):
            for _ in range(2):
                cases.append((key, v))
    socks = []
    for i, (key, v) in enumerate(cases):
        s = connect(abuse.ports[i % 2])
        try:
            if i % 2:
                api_versions(s)
            body = rnd.randbytes(rnd.randrange(0, 300))
            s.sendall(request(key, v, body, corr=i))
        except OSError:
            pass
        socks.append(s)
    print(f"\n[abuse] framed garbage: {len(cases)} requests, "
          f"{len(apis)} API keys known")
    left = wait_all_closed(socks, 3)
    for s in socks:
        s.close()
    print(f"[abuse] framed garbage: {len(socks) - len(left)} connections "
          f"closed by krxd or the broker, {len(left)} answered and open")
    abuse.after("framed_garbage")


def lying_batch(count, length_delta=0):
    b = bytearray(enctest.encode_batch([(b"k", b"lying value", None)] * 2))
    # recordsCount at offset 57; CRC over bytes 21.. (attributes onwards)
    struct.pack_into(">i", b, 57, count)
    struct.pack_into(">i", b, 8, len(b) - 12 + length_delta)
    struct.pack_into(">I", b, 17, enctest.crc32c(bytes(b[21:])))
    return bytes(b)


def test_lying_batches(abuse):
    """Produce with recordsCount -1 and 2^31-1 and batch lengths that do
    not match (issue 9, finding 1): an error or a closed connection,
    quickly, and the worker stays."""
    abuse.reset_peak()
    batches = {
        "count_minus_1": lying_batch(-1),
        "count_max": lying_batch(2 ** 31 - 1),
        "count_zero": lying_batch(0),
        "length_long": lying_batch(2, 1000),
        "length_short": lying_batch(2, -20),
        "length_negative": lying_batch(2, -10 ** 6),
    }
    for name, batch in batches.items():
        for topic in (abuse.topic, abuse.topic + "-clear"):
            c = enctest.KafkaConn(abuse.krxd.host, abuse.krxd.node_port(1),
                                  timeout=20)
            try:
                res = c.produce({topic: {0: batch}})
                err = res.get((topic, 0), (None,))[0]
                assert err != 0, f"{name} to {topic}: accepted"
            except ConnectionError:
                pass        # closed by krxd or the broker: fine
            except socket.timeout:
                raise AssertionError(f"{name} to {topic}: no answer in "
                                     "20 s")
            finally:
                c.close()
    abuse.after("lying_batches")


def put_uvarint(v):
    return enctest.put_uvarint(v)


def edek_value(edek_len, claimed=None):
    """A wrapper v2 value whose EDEK claims edek_len (or claimed) bytes."""
    edek = b"\x01" + put_uvarint(5) + b"KEK-x" + os.urandom(
        max(0, edek_len - 7))
    return (b"\x00" + put_uvarint(claimed if claimed is not None else
                                  len(edek)) + edek + b"\x00" +
            os.urandom(12) + os.urandom(40))


def test_edek_sizes(abuse):
    """Records planted at the broker with the encryption header and huge
    EDEKs (issue 9, finding 2) are fetched through krxd repeatedly."""
    abuse.reset_peak()
    topic = abuse.topic + "-edek"
    tools.create_topics(abuse.kafka.bootstrap, {topic: 1})
    hdr = ((enctest.ENC_HEADER, b"\x02"),)
    recs = [(b"k5000", edek_value(5000), hdr),
            (b"k70000", edek_value(70000), hdr),
            (b"k-claims", edek_value(100, claimed=2 ** 31 - 1), hdr)]
    direct = enctest.KafkaConn(abuse.kafka.host, abuse.kafka.port)
    try:
        res = direct.produce({topic: {0: enctest.encode_batch(recs)}})
        assert res[(topic, 0)][0] == 0, res
    finally:
        direct.close()
    for i in range(6):
        c = enctest.KafkaConn(abuse.krxd.host, abuse.krxd.node_port(1),
                              timeout=20)
        try:
            _, out = c.fetch({topic: {0: 0}})
            print(f"\n[abuse] edek fetch {i}: error "
                  f"{out[(topic, 0)]['error']}")
        except ConnectionError:
            pass
        finally:
            c.close()
    abuse.after("edek_sizes")


def test_never_reading_clients(abuse):
    """Clients that stream ApiVersions v99 and never read (finding 3):
    krxd stops reading them; its memory stays bounded."""
    abuse.reset_peak()
    # 15 bytes: ApiVersions v99, flexible header, empty client id and tags
    req = struct.pack(">ihhih", 11, 18, 99, 7, 0) + b"\0"
    chunk = req * (65536 // len(req))
    socks = [connect(abuse.krxd.bootstrap_port) for _ in range(20)]
    for s in socks:
        s.setblocking(False)
    sent = [0] * len(socks)
    marks = {}
    rchar0 = abuse.worker_rchar()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 6:
        progress = False
        for i, s in enumerate(socks):
            try:
                sent[i] += s.send(chunk)
                progress = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pass
        el = time.monotonic() - t0
        if el > 3 and "3s" not in marks:
            marks["3s"] = sum(sent)
        if not progress:
            time.sleep(0.05)
    marks["6s"] = sum(sent)
    print(f"\n[abuse] never reading: {marks['6s'] / MiB:.1f} MiB of "
          f"requests sent by 20 clients ({marks['3s'] / MiB:.1f} MiB at 3 s)")
    read = abuse.worker_rchar() - rchar0
    print(f"[abuse] never reading: the workers read {read / MiB:.1f} MiB")
    try:
        # krxd stops reading a client once KRX_HIGH_WATER (4 MiB) of
        # answers wait for it: some 3 MiB of requests each.
        assert read < 20 * 6 * MiB, f"workers read {read >> 20} MiB"
        abuse.after("never_reading")
    finally:
        for s in socks:
            s.close()


def test_stalled_frames(abuse):
    """12 clients send 90 MiB of a 100 MiB frame and stall (finding 4):
    worker_buffer_bytes holds krxd's memory."""
    abuse.reset_peak()
    size = MAX_FRAME - 64
    body = bytes(1 * MiB)
    goal = 90 * MiB
    socks, sent = [], []
    for i in range(12):
        s = connect(abuse.ports[i % 2])
        api_versions(s)
        s.sendall(struct.pack(">ihhi", size, 0, 7, 1) + _str("stall"))
        s.setblocking(False)
        socks.append(s)
        sent.append(0)
    closed = set()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        progress = False
        for i, s in enumerate(socks):
            if i in closed or sent[i] >= goal:
                continue
            try:
                sent[i] += s.send(body[:min(len(body), goal - sent[i])])
                progress = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed.add(i)
        if all(i in closed or sent[i] >= goal for i in range(12)):
            break
        if not progress:
            time.sleep(0.02)
    full = sum(1 for x in sent if x >= goal)
    print(f"\n[abuse] stalled frames: {full} of 12 clients sent 90 MiB, "
          f"{len(closed)} closed by krxd, {sum(sent) / MiB:.0f} MiB sent")
    time.sleep(0.5)
    for s in socks:
        s.close()
    # Frames wait for room in worker_buffer_bytes, and request_timeout
    # ends those that do not complete, reserved or waiting.
    assert full >= 1, "krxd read no large frame at all"
    abuse.after("stalled_frames", STALL_RSS_BOUND)
