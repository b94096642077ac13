"""Shared machinery of the KMS test doubles (vault_double.py, azure_double.py).

A double is an HTTPS (or plain HTTP) server on loopback, built on the
standard library's http.server with TLS from the ssl module, HTTP/1.1 with
keep-alive. Besides the service's own API (a subclass's route()), every
double serves test-only control endpoints under /_double/ (no auth; they
are not part of any real service):

  GET  /_double/stats          counters: {"requests", "calls": {endpoint: n},
                               "status": {endpoint: {"200": n, ...}},
                               "tls_handshake_failures", "tls_errors": [...],
                               "outage_refusals", "log": [last 200 requests]}
  POST /_double/reset-stats
  POST /_double/delay          {"seconds": S[, "endpoint": E]}  (0 clears)
  POST /_double/fail           {"endpoint": E, "status": N[, "count": n]}
                               the next n calls of E get an error of status N
                               in the service's shape (status 0: the
                               connection is closed without a response)
  POST /_double/outage         {"mode": "refuse"|"503"|"hang"|"reset"[, "seconds": S]}
                               refuse: the listener closes (connection
                               refused) and open connections are cut; it
                               reopens on the same port after S seconds
                               (or on POST-less recover(): SIGUSR2 / Python)
                               503: every call gets the service's 503
                               hang: requests are read, never answered,
                               the connection dropped when the outage ends
                               reset: connections are reset after the request
  POST /_double/recover        end any outage but "refuse"
  POST /_double/expire-tokens  every issued/static token is now expired
  GET  /_double/keys           the key state (names, versions; no material)
  plus the subclass's own (see control()).

The same things are methods of the Python object (stats(), reset_stats(),
calls(), set_delay(), fail_next(), outage(), recover(), expire_tokens(),
start(), stop()). stop() then start() keeps the state and the port.
"""

import base64
import copy
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlsca  # noqa: E402

DROP = "drop"      # close the connection without a response
RESET = "reset"    # close the connection with a TCP reset
LOG_KEEP = 200
MAX_BODY = 1 << 20


def b64(data):
    return base64.b64encode(data).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(s):
    """Strict base64url without padding (RFC 7515 §2): anything else raises
    ValueError."""
    if not isinstance(s, str) or s == "":
        raise ValueError("empty or not a string")
    for ch in s:
        if not (ch.isascii() and (ch.isalnum() or ch in "-_")):
            raise ValueError(f"character {ch!r} is not base64url")
    if len(s) % 4 == 1:
        raise ValueError("impossible base64url length")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Response:
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body
        self.headers = headers or {}


class HttpError(Exception):
    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


class Request:
    def __init__(self, method, target, headers, body, client_cert=None):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.raw_path = u.path
        self.raw_query = u.query
        # path segments, percent-decoded one by one; empty ones (//) dropped
        self.segments = [urllib.parse.unquote(s) for s in u.path.split("/") if s != ""]
        self.path = "/" + "/".join(self.segments)
        self.query = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.client_cert = client_cert

    def header(self, name):
        return self.headers.get(name)

    def json_body(self, allow_empty=True):
        """The body as a JSON object; {} for an empty body if allowed. Raises
        ValueError with a message on anything else."""
        if not self.body or not self.body.strip():
            if allow_empty:
                return {}
            raise ValueError("empty body")
        obj = json.loads(self.body.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("the JSON body is not an object")
        return obj

    def form_body(self):
        return urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if self.double.verbose:
            traceback.print_exc()


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "krx-kms-double"
    sys_version = ""
    timeout = 120

    def setup(self):
        d = self.server.double
        self.tls_failed = False
        self.client_cert = None
        if d.ssl_context is not None:
            self.request.settimeout(10)
            try:
                self.request = d.ssl_context.wrap_socket(self.request, server_side=True)
                self.client_cert = self.request.getpeercert() or None
            except (ssl.SSLError, OSError) as e:
                d._note_tls_failure(e)
                self.tls_failed = True
        d._track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.double._track(self.request, False)

    def handle(self):
        if self.tls_failed:
            return
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            pass

    def log_message(self, fmt, *args):
        if self.server.double.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.double.name, fmt % args))

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline(16)
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        d = self.server.double
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self.send_error(400)
            return
        req = Request(self.command, self.path, self.headers, body, self.client_cert)
        resp = d._handle(req)
        if resp is DROP or resp is RESET:
            self.close_connection = True
            if resp is RESET:
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                except OSError:
                    pass
            return
        self._send(resp)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_LIST = _dispatch

    def _send(self, resp):
        if isinstance(resp.body, (dict, list)):
            data = json.dumps(resp.body).encode()
            ctype = "application/json; charset=utf-8"
        elif isinstance(resp.body, str):
            data = resp.body.encode()
            ctype = "text/plain; charset=utf-8"
        else:
            data = resp.body or b""
            ctype = "application/octet-stream"
        self.send_response(resp.status)
        hdrs = dict(resp.headers)
        if resp.status != 204:
            if data and "Content-Type" not in hdrs:
                hdrs["Content-Type"] = ctype
            hdrs["Content-Length"] = str(len(data))
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and resp.status != 204:
            self.wfile.write(data)
        self.wfile.flush()


