#!/usr/bin/env python3
"""HAProxy terminating TLS in front of a Kafka broker, for bench/bench.py's
scenario (g): the reference for what TLS on both sides costs a proxy.

Haproxy(workdir, port, upstream, cert_files, ca).start() runs Debian's
haproxy (tests/setup.sh installs it; $KRX_HAPROXY names another binary)
in the foreground (-db) with a config it writes: clients speak TLS to
host:port, haproxy speaks TLS to upstream, checking the broker's
certificate. pids() for procstat; stop(). tls_probe(addr, ca) says what
protocol and cipher a Python (OpenSSL) client negotiates at addr.
"""

import os
import re
import shutil
import subprocess

import procstat
from broker import tcp_accepts, wait_for

HAPROXY = os.environ.get("KRX_HAPROXY") or shutil.which("haproxy") or \
    "/usr/sbin/haproxy"


class HaproxyError(Exception):
    pass


HAPROXY_CONF = """# written by bench/haproxy.py: TLS termination in front of
# the broker's extra SSL listener (scenario g)
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend kafka_tls
    bind {host}:{port} ssl crt {pem}
    default_backend broker
backend broker
    server kafka {upstream} ssl verify required ca-file {ca} """ \
    """sni str(localhost) verifyhost localhost
"""


class Haproxy(procstat.ProxyProcess):
    """Debian's haproxy (tests/setup.sh installs it) terminating TLS for
    (g): clients speak TLS to it (the broker's certificate and key in one
    PEM), it speaks TLS to upstream (the broker's extra SSL listener,
    which advertises this haproxy's address), checking the broker's
    certificate against ca and the name localhost (sent as SNI). One
    process, threads as many as CPUs (haproxy's default)."""

    def __init__(self, workdir, port, upstream, cert_files, ca):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port
        self.pem = os.path.join(workdir, "haproxy-cert.pem")
        text = ""
        for path in cert_files:     # leaf, chain, key
            with open(path) as f:
                text += f.read()
                if not text.endswith("\n"):
                    text += "\n"
        fd = os.open(self.pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.conf = os.path.join(workdir, "haproxy.cfg")
        with open(self.conf, "w") as f:
            f.write(HAPROXY_CONF.format(host=self.host, port=port,
                                        pem=self.pem, upstream=upstream,
                                        ca=ca))
        self.log_path = os.path.join(workdir, "haproxy.log")
        self.proc = None
        self.name = "haproxy"

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def version(self):
        try:
            r = subprocess.run([HAPROXY, "-v"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=30)
        except (OSError, subprocess.SubprocessError):
            return "?"
        m = re.search(r"version (\S+)", r.stdout)
        return m.group(1) if m else "?"

    def start(self):
        if not os.access(HAPROXY, os.X_OK):
            raise HaproxyError(f"{HAPROXY} is not installed (tests/setup.sh "
                             f"installs Debian's haproxy)")
        r = subprocess.run([HAPROXY, "-c", "-f", self.conf],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise HaproxyError(f"haproxy -c refused {self.conf}: "
                             f"{r.stdout.strip()[-1500:]}")
        out = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [HAPROXY, "-db", "-f", self.conf], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise HaproxyError(f"haproxy exited with "
                                 f"{self.proc.returncode}; log:\n"
                                 f"{self.log_text()[-2000:]}")
            return tcp_accepts(self.host, self.port)
        try:
            wait_for(ready, 30, "haproxy to listen", interval=0.1)
        except BaseException:
            self.stop()
            raise
        return self


def tls_probe(addr, ca):
    """"TLSv1.3 TLS_AES_256_GCM_SHA384": what a Python (OpenSSL) client
    trusting ca negotiates with addr, for the report."""
    import socket
    import ssl
    host, _, port = addr.rpartition(":")
    try:
        ctx = ssl.create_default_context(cafile=ca)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                return f"{t.version()} {t.cipher()[0]}"
    except (OSError, ssl.SSLError, ValueError) as e:
        return f"? ({e})"
