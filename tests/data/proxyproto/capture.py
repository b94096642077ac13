#!/usr/bin/env python3
"""capture.py: how the HAProxy headers of tests/unit/proxyproto_test.c and
tests/fuzz/corpus/proxyproto were made. Needs haproxy (Debian 12: 2.6) on
PATH; not run by the test suite.

    python3 tests/data/proxyproto/capture.py OUTDIR

Starts listeners on loopback, an haproxy in TCP mode in front of them
(send-proxy, send-proxy-v2, proxy-v2-options crc32c,unique-id, and
health checks with check-send-proxy), connects through it over IPv4 and
IPv6 sending "hello", and writes what each listener received, header
included, to OUTDIR/<name>. Ports are fixed: 47311-47315, 47321-47325.
"""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

CFG = """
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f_v1
    bind 127.0.0.1:47321
    bind [::1]:47321
    default_backend b_v1
backend b_v1
    server s 127.0.0.1:47311 send-proxy
frontend f_v2
    bind 127.0.0.1:47322
    bind [::1]:47322
    default_backend b_v2
backend b_v2
    server s 127.0.0.1:47312 send-proxy-v2
frontend f_v2opt
    bind 127.0.0.1:47323
    unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt
    default_backend b_v2opt
backend b_v2opt
    server s 127.0.0.1:47313 send-proxy-v2 proxy-v2-options crc32c,unique-id
frontend f_chk1
    bind 127.0.0.1:47324
    default_backend b_chk1
backend b_chk1
    server s 127.0.0.1:47314 send-proxy check check-send-proxy inter 500
frontend f_chk2
    bind 127.0.0.1:47325
    default_backend b_chk2
backend b_chk2
    server s 127.0.0.1:47315 send-proxy-v2 check check-send-proxy inter 500
"""

got = {}


def serve(port):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.settimeout(1.0)
        data = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                data += d
        except OSError:   # timeout, or the RST that ends a health check
            pass
        c.close()
        got.setdefault(port, []).append(data)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for port in range(47311, 47316):
        threading.Thread(target=serve, args=(port,), daemon=True).start()
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as cfg:
        cfg.write(CFG)
        cfg.flush()
        hap = subprocess.Popen(["haproxy", "-db", "-f", cfg.name])
        try:
            time.sleep(1.5)
            for fam, host, port in [
                    (socket.AF_INET, "127.0.0.1", 47321),
                    (socket.AF_INET6, "::1", 47321),
                    (socket.AF_INET, "127.0.0.1", 47322),
                    (socket.AF_INET6, "::1", 47322),
                    (socket.AF_INET, "127.0.0.1", 47323)]:
                c = socket.socket(fam)
                c.connect((host, port))
                c.sendall(b"hello")
                time.sleep(0.3)
                c.close()
            time.sleep(2)
        finally:
            hap.terminate()
            hap.wait()
    names = {47311: ["hap_v1_tcp4", "hap_v1_tcp6"],
             47312: ["hap_v2_tcp4", "hap_v2_tcp6"],
             47313: ["hap_v2_crc_uid"], 47314: ["hap_v1_check"],
             47315: ["hap_v2_check_local"]}
    for port, ns in names.items():
        for name, data in zip(ns, got.get(port, [])):
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            print(name, data)


if __name__ == "__main__":
    main()
