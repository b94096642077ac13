"""kmsConfig.tls against the Vault double (krx issue 10, "It must show"):
trust and client-key stores of every kind, and what must be refused.

keysvc runs on its own (kstest.py) and `kms check` (resolve, generate,
decrypt) is the probe, so each case costs a keysvc start, not a krxd:

- trust: the double's CA as PEM, and as PKCS#12 and JKS trust stores
  made by the JDK's keytool (with their store password): Ok.
- refused, with a log line naming TLS and what to check: a trust store
  without the server's CA (another CA; the server's certificate from
  another CA), a certificate for another host name (the double presents
  wrong.invalid / 192.0.2.1 to a client asking for 127.0.0.1), no tls
  group at all (the system's trust has no test CA). kms check exits 5
  saying TLS; the double answered no Transit call.
- insecure = true (and only then) accepts the wrong host and the other
  CA, with a loud warning at start.
- client keys (the double requires a client certificate of its CA): none
  is refused (TLS 1.3: an alert keysvc logs as a TLS failure, or a
  broken pipe or reset when the server closed first); PEM key + certificate, an encrypted PEM key with
  keyPassword, a PKCS#12 key store and a JKS key store (keytool, key
  password other than the store's) all work; a client certificate of
  another CA is refused.
- a wrong store password stops keysvc at start (configuration exit 78)
  with a line naming the store and "wrong password", never the password.
- end to end through krxd (JKS trust + JKS client key, mutual TLS):
  records produced are encrypted under Vault EDEKs and read back.
"""

import os
import re
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import keytest
import krxtest
import kstest
from test_kms_vault import (check_at_broker, read_values, start_double,
                            vault_enc, values)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
    __file__)), "..", "kms"))
import tlsca  # noqa: E402

KEK = "KEK-tls"
STOREPASS = "store-Pa55-secret"
KEYPASS = "key-Pa55-other"


