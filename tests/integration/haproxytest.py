"""Debian's haproxy as a TCP load balancer in front of krxd instances
(test_scaleout.py): one frontend on every port of a virtual cluster
(bootstrap and node ports, the same numbers on each instance), servers
without a port so that each connection keeps the port it came to, health
checks on the bootstrap port, and a connection that cannot be made
retried on another server."""

import os
import subprocess

import krxtest

CONF = """global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
frontend kafka
    bind {host}:{lo}-{hi}
    default_backend krxd
backend krxd
    balance roundrobin
{servers}
"""


class Haproxy:
    def __init__(self, workdir, host, lo, hi, servers, send_proxy=False,
                 source=None):
        """servers: [(name, ip)], each serving ports lo..hi; the health
        check connects to lo. send_proxy: PROXY protocol v2 (checks
        included); source: the address haproxy connects from."""
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.host, self.lo, self.hi = host, lo, hi
        opts = " send-proxy-v2 check-send-proxy" if send_proxy else ""
        if source:
            opts += f" source {source}"
        lines = "\n".join(
            f"    server {n} {ip} check port {lo} inter 300ms fall 1 "
            f"rise 2{opts}" for n, ip in servers)
        self.path = os.path.join(workdir, "haproxy.cfg")
        with open(self.path, "w") as f:
            f.write(CONF.format(host=host, lo=lo, hi=hi, servers=lines))
        self.log = os.path.join(workdir, "haproxy.log")
        self.proc = None

    @property
    def bootstrap(self):
        return f"{self.host}:{self.lo}"

    def start(self):
        r = subprocess.run(["haproxy", "-c", "-f", self.path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["haproxy", "-db", "-f", self.path],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        krxtest.wait_for(lambda: krxtest.tcp_accepts(self.host, self.lo),
                         20, "haproxy listening")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

