#!/usr/bin/env python3
"""A TLS-terminating TCP forwarder for KMS TLS tests: it presents one of
tlsca.py's certificates (optionally requiring a client certificate signed
by a given CA) and pipes each accepted connection, decrypted, to a plain
upstream (moto's HTTP server). Standard library only (ssl, socket,
threading).

It keeps what clients sent (bounded, KEEP bytes per forwarder) so that a
test can look for request headers (X-Amz-Security-Token, the SigV4
Authorization header): saw(b"...") searches it case-insensitively.

Python:
  f = TlsForward(("127.0.0.1", moto.port), cert, key, client_ca=None)
  f.start(); f.url (https://127.0.0.1:PORT); f.port
  f.handshakes (completed), f.failures (list of handshake error texts),
  f.client_cns (common names of the client certificates presented)
  f.saw(b"x-amz-security-token: abc"), f.sent() -> bytes, f.stop()
"""

import socket
import ssl
import threading

KEEP = 4 * 1024 * 1024


class TlsForward:
    def __init__(self, upstream, certfile, keyfile, client_ca=None,
                 host="127.0.0.1"):
        self.upstream = upstream
        self.host = host
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certfile, keyfile)
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
        self.ctx = ctx
        self.handshakes = 0
        self.failures = []
        self.client_cns = []
        self._sent = bytearray()
        self._mu = threading.Lock()
        self._lsock = None
        self._socks = set()
        self.port = 0

    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.port)

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._lsock = s
        threading.Thread(target=self._accept, daemon=True,
                         name="tls-forward").start()
        return self

    def stop(self):
        s, self._lsock = self._lsock, None
        if s is not None:
            s.close()
        with self._mu:
            socks = list(self._socks)
        for c in socks:
            try:
                c.close()
            except OSError:
                pass

    def sent(self):
        with self._mu:
            return bytes(self._sent)

    def saw(self, needle):
        return needle.lower() in self.sent().lower()

    def _accept(self):
        while self._lsock is not None:
            try:
                c, _ = self._lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _track(self, s, add):
        with self._mu:
            (self._socks.add if add else self._socks.discard)(s)

    def _serve(self, raw):
        raw.settimeout(30)
        try:
            c = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self._mu:
                self.failures.append(str(e))
            raw.close()
            return
        c.settimeout(None)
        cert = c.getpeercert()
        with self._mu:
            self.handshakes += 1
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            self.client_cns.append(v)
        try:
            u = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            c.close()
            return
        u.settimeout(None)
        self._track(c, True)
        self._track(u, True)
        t = threading.Thread(target=self._pipe, args=(u, c, False),
                             daemon=True)
        t.start()
        self._pipe(c, u, True)
        t.join(30)
        for s in (c, u):
            self._track(s, False)
            try:
                s.close()
            except OSError:
                pass

    def _pipe(self, src, dst, keep):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if keep:
                    with self._mu:
                        if len(self._sent) < KEEP:
                            self._sent += data[:KEEP - len(self._sent)]
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
