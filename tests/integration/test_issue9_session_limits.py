"""Issue 9, finding 4: per-worker connection limits, timeouts, the small
frame cap before authentication, and broker connections opened only for
a request. One krxd with one worker and small limits:

- max_connections_per_client_address = 4 and max_connections = 6: the
  connection over the limit is closed at once, and the log says so (once
  per 10 s, with a count);
- handshake_timeout: a connection that never gets a broker answer is
  closed; idle_timeout: one with nothing in flight is closed;
  request_timeout: a frame started and not finished is closed;
- max_frame_bytes_unauthenticated: a 600 KiB frame before the broker
  answered closes the connection; after ApiVersions it is forwarded;
- a connection with no complete request has no broker connection; the
  first request opens one.
"""

import os
import socket
import struct
import time

import pytest

import krxtest

LIMITS = ("max_connections = 6;\n"
          "max_connections_per_client_address = 4;\n"
          "handshake_timeout = 3;\n"
          "idle_timeout = 3;\n"
          "request_timeout = 2;\n")


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api_key, version, body, corr=1):
    msg = struct.pack(">hhi", api_key, version, corr) + _str("limits") + body
    return struct.pack(">i", len(msg)) + msg


def api_versions(s):
    s.sendall(request(18, 0, b""))
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, n)


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError("closed by krxd")
        out += b
    return bytes(out)


@pytest.fixture
def limited(krxd_factory):
    k = krxd_factory.make(workers=1, extra=LIMITS)
    # The readiness probes' connections must be gone: they count.
    w = k.worker_pids()[0]
    krxtest.wait_for(lambda: client_sockets(w, k.ports) == 0, 10,
                     "krxd to drop the readiness probes' connections")
    return k


def client_sockets(pid, ports):
    """pid's TCP sockets on one of ports in any state but LISTEN (a
    client that closed first leaves CLOSE_WAIT until krxd closes)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    n = 0
    for tbl in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(tbl) as f:
            for r in f.read().splitlines()[1:]:
                c = r.split()
                if c[3] != "0A" and c[9] in inodes and \
                        int(c[1].rsplit(":", 1)[1], 16) in ports:
                    n += 1
    return n


def broker_sockets(krxd, kafka):
    w = krxd.worker_pids()[0]
    return sum(1 for _, rp in krxtest.established_ports(w)
               if rp == kafka.port)


def test_connection_limits(limited):
    """Issue 9, finding 4: max_connections_per_client_address, then
    max_connections, per worker."""
    k = limited
    start = k.log_size()
    socks = [krxtest.raw_connect(k.bootstrap_port) for _ in range(4)]
    for s in socks:
        api_versions(s)             # all four are served
    extra = krxtest.raw_connect(k.bootstrap_port)
    assert krxtest.wait_closed(extra, 5), "fifth connection from "\
        "127.0.0.1 not closed"
    k.wait_log(r"refused 1 connection: max_connections_per_client_address "
               r"\(4\) reached", start=start)
    # Two more from another loopback address reach max_connections (6).
    other = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", k.bootstrap_port), 5,
                                     source_address=("127.0.0.2", 0))
        api_versions(s)
        other.append(s)
    s = socket.create_connection(("127.0.0.1", k.bootstrap_port), 5,
                                 source_address=("127.0.0.3", 0))
    assert krxtest.wait_closed(s, 5), "seventh connection not closed"
    for s in socks + other:
        s.close()
    # Closed connections free their places.
    krxtest.wait_for(lambda: _served(k), 10, "a connection served again")


def _served(k):
    s = krxtest.raw_connect(k.bootstrap_port)
    try:
        api_versions(s)
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_timeouts(limited):
    """handshake_timeout, idle_timeout and request_timeout close the
    connection with a log line naming the setting."""
    k = limited
    start = k.log_size()
    silent = krxtest.raw_connect(k.bootstrap_port)      # never authed
    idle = krxtest.raw_connect(k.bootstrap_port)
    api_versions(idle)
    slow = krxtest.raw_connect(k.bootstrap_port)
    api_versions(slow)
    slow.sendall(struct.pack(">i", 100) + b"\0\x12")    # 2 bytes of 100
    t0 = time.monotonic()
    assert krxtest.wait_closed(slow, 6), "partial frame not closed"
    t_slow = time.monotonic() - t0
    assert krxtest.wait_closed(silent, 6), "silent connection not closed"
    assert krxtest.wait_closed(idle, 6), "idle connection not closed"
    assert 1 <= t_slow <= 4, t_slow
    k.wait_log(r"request not received within request_timeout \(2 s",
               start=start)
    k.wait_log(r"within handshake_timeout \(3 s\)", start=start)
    k.wait_log(r"idle for idle_timeout \(3 s\)", start=start)


def test_small_frames_before_authentication(kafka, limited):
    """A 600 KiB frame before the broker answered anything closes the
    connection; after ApiVersions the same frame goes to the broker."""
    k = limited
    start = k.log_size()
    big = request(3, 1, b"\0" * (600 * 1024))      # Metadata, oversized
    s = krxtest.raw_connect(k.bootstrap_port)
    s.sendall(big[:4096])
    assert krxtest.wait_closed(s, 5)
    k.wait_log(r"exceeds max_frame_bytes_unauthenticated 524288 \(before "
               r"the broker answered\)", start=start)
    s = krxtest.raw_connect(k.bootstrap_port)
    api_versions(s)
    s.sendall(big)
    # The broker, not krxd, judges it now (it closes on the bad body).
    krxtest.wait_closed(s, 3)
    log = k.log_text()[start:]
    assert log.count("max_frame_bytes_unauthenticated") == 1, log[-2000:]


def test_broker_connected_at_first_request(kafka, limited):
    """Connections without a complete request cost no broker socket."""
    k = limited
    socks = [krxtest.raw_connect(k.bootstrap_port) for _ in range(3)]
    socks[1].sendall(b"\0\0")       # half a size prefix
    w = k.worker_pids()[0]
    krxtest.wait_for(lambda: sum(1 for lp, _ in krxtest.established_ports(w)
                                 if lp == k.bootstrap_port) == 3, 10,
                     "krxd to accept the connections")
    assert broker_sockets(k, kafka) == 0
    api_versions(socks[2])
    assert broker_sockets(k, kafka) == 1
    for s in socks:
        s.close()