def keytool(*args):
    r = subprocess.run(["keytool", *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"keytool {args[0]}: {r.stdout}{r.stderr}"


def write(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


class Stores:
    """The double's PKI as krx would be given it (files under d)."""

    def __init__(self, d, pki):
        self.d, self.pki = d, pki
        os.makedirs(d, exist_ok=True)
        self.storepw = write(os.path.join(d, "store-pw"), STOREPASS + "\n")
        self.keypw = write(os.path.join(d, "key-pw"), KEYPASS + "\n")
        self.badpw = write(os.path.join(d, "bad-pw"), "not-the-password\n")

    def path(self, name):
        return os.path.join(self.d, name)

    def trust(self, kind):
        """The CA in a keytool-made trust store of kind (PKCS12, JKS)."""
        p = self.path(f"trust.{kind.lower()}")
        if not os.path.exists(p):
            keytool("-importcert", "-noprompt", "-alias", "vault-ca",
                    "-file", self.pki["ca"], "-keystore", p, "-storetype",
                    kind, "-storepass", STOREPASS)
        return p

    def client_p12(self, cert="client", key="client_key"):
        """openssl's PKCS#12 of a client key and certificate (the input
        keytool imports; also a store of its own)."""
        p = self.path(f"{cert}-openssl.p12")
        if not os.path.exists(p):
            subprocess.run(["openssl", "pkcs12", "-export", "-inkey",
                            self.pki[key], "-in", self.pki[cert],
                            "-certfile", self.pki["ca"], "-name", "client",
                            "-out", p, "-passout", "pass:" + STOREPASS],
                           check=True, capture_output=True, timeout=60)
        return p

    def keystore(self, kind, cert="client", key="client_key"):
        """The client key entry in a keytool-written store of kind; JKS
        gets a key password other than the store's."""
        p = self.path(f"{cert}.{kind.lower()}")
        if not os.path.exists(p):
            args = ["-importkeystore", "-noprompt", "-srckeystore",
                    self.client_p12(cert, key), "-srcstoretype", "PKCS12",
                    "-srcstorepass", STOREPASS, "-srcalias", "client",
                    "-destkeystore", p, "-deststoretype", kind,
                    "-deststorepass", STOREPASS, "-destalias", "client"]
            if kind == "JKS":
                args += ["-destkeypass", KEYPASS]
            keytool(*args)
        return p

    def encrypted_key(self):
        """The client key as encrypted PKCS#8 PEM under KEYPASS."""
        p = self.path("client-enc.key")
        with open(self.pki["client_key"], "rb") as f:
            k = serialization.load_pem_private_key(f.read(), None)
        with open(p, "wb") as f:
            f.write(k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(KEYPASS.encode())))
        return p

    def other_client(self):
        """A client certificate (and key) of the other CA."""
        with open(self.pki["other_ca_key"], "rb") as f:
            oca_key = serialization.load_pem_private_key(f.read(), None)
        with open(self.pki["other_ca"], "rb") as f:
            oca = x509.load_pem_x509_certificate(f.read())
        key, cert = tlsca.make_leaf(oca_key, oca, "intruder", client=True)
        kp, cp = self.path("intruder.key"), self.path("intruder.pem")
        with open(kp, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(cp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        return kp, cp


def pw(path):
    return f'{{ passwordFile = "{path}"; }}'


def trust_group(store, kind="PEM", pwfile=None):
    p = f"storePassword = {pw(pwfile)}; " if pwfile else ""
    return f'trust = {{ storeFile = "{store}"; {p}storeType = "{kind}"; }};'


def key_group(store=None, kind=None, store_pw=None, key_pw=None,
              key_file=None, cert_file=None):
    if store:
        s = f'storeFile = "{store}"; storeType = "{kind}"; '
        if store_pw:
            s += f"storePassword = {pw(store_pw)}; "
    else:
        s = f'privateKeyFile = "{key_file}"; certificateFile = "{cert_file}"; '
    if key_pw:
        s += f"keyPassword = {pw(key_pw)}; "
    return f"key = {{ {s}}};"


def conf(tmp_path, vault, tls, name):
    """A krxd configuration for kstest.Keysvc; tls: the text inside
    kmsConfig.tls (None: no tls group)."""
    enc = vault_enc(vault.transit_url, tmp_path, token_file=os.path.join(
        vault.dir, "vault-token"))
    if tls is not None:
        enc = enc.replace("connectTimeoutSeconds = 5;",
                          f"tls = {{ {tls} }}; connectTimeoutSeconds = 5;")
    d = os.path.join(str(tmp_path), name)
    k = krxtest.Krxd(d, "127.0.0.1:9", extra=keytest.cache_conf(
        os.path.join(d, "dekcache")), vc_extra=enc)
    return d, k.config_text()


def check(tmp_path, vault, tls, name):
    """kms check through a keysvc with tls: (exit code, text, log)."""
    d, text = conf(tmp_path, vault, tls, name)
    ks = kstest.Keysvc(d, text, slots=1).start()
    try:
        code, out = ks.kms_check(KEK)
    finally:
        assert ks.stop() == 0, ks.log_text()[-2000:]
    return code, out, ks.log_text()


def assert_ok(tmp_path, vault, tls, name):
    code, out, log = check(tmp_path, vault, tls, name)
    assert (code, out) == (0, "Ok\n"), f"{name}: {code} {out!r}\n{log}"
    assert_no_secret(log)
    return log


def assert_refused(tmp_path, vault, tls, name, why):
    """Refused in the handshake: kms check exits 5 naming TLS, keysvc's
    log says TLS failure with the reason matching why (regex), and the
    double answered no Transit call."""
    vault.reset_stats()
    code, out, log = check(tmp_path, vault, tls, name)
    assert code == 5 and "TLS" in out, f"{name}: {code} {out!r}"
    m = re.search(r"vault https://127\.0\.0\.1:\d+/v1/transit: TLS failure "
                  r"\(check kmsConfig\.tls[^\n]*", log)
    assert m, f"{name}: no TLS failure line:\n{log}"
    assert re.search(why, m.group(0), re.I), f"{name}: {m.group(0)}"
    calls = vault.stats()["calls"]
    assert not calls, f"{name}: the double answered {calls}"
    assert_no_secret(log)
    return m.group(0)


def assert_client_refused(tmp_path, vault, tls, name):
    """The double refused the client's certificate (or its absence). In
    TLS 1.3 the server says so after the client's side of the handshake:
    keysvc reads the alert (a TLS failure naming it), meets it as a
    failed write (a TLS failure: OpenSSL's "bad write retry" when curl
    writes again after the alert, seen under ASan) or, when the server
    has closed first, a broken pipe or a reset (unreachable); the
    double counts the refused handshake either way, and answered
    nothing."""
    vault.reset_stats()
    code, out, log = check(tmp_path, vault, tls, name)
    assert code == 5, f"{name}: {code} {out!r}"
    assert re.search(r"vault: (TLS: .*(alert|SSL_write)|unreachable)",
                     out), f"{name}: {out!r}"
    st = vault.stats()
    assert st["tls_handshake_failures"] >= 1, st
    assert not st["calls"], f"{name}: the double answered {st['calls']}"
    assert_no_secret(log)


def assert_no_secret(log):
    for s in (STOREPASS, KEYPASS):
        assert s not in log, "a store or key password is in keysvc's log"


def test_trust_stores_and_refusals(tmp_path):
    v = start_double(tmp_path)
    try:
        v.create_key(KEK)
        st = Stores(os.path.join(str(tmp_path), "stores"), v.pki)
        assert_ok(tmp_path, v, trust_group(v.ca_file), "pem")
        for kind in ("PKCS12", "JKS"):
            assert_ok(tmp_path, v, trust_group(st.trust(kind), kind,
                                               st.storepw), kind)
        # The CA of another PKI only: the chain does not verify.
        line = assert_refused(tmp_path, v, trust_group(v.pki["other_ca"]),
                              "other-ca", r"certificate|verify|issuer")
        print(line)
        # No tls group: the system's trust, which has no test CA.
        assert_refused(tmp_path, v, None, "system",
                       r"certificate|verify|issuer")
    finally:
        v.stop()


def test_wrong_host_and_insecure(tmp_path):
    v = start_double(tmp_path, cert_name="wronghost")
    o = None
    try:
        v.create_key(KEK)
        line = assert_refused(tmp_path, v, trust_group(v.ca_file),
                              "wronghost", r"name|host|match")
        print(line)
        log = assert_ok(tmp_path, v, "trust = { insecure = true; };",
                        "insecure")
        assert "NOT checked" in log and "insecure = true" in log, log
        # insecure = false is not insecure.
        assert_refused(tmp_path, v, "trust = { insecure = false; };",
                       "insecure-false", r"name|host|match")
        # A server of another CA: refused with the right trust, accepted
        # only insecurely.
        o = start_double(tmp_path / "other", cert_name="other_server")
        o.create_key(KEK)
        assert_refused(tmp_path, o, trust_group(v.ca_file), "other-server",
                       r"certificate|verify|issuer")
        assert_ok(tmp_path, o, "trust = { insecure = true; };",
                  "other-insecure")
    finally:
        v.stop()
        if o is not None:
            o.stop()


def test_client_key_stores(tmp_path):
    d = os.path.join(str(tmp_path), "vault")
    pki = tlsca.ensure(d)
    v = start_double(tmp_path, client_ca=pki["ca"])
    try:
        v.create_key(KEK)
        st = Stores(os.path.join(str(tmp_path), "stores"), v.pki)
        trust = trust_group(v.ca_file)
        # No client certificate: the double ends the handshake.
        assert_client_refused(tmp_path, v, trust, "no-key")
        assert_ok(tmp_path, v, trust + key_group(
            key_file=v.pki["client_key"], cert_file=v.pki["client"]),
            "pem-key")
        assert_ok(tmp_path, v, trust + key_group(
            key_file=st.encrypted_key(), cert_file=v.pki["client"],
            key_pw=st.keypw), "pem-encrypted-key")
        assert_ok(tmp_path, v, trust + key_group(
            store=st.keystore("PKCS12"), kind="PKCS12",
            store_pw=st.storepw), "pkcs12-keytool")
        assert_ok(tmp_path, v, trust + key_group(
            store=st.client_p12(), kind="PKCS12", store_pw=st.storepw),
            "pkcs12-openssl")
        assert_ok(tmp_path, v, trust + key_group(
            store=st.keystore("JKS"), kind="JKS", store_pw=st.storepw,
            key_pw=st.keypw), "jks-keytool")
        # A client key of another CA: refused.
        kp, cp = st.other_client()
        assert_client_refused(tmp_path, v, trust + key_group(
            key_file=kp, cert_file=cp), "intruder")
    finally:
        v.stop()


def test_wrong_store_password_stops_keysvc(tmp_path):
    v = start_double(tmp_path)
    try:
        st = Stores(os.path.join(str(tmp_path), "stores"), v.pki)
        for kind in ("PKCS12", "JKS"):
            name = f"badpw-{kind}"
            d, text = conf(tmp_path, v, trust_group(st.trust(kind), kind,
                                                    st.badpw), name)
            ks = kstest.Keysvc(d, text)
            assert ks.start_failing() == 78, ks.log_text()
            log = ks.log_text()
            assert f"trust store {st.trust(kind)}: wrong password" in log, log
            assert "not-the-password" not in log
    finally:
        v.stop()


def test_mutual_tls_end_to_end(kafka, krxd_factory, tmp_path, topic_name):
    d = os.path.join(str(tmp_path), "vault")
    pki = tlsca.ensure(d)
    v = start_double(tmp_path, client_ca=pki["ca"])
    try:
        v.create_key(f"KEK-{topic_name}")
        st = Stores(os.path.join(str(tmp_path), "stores"), v.pki)
        tls = trust_group(st.trust("JKS"), "JKS", st.storepw) + key_group(
            store=st.keystore("JKS"), kind="JKS", store_pw=st.storepw,
            key_pw=st.keypw)
        enc = vault_enc(v.transit_url, tmp_path, token_file=os.path.join(
            v.dir, "vault-token")).replace(
            "connectTimeoutSeconds = 5;",
            f"tls = {{ {tls} }}; connectTimeoutSeconds = 5;")
        k = krxd_factory.make(workers=1, extra=keytest.cache_conf(
            os.path.join(str(tmp_path), "dekcache")), vc_extra=enc)
        keytest.wait_keysvc(k)
        want = values("mtls", 30)
        keytest.produce(k.bootstrap, topic_name, want)
        check_at_broker(kafka, v, topic_name, want)
        assert read_values(k, topic_name) == want
        assert v.stats()["tls_handshake_failures"] == 0
        log = k.log_text()
        assert STOREPASS not in log and KEYPASS not in log
        assert v.token not in log
    finally:
        v.stop()