class DoubleBase:
    """Common lifecycle, TLS, counters, delay, failure injection, outages.

    Subclasses set `name` and implement route(req) -> (endpoint, fn) where
    fn(req) -> Response (raising HttpError for errors), error(status, msg)
    -> Response in the service's error shape, unavailable() -> Response
    (the service's 503), key_summary() -> dict, and optionally control(req)
    for their own /_double/ endpoints and state() / load_state(dict) for
    persistence to state_file."""

    name = "double"

    def __init__(self, dir=None, host="127.0.0.1", port=0, tls=True, cert_name="server",
                 certfile=None, keyfile=None, client_ca=None, delay=0.0,
                 state_file=None, port_file=None, verbose=False):
        self.dir = os.path.abspath(dir) if dir else None
        self.host = host
        self.port = port
        self.port_file = port_file
        self.state_file = state_file
        self.verbose = verbose
        self.tls = tls
        self.pki = None
        self.ssl_context = None
        if tls:
            if certfile is None:
                if self.dir is None:
                    raise ValueError("TLS needs dir= (for tlsca) or certfile=/keyfile=")
                self.pki = tlsca.ensure(self.dir)
                certfile = self.pki[cert_name]
                keyfile = self.pki[cert_name + "_key"]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(certfile, keyfile)
            if client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(client_ca)
            self.ssl_context = ctx
        self._lock = threading.RLock()
        self._conns = set()
        self._server = None
        self._thread = None
        self._delay = float(delay or 0)
        self._endpoint_delay = {}
        self._fail = {}
        self._outage = None          # (mode, until or None)
        self._outage_event = threading.Event()
        self._reopen_timer = None
        self.reset_stats()

    # -- lifecycle ---------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % (self.scheme, host, self.port)

    @property
    def ca_file(self):
        return self.pki["ca"] if self.pki else None

    def start(self):
        with self._lock:
            if self._server is not None:
                return self
            cls = _Server6 if ":" in self.host else _Server
            srv = cls((self.host, self.port), _Handler)
            srv.double = self
            self.port = srv.server_address[1]
            self._server = srv
            self._thread = threading.Thread(target=srv.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name=self.name + "-serve", daemon=True)
            self._thread.start()
        if self.port_file:
            tmp = self.port_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % self.port)
            os.replace(tmp, self.port_file)
        return self

    def stop(self):
        """Close the listener and cut every open connection; the state, the
        counters and the port stay for a later start()."""
        with self._lock:
            srv, self._server = self._server, None
            if self._reopen_timer:
                self._reopen_timer.cancel()
                self._reopen_timer = None
        self._outage_event.set()
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        self._cut_connections()
        self._outage_event.clear()
        return self

    def running(self):
        return self._server is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _track(self, sock, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _cut_connections(self):
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- test controls -----------------------------------------------------
    def reset_stats(self):
        with self._lock:
            self._stats = {"requests": 0, "calls": {}, "status": {},
                           "tls_handshake_failures": 0, "tls_errors": [],
                           "outage_refusals": 0, "log": []}

    def stats(self):
        with self._lock:
            return copy.deepcopy(self._stats)

    def calls(self, endpoint):
        with self._lock:
            return self._stats["calls"].get(endpoint, 0)

    def last_request(self, endpoint=None):
        with self._lock:
            for e in reversed(self._stats["log"]):
                if endpoint is None or e["endpoint"] == endpoint:
                    return copy.deepcopy(e)
        return None

    def set_delay(self, seconds, endpoint=None):
        with self._lock:
            if endpoint is None:
                self._delay = float(seconds)
            elif seconds:
                self._endpoint_delay[endpoint] = float(seconds)
            else:
                self._endpoint_delay.pop(endpoint, None)

    def fail_next(self, endpoint, status, count=1):
        """The next `count` calls of `endpoint` get an error of `status` in
        the service's shape; status 0 closes the connection instead."""
        with self._lock:
            self._fail[endpoint] = [int(status), int(count)]

    def outage(self, mode="refuse", seconds=None):
        if mode not in ("refuse", "503", "hang", "reset"):
            raise ValueError("outage mode: refuse, 503, hang or reset")
        until = time.monotonic() + seconds if seconds else None
        if mode == "refuse":
            self.stop()
            if seconds:
                with self._lock:
                    self._reopen_timer = threading.Timer(seconds, self.start)
                    self._reopen_timer.daemon = True
                    self._reopen_timer.start()
            return
        with self._lock:
            self._outage = (mode, until)
            self._outage_event.clear()
        if mode == "reset":
            self._cut_connections()

    def recover(self):
        with self._lock:
            self._outage = None
            if self._reopen_timer:
                self._reopen_timer.cancel()
                self._reopen_timer = None
        self._outage_event.set()
        if not self.running():
            self.start()

    def _current_outage(self):
        with self._lock:
            if self._outage is None:
                return None, None
            mode, until = self._outage
            if until is not None and time.monotonic() >= until:
                self._outage = None
                return None, None
            return mode, until

    def _note_tls_failure(self, e):
        with self._lock:
            self._stats["tls_handshake_failures"] += 1
            errs = self._stats["tls_errors"]
            errs.append(str(e))
            del errs[:-20]

    # -- persistence -------------------------------------------------------
    def state(self):
        return None

    def load_state(self, st):
        pass

    def save(self):
        if not self.state_file:
            return
        st = self.state()
        if st is None:
            return
        tmp = self.state_file + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(st, f)
        os.replace(tmp, self.state_file)

    def load(self):
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file) as f:
                self.load_state(json.load(f))
            return True
        return False

    # -- subclass hooks ----------------------------------------------------
    def route(self, req):
        raise NotImplementedError

    def error(self, status, message):
        return Response(status, {"error": message})

    def unavailable(self):
        return self.error(503, "service unavailable (test double outage)")

    def key_summary(self):
        return {}

    def control(self, req):
        return None

    def expire_tokens(self):
        pass

    # -- request handling --------------------------------------------------
    def _handle(self, req):
        with self._lock:
            self._stats["requests"] += 1
        if req.segments[:1] == ["_double"]:
            try:
                return self._control(req)
            except HttpError as e:
                return e.response
            except (ValueError, KeyError, TypeError) as e:
                return Response(400, {"error": "bad control request: %s" % e})
        mode, until = self._current_outage()
        if mode is not None:
            with self._lock:
                self._stats["outage_refusals"] += 1
            if mode == "503":
                return self.unavailable()
            if mode == "reset":
                return RESET
            if mode == "hang":
                wait = None if until is None else max(0.0, until - time.monotonic())
                self._outage_event.wait(wait)
                return DROP
        try:
            endpoint, fn = self.route(req)
        except HttpError as e:
            endpoint, fn = "unknown", None
            resp = e.response
        with self._lock:
            c = self._stats["calls"]
            c[endpoint] = c.get(endpoint, 0) + 1
            delay = self._endpoint_delay.get(endpoint, self._delay)
            injected = None
            f = self._fail.get(endpoint)
            if f and f[1] > 0:
                f[1] -= 1
                injected = f[0]
        if delay:
            time.sleep(delay)
        if injected is not None:
            resp = DROP if injected == 0 else self.error(injected, "injected failure (test double)")
        elif fn is not None:
            try:
                resp = fn(req)
            except HttpError as e:
                resp = e.response
            except Exception as e:  # a double bug: say so loudly
                traceback.print_exc()
                resp = self.error(500, "test double internal error: %r" % (e,))
        self._record(req, endpoint, resp)
        return resp

    def _record(self, req, endpoint, resp):
        status = resp.status if isinstance(resp, Response) else 0
        try:
            body = req.json_body()
        except (ValueError, UnicodeDecodeError):
            body = {"_raw_len": len(req.body)}
        entry = {"t": time.time(), "method": req.method, "path": req.raw_path,
                 "query": req.raw_query, "endpoint": endpoint, "status": status,
                 "headers": dict(req.headers.items()), "body": body}
        with self._lock:
            st = self._stats["status"].setdefault(endpoint, {})
            st[str(status)] = st.get(str(status), 0) + 1
            log = self._stats["log"]
            log.append(entry)
            del log[:-LOG_KEEP]

    def _control(self, req):
        seg = req.segments[1:]
        body = req.json_body() if req.method in ("POST", "PUT") else {}
        if req.method == "GET" and seg == ["stats"]:
            return Response(200, self.stats())
        if req.method == "GET" and seg == ["keys"]:
            return Response(200, self.key_summary())
        if req.method == "POST" and seg == ["reset-stats"]:
            self.reset_stats()
            return Response(204)
        if req.method == "POST" and seg == ["delay"]:
            self.set_delay(body.get("seconds", 0), body.get("endpoint"))
            return Response(204)
        if req.method == "POST" and seg == ["fail"]:
            self.fail_next(body["endpoint"], body["status"], body.get("count", 1))
            return Response(204)
        if req.method == "POST" and seg == ["outage"]:
            mode = body.get("mode", "refuse")
            secs = body.get("seconds")
            if mode == "refuse":
                if not secs:
                    raise ValueError("refuse over HTTP needs seconds (recover with SIGUSR2 "
                                     "or the Python API otherwise)")
                # answer first, then close the listener
                t = threading.Timer(0.1, self.outage, args=("refuse", float(secs)))
                t.daemon = True
                t.start()
                return Response(204)
            self.outage(mode, float(secs) if secs else None)
            return Response(204)
        if req.method == "POST" and seg == ["recover"]:
            self.recover()
            return Response(204)
        if req.method == "POST" and seg == ["expire-tokens"]:
            self.expire_tokens()
            return Response(204)
        r = self.control(req)
        if r is not None:
            return r
        return Response(404, {"error": "no such control endpoint: %s %s" % (req.method, req.path)})


def read_or_make_secret(path, make):
    """The stripped content of path; if missing or empty, make() is written
    there (mode 0600) and returned."""
    if path and os.path.exists(path):
        with open(path) as f:
            v = f.read().strip()
        if v:
            return v
    v = make()
    if path:
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(v + "\n")
    return v


def serve_until_signalled(double, banner):
    """Run a started double until SIGTERM/SIGINT; SIGUSR1 starts a "refuse"
    outage (listener closed), SIGUSR2 ends any outage."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    signal.signal(signal.SIGUSR1, lambda *a: threading.Thread(
        target=double.outage, args=("refuse",), daemon=True).start())
    signal.signal(signal.SIGUSR2, lambda *a: threading.Thread(
        target=double.recover, daemon=True).start())
    sys.stdout.write(banner + "\n")
    sys.stdout.flush()
    while not done.wait(0.5):
        pass
    double.stop()
    return 0
