#!/usr/bin/env python3
"""Throwaway PKI for the KMS test doubles (and for krx's KMS TLS tests).

write_pki(dir) (or ensure(dir), which keeps what is already there) writes:

  ca.pem, ca.key                 the test CA (trust this one)
  server.pem, server.key         leaf for localhost, *.vault.localhost,
                                 *.managedhsm.localhost, 127.0.0.1 and ::1
                                 (plus any extra names), signed by the CA
  wronghost.pem, wronghost.key   leaf signed by the same CA but only for
                                 wrong.invalid / 192.0.2.1: a client that
                                 checks the host name must refuse it
  client.pem, client.key         client-auth leaf signed by the CA (mTLS)
  other-ca.pem, other-ca.key     a second, unrelated CA
  other-server.pem, other-server.key
                                 leaf for localhost/127.0.0.1 signed by the
                                 other CA: a client that trusts only ca.pem
                                 must refuse it
  server-chain.pem               server.pem followed by ca.pem

Keys are P-256 (fast to make), PEM, unencrypted; certificates last 825
days. The paths come back as a dict (keys: ca, ca_key, server, server_key,
wronghost, wronghost_key, client, client_key, other_ca, other_ca_key,
other_server, other_server_key, server_chain, dir).

Command line:
  python3 tests/kms/tlsca.py DIR [--dns NAME]... [--ip ADDR]... [--force]
prints the paths as JSON. Uses only the standard library and `cryptography`.
"""

import argparse
import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DNS = ("localhost", "*.vault.localhost", "*.managedhsm.localhost")
DEFAULT_IPS = ("127.0.0.1", "::1")
DAYS = 825

FILES = {
    "ca": "ca.pem", "ca_key": "ca.key",
    "server": "server.pem", "server_key": "server.key",
    "wronghost": "wronghost.pem", "wronghost_key": "wronghost.key",
    "client": "client.pem", "client_key": "client.key",
    "other_ca": "other-ca.pem", "other_ca_key": "other-ca.key",
    "other_server": "other-server.pem", "other_server_key": "other-server.key",
    "server_chain": "server-chain.pem",
}


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "krx tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(cn="krx test CA"):
    """A self-signed CA: (private key, certificate)."""
    key = make_key()
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, cn, dns=(), ips=(), client=False):
    """A leaf signed by (ca_key, ca_cert) for the given names: (key, cert).
    client=True makes a client-auth certificate instead of a server one."""
    key = make_key()
    now = _now()
    sans = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    b = (x509.CertificateBuilder()
         .subject_name(_name(cn)).issuer_name(ca_cert.subject)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=DAYS))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=True, content_commitment=False,
             key_encipherment=False, data_encipherment=False,
             key_agreement=True, key_cert_sign=False, crl_sign=False,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             ca_key.public_key()), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ca_key, hashes.SHA256())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path, data, private=False):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def paths(directory):
    d = os.path.abspath(directory)
    p = {k: os.path.join(d, v) for k, v in FILES.items()}
    p["dir"] = d
    return p


def write_pki(directory, dns=(), ips=()):
    """Make every file afresh in directory (created if missing); extra host
    names / addresses go into server.pem besides the defaults."""
    os.makedirs(directory, exist_ok=True)
    p = paths(directory)
    ca_key, ca = make_ca("krx test CA")
    oca_key, oca = make_ca("krx other test CA")
    all_dns = list(DEFAULT_DNS) + [d for d in dns if d not in DEFAULT_DNS]
    all_ips = list(DEFAULT_IPS) + [i for i in ips if i not in DEFAULT_IPS]
    s_key, s = make_leaf(ca_key, ca, "localhost", all_dns, all_ips)
    w_key, w = make_leaf(ca_key, ca, "wrong.invalid", ["wrong.invalid"], ["192.0.2.1"])
    c_key, c = make_leaf(ca_key, ca, "krx test client", client=True)
    o_key, o = make_leaf(oca_key, oca, "localhost", list(DEFAULT_DNS), list(DEFAULT_IPS))
    for name, key, cert in (("ca", ca_key, ca), ("other_ca", oca_key, oca),
                            ("server", s_key, s), ("wronghost", w_key, w),
                            ("client", c_key, c), ("other_server", o_key, o)):
        _write(p[name + "_key"], _pem_key(key), private=True)
        _write(p[name], _pem_cert(cert))
    _write(p["server_chain"], _pem_cert(s) + _pem_cert(ca))
    return p


def ensure(directory, dns=(), ips=()):
    """write_pki unless every file is already there (then reuse them, so a
    restarted double presents the same certificate)."""
    p = paths(directory)
    if all(os.path.exists(p[k]) for k in FILES):
        return p
    return write_pki(directory, dns, ips)


def main(argv=None):
    ap = argparse.ArgumentParser(description="make a throwaway test PKI")
    ap.add_argument("dir")
    ap.add_argument("--dns", action="append", default=[], help="extra server DNS name")
    ap.add_argument("--ip", action="append", default=[], help="extra server IP address")
    ap.add_argument("--force", action="store_true", help="remake even if present")
    a = ap.parse_args(argv)
    p = (write_pki if a.force else ensure)(a.dir, a.dns, a.ip)
    json.dump(p, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
