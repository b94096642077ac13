"""The metrics listener (metrics = { listen = ...; }): the master binds it,
the workers serve it with evhttp (worker/httpd.c).

- GET /metrics answers Prometheus text 0.0.4 (exact Content-Type) that
  prometheus_client parses, with krx_generation; HEAD the same headers
  without a body; / and /index.html the HTML status page; /healthz "ok";
  other paths 404, other methods 405 with Allow; request bodies refused.
- Hostile clients: oversized or too many headers are refused and Kafka
  is still served; 200 idle connections neither stop /metrics for others
  (the oldest idle ones are shed over 64 per worker) nor Kafka; a client
  trickling header bytes is closed by the 5 s request deadline, although
  each byte comes well within evhttp's idle timeout.
- Reloads: polling /metrics with fresh connections through two reloads
  sees no refused or failed request; a changed listen moves it (the new
  address answers, the old one refuses once the old generation is gone).
- A worker killed with SIGKILL: /metrics is still served.
"""

import http.client
import os
import signal
import socket
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

import krxtest
import reloadtest

CTYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_conf(port):
    return f'metrics = {{ listen = "127.0.0.1:{port}"; }};\n'


def start(krxd_factory, workers=2):
    port = krxtest.free_port_range(1, "127.0.0.1")
    k = krxd_factory.make(start=False, workers=workers,
                          extra=metrics_conf(port), log_level="info")
    k.metrics_port = port
    k.start()
    krxtest.wait_for(lambda: krxtest.tcp_accepts("127.0.0.1", port), 10,
                     "metrics port accepting")
    return k


