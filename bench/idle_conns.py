#!/usr/bin/env python3
"""Memory per idle client connection of a Kafka proxy.

Opens N TCP connections to a proxy's bootstrap address, sends one
ApiVersions v3 request on each and reads its answer (so every session is
fully set up, upstream connection included), keeps them all open, and
compares the summed RSS of the proxy's processes before and after.

    bench/idle_conns.py --bootstrap 127.0.0.1:PORT --pid MASTER [-n 1000]

--pid names the proxy's root process; its descendants (krxd's workers and
keysvc) are counted too. Prints one JSON object. Used by bench/bench.py.
"""

import argparse
import json
import os
import resource
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import procstat  # noqa: E402


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return soft
    new = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def api_versions_v3(corr):
    """ApiVersions v3 request frame (header v2, flexible body)."""
    client_id = b"krx-bench"
    hdr = struct.pack(">hhih", 18, 3, corr, len(client_id)) + client_id + \
        b"\x00"                                   # header tagged fields
    name, ver = b"krx-bench", b"1"
    body = bytes([len(name) + 1]) + name + bytes([len(ver) + 1]) + ver + \
        b"\x00"                                   # body tagged fields
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed by the proxy")
        out += chunk
    return bytes(out)


def open_session(host, port, corr, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(api_versions_v3(corr))
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    resp = recv_exact(s, size)
    got_corr, err = struct.unpack(">ih", resp[:6])
    if got_corr != corr or err != 0:
        s.close()
        raise RuntimeError(f"ApiVersions answer: correlation {got_corr} "
                           f"(sent {corr}), error {err}")
    return s


def established_to(port):
    """Established IPv4 TCP connections whose remote port is port (from
    /proc/net/tcp: each proxy-to-broker connection counts once)."""
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] == "01" and \
                        int(parts[2].rsplit(":", 1)[1], 16) == port:
                    n += 1
    except OSError:
        return None
    return n


def measure(bootstrap, root_pid, n=1000, settle=1.0, upstream_port=None):
    """Open n sessions; returns a dict with the RSS before and after, per
    connection, and (with upstream_port) how many connections to the
    broker were added meanwhile."""
    host, port = bootstrap.rsplit(":", 1)
    port = int(port)
    raise_nofile(n + 256)
    time.sleep(settle)
    before = procstat.rss_kib(procstat.tree(root_pid))
    up0 = established_to(upstream_port) if upstream_port else None
    socks = []
    t0 = time.monotonic()
    try:
        for i in range(n):
            socks.append(open_session(host, port, i + 1))
        setup_s = time.monotonic() - t0
        time.sleep(settle)
        pids = procstat.tree(root_pid)
        after = procstat.rss_kib(pids)
        up1 = established_to(upstream_port) if upstream_port else None
        # every connection still open (none closed by the proxy meanwhile)
        alive = 0
        for s in socks:
            s.setblocking(False)
            try:
                alive += 0 if s.recv(1) == b"" else 1
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
    finally:
        for s in socks:
            s.close()
    return {"connections": n, "alive": alive, "processes": len(pids),
            "rss_before_kib": before, "rss_after_kib": after,
            "per_conn_kib": (after - before) / n, "setup_s": setup_s,
            "upstream_added": None if up0 is None or up1 is None
            else up1 - up0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--upstream-port", type=int, default=None,
                    help="broker port: count the connections made to it")
    a = ap.parse_args(argv)
    print(json.dumps(measure(a.bootstrap, a.pid, a.n,
                             upstream_port=a.upstream_port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