def request(port, method="GET", path="/metrics", body=None, headers=None,
            timeout=5):
    """One request on a fresh connection: (status, headers, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.headers, r.read()
    finally:
        c.close()


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def kafka_served(krxd, timeout=20):
    """Kafka through krxd: a metadata request answers."""
    a = AdminClient({"bootstrap.servers": krxd.bootstrap,
                     "socket.timeout.ms": 10000, "log_level": 3})
    md = a.list_topics(timeout=timeout)
    assert md.brokers, "no brokers in metadata through krxd"


def raw_exchange(port, data, timeout=8):
    """Send data on a raw connection, read until EOF or timeout; the
    status code of the answer, or None without one."""
    s = krxtest.raw_connect(port)
    try:
        s.sendall(data)
        s.settimeout(timeout)
        got = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                got += b
                if b"\r\n\r\n" in got:
                    break
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    if not got.startswith(b"HTTP/1."):
        return None
    return int(got.split(b" ", 2)[1])


def test_metrics_page_and_errors(krxd_factory):
    k = start(krxd_factory)
    p = k.metrics_port
    st, h, body = request(p)
    assert st == 200
    assert h["Content-Type"] == CTYPE
    fams = families(body.decode())
    assert "krx_generation" in fams, sorted(fams)
    gen = [s.value for s in fams["krx_generation"].samples]
    assert gen == [k.status()["generation"]]

    st, h, body = request(p, "HEAD")
    assert st == 200 and body == b""
    assert h["Content-Type"] == CTYPE and int(h["Content-Length"]) > 0

    for path in ("/", "/index.html"):
        st, h, body = request(p, path=path)
        assert st == 200 and h["Content-Type"].startswith("text/html")
        assert b"<html" in body.lower()
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    st, _, body = request(p, path="/healthz")
    assert (st, body) == (200, b"ok\n")
    st, _, _ = request(p, path="/metrics?x=1")
    assert st == 200

    for path in ("/nope", "/metrics/", "/index.htm", "//metrics"):
        assert request(p, path=path)[0] == 404, path
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        st, h, _ = request(p, method)
        assert st == 405, method
        assert h["Allow"] == "GET, HEAD"
    st, _, _ = request(p, "POST", body=b"x" * 100)
    assert st in (405, 413)
    # An unknown method or a broken request line is refused.
    st = raw_exchange(p, b"BREW /metrics HTTP/1.1\r\n\r\n")
    assert st is None or st >= 400, st
    assert request(p)[0] == 200


def test_oversized_headers_refused(krxd_factory):
    k = start(krxd_factory)
    p = k.metrics_port
    big = b"X-Big: " + b"a" * 16384 + b"\r\n"
    st = raw_exchange(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + big +
                      b"\r\n")
    assert st is None or st >= 400, st
    long_line = b"GET /" + b"m" * 16384 + b" HTTP/1.1\r\n\r\n"
    st = raw_exchange(p, long_line)
    assert st is None or st >= 400, st
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    st = raw_exchange(p, b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + many +
                      b"\r\n")
    assert st == 431, st
    # Endless headers: closed once the limit is reached, not buffered
    # (the socket buffers on both sides take some megabytes first).
    s = krxtest.raw_connect(p)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        sent = 0
        with pytest.raises(OSError):
            while sent < 64 * 1024 * 1024:
                s.sendall(b"X-Pad: " + b"p" * 1000 + b"\r\n")
                sent += 1009
    finally:
        s.close()
    kafka_served(k)
    assert request(p)[0] == 200


def open_idle(port, n):
    socks = []
    for _ in range(n):
        socks.append(socket.create_connection(("127.0.0.1", port),
                                              timeout=5))
    return socks


def closed_now(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_idle_connections_do_not_lock_out(krxd_factory):
    k = start(krxd_factory, workers=2)
    p = k.metrics_port
    t0 = time.monotonic()
    socks = open_idle(p, 200)
    try:
        for _ in range(5):
            st, _, _ = request(p, timeout=3)
            assert st == 200
        kafka_served(k)
        # Two workers keep at most 2 * 64: the rest were shed at once,
        # before the 5 s request deadline could close any.
        krxtest.wait_for(lambda: sum(closed_now(s) for s in socks) >=
                         200 - 2 * 64, 3, "idle connections shed")
        assert time.monotonic() - t0 < 4.5
    finally:
        for s in socks:
            s.close()
    # The deadline closes what is left.
    socks = open_idle(p, 10)
    try:
        krxtest.wait_for(lambda: all(closed_now(s) for s in socks), 10,
                         "idle connections closed by the deadline")
    finally:
        for s in socks:
            s.close()


def test_slowloris_closed(krxd_factory):
    k = start(krxd_factory, workers=1)
    s = krxtest.raw_connect(k.metrics_port)
    t0 = time.monotonic()
    closed_at = None
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        header = b"X-Slow: " + b"z" * 200 + b"\r\n"
        # One byte every 0.3 s: far below evhttp's 5 s idle timeout.
        for i in range(len(header)):
            try:
                s.sendall(header[i:i + 1])
            except OSError:
                closed_at = time.monotonic()
                break
            if closed_now(s):
                closed_at = time.monotonic()
                break
            s.setblocking(True)
            time.sleep(0.3)
            if time.monotonic() - t0 > 20:
                break
    finally:
        s.close()
    assert closed_at is not None, "a trickling client was never closed"
    assert 4 <= closed_at - t0 < 9, closed_at - t0
    assert request(k.metrics_port)[0] == 200


class Poller(threading.Thread):
    """GET /metrics on a fresh connection, again and again."""

    def __init__(self, port_fn):
        super().__init__(daemon=True)
        self.port_fn = port_fn
        self.ok = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            port = self.port_fn()
            try:
                st, h, body = request(port, timeout=10)
                if st != 200 or h["Content-Type"] != CTYPE or \
                        b"krx_generation" not in body:
                    self.errors.append(f"{port}: {st} {body[:80]!r}")
                else:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.errors.append(f"{port}: {e!r}")
            time.sleep(0.01)


def gen_served(port):
    st, _, body = request(port)
    fams = families(body.decode())
    return int(fams["krx_generation"].samples[0].value)


def test_reload_keeps_and_moves_listener(krxd_factory):
    k = start(krxd_factory, workers=2)
    old = k.metrics_port
    poller = Poller(lambda: old)
    poller.start()
    try:
        for _ in range(2):
            gen = reloadtest.reload_ok(k)
            n = poller.ok
            krxtest.wait_for(lambda: poller.ok > n + 5, 10, "polls")
    finally:
        poller.stop.set()
        poller.join(15)
    assert not poller.errors, poller.errors[:5]
    assert poller.ok > 20
    krxtest.wait_for(lambda: gen_served(old) == gen, 5, "new generation")

    new = krxtest.free_port_range(1, "127.0.0.1")
    k.extra = metrics_conf(new)
    k.write_config()
    gen = reloadtest.reload_ok(k)
    assert request(new)[0] == 200
    assert gen_served(new) == gen
    krxtest.wait_for(lambda: not krxtest.tcp_accepts("127.0.0.1", old), 10,
                     "old metrics address closed")
    with pytest.raises(ConnectionRefusedError):
        request(old)
    kafka_served(k)


def test_reload_to_busy_address_fails(krxd_factory):
    """A metrics address that cannot be bound fails the reload; the
    running generation goes on serving /metrics where it was."""
    k = start(krxd_factory, workers=1)
    gen = k.status()["generation"]
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        k.extra = metrics_conf(busy.getsockname()[1])
        k.write_config()
        r = reloadtest.ctl_reload(k)
        assert r.returncode != 0
        assert "cannot listen" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        busy.close()
    assert k.status()["generation"] == gen
    assert gen_served(k.metrics_port) == gen


def read_answer(s, timeout=5):
    """A whole HTTP answer on raw socket s, to EOF: (status, head, body)."""
    s.settimeout(timeout)
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), got[:200]
    return int(head.split(b" ", 2)[1]), head.decode().lower(), body


def test_reload_answers_open_connections(krxd_factory):
    """Connections the old workers accepted before a reload are answered
    (with Connection: close) before those workers exit."""
    k = start(krxd_factory, workers=2)
    socks = [krxtest.raw_connect(k.metrics_port) for _ in range(6)]
    try:
        r = reloadtest.ctl_reload(k)
        assert r.returncode == 0, r.stdout + r.stderr
        for s in socks:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        for s in socks:
            st, head, body = read_answer(s)
            assert st == 200 and b"krx_generation" in body
            assert "connection: close" in head
    finally:
        for s in socks:
            s.close()
    reloadtest.wait_serving(k, k.status()["generation"])


def test_worker_killed_still_served(krxd_factory):
    k = start(krxd_factory, workers=2)
    p = k.metrics_port
    victim = k.worker_pids()[0]
    k.expected_deaths.add(victim)
    os.kill(victim, signal.SIGKILL)
    for _ in range(20):
        assert request(p, timeout=5)[0] == 200
    krxtest.wait_for(lambda: victim not in k.worker_pids() and
                     all(w["state"] == "running"
                         for w in k.workers_status()) and
                     len(k.workers_status()) == 2, 20, "worker respawned")
    for _ in range(20):
        assert request(p, timeout=5)[0] == 200
