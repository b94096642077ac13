"""AzureKeyVaultKmsService against the Azure Key Vault test double.

The double (tests/kms/azure_double.py) serves Key Vault 7.4, the
Microsoft identity platform token endpoint and IMDS over HTTPS with a
CA made here (tlsca.py); krxd trusts it as a PEM store. The vault is
https://krx.vault.localhost:PORT (keyVaultName krx, keyVaultHost
vault.localhost: libcurl sends *.localhost to loopback, the leaf
certificate names *.vault.localhost).

- Round trip with an RSA key and an oct key (the double's "packed"
  A256GCM layout): at the broker each value is a wrapper v2 whose EDEK is
  Kroxylicious' Azure form, checked byte by byte (version byte 0 for a
  32-hex version, key name, vault name, key type, the 16 version bytes),
  and the double's own unwrap of its wrapped value gives the DEK that
  (AES-256-GCM, written here) opens the record; read back through krxd
  every value is the one produced. kms check Ok, a missing key exits 3.
  The client secret holds characters a form must encode.
- Managed identity: tokens from a plain-HTTP IMDS listener.
- A key rotated in the double: records before (old version) and after
  (new version, a new krxd) all decrypt.
- Tokens: every token expired in the double -> the vault's 401 makes
  keysvc fetch a new one and the request passes; a token near its end is
  refreshed before the vault refuses it.
- A wrong client secret: kms check exits 4 naming invalid_client, the log
  says why; a raw Produce to the topic fails and nothing is stored.
- The "split" A256GCM layout (iv/tag beside value): generate is refused
  with a clear error, a raw Produce gets the retriable REQUEST_TIMED_OUT
  on a connection that stays open, nothing reaches the broker.
- krxd -t accepts the configuration.
Neither the client secret nor any bearer token nor any DEK is in a log.
"""

import base64
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import keytest
import krxtest
import tools

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kms"))
from azure_double import AzureKeyVaultDouble  # noqa: E402

VAULT = "krx"
HOST = "vault.localhost"
# A secret a naive form body would break: '+', '/', '=', '&', '%', ' '.
SECRET = "s3cr+t/with=odd&chars%20 and~more"
REQUEST_TIMED_OUT = 7
KTY_ID = {"RSA": 0, "RSA-HSM": 1, "oct": 2, "oct-HSM": 3}


def secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


@pytest.fixture
def az_topic():
    """A topic name Azure allows as a key name too ([A-Za-z0-9-])."""
    return "az-" + uuid.uuid4().hex[:16]


@pytest.fixture
def double_factory(tmp_path):
    made = []

    def make(gcm_layout="packed", imds=False, **kw):
        d = str(tmp_path / f"azure{len(made)}")
        os.makedirs(d, exist_ok=True)
        if imds:
            kw["imds_port_file"] = os.path.join(d, "imds.port")
        a = AzureKeyVaultDouble(dir=d, client_secret=SECRET,
                                gcm_layout=gcm_layout, **kw)
        a.start()
        made.append(a)
        return a
    yield make
    for a in made:
        a.stop()


def azure_conf(tmp_path, a, imds=False, secret=SECRET, ca=None):
    """The record_encryption group for double a."""
    trust = (f'tls = {{ trust = {{ storeFile = "{ca or a.ca_file}"; '
             'storeType = "PEM"; }; };')
    if imds:
        creds = ("managedIdentityCredentials = {\n"
                 '          targetResource = "https://vault.azure.net";\n'
                 f'          identityServiceEndpoint = "{a.imds_url}"; }};\n')
    else:
        cid = secret_file(str(tmp_path / "azure-client-id"), a.client_id)
        sec = secret_file(str(tmp_path / "azure-client-secret"), secret)
        creds = ("oauth2ClientCredentials = {\n"
                 f'          oauthEndpoint = "{a.authority}";\n'
                 f'          tenantId = "{a.tenant}";\n'
                 f'          clientId = {{ passwordFile = "{cid}"; }};\n'
                 f'          clientSecret = {{ passwordFile = "{sec}"; }};\n'
                 '          scope = "https://vault.azure.net/.default";\n'
                 f"          {trust} }};\n")
    return ("    record_encryption = {\n"
            '      kms = "AzureKeyVault";\n'
            "      kmsConfig = {\n"
            f'        keyVaultName = "{VAULT}";\n'
            f'        keyVaultHost = "{HOST}";\n'
            f"        keyVaultPort = {a.port};\n"
            f"        {trust}\n"
            f"        {creds}"
            "        connectTimeoutSeconds = 5;\n"
            "        requestTimeoutSeconds = 10;\n"
            "      };\n"
            '      selector = "TemplateKekSelector";\n'
            '      selectorConfig = { template = "KEK-$(topicName)"; };\n'
            '      unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED";\n'
            "    };\n")


def azure_krxd(factory, tmp_path, a, cache="dekcache", workers=2, **kw):
    k = factory.make(workers=workers,
                     extra=keytest.cache_conf(str(tmp_path / cache)),
                     vc_extra=azure_conf(tmp_path, a, **kw))
    keytest.wait_keysvc(k)
    return k


def parse_azure_edek(edek):
    """Kroxylicious' AzureKeyVaultEdekSerde -> dict of its fields."""
    edek = bytes(edek)
    ver = edek[0]
    assert ver in (0, 1), f"Azure EDEK version byte {ver}"
    n = edek[1]
    name = edek[2:2 + n].decode("ascii")
    pos = 2 + n
    v = edek[pos]
    vault = edek[pos + 1:pos + 1 + v].decode("ascii")
    pos += 1 + v
    kty = edek[pos]
    pos += 1
    if ver == 0:
        version = edek[pos:pos + 16].hex()
        pos += 16
    else:
        vl = edek[pos]
        version = edek[pos + 1:pos + 1 + vl].decode("utf-8")
        pos += 1 + vl
    wrapped = edek[pos:]
    assert len(wrapped) > 0
    return {"format": ver, "name": name, "vault": vault, "kty": kty,
            "version": version, "wrapped": wrapped}


class AzureDecryptor:
    """Opens records with DEKs the double itself unwraps."""

    def __init__(self, a):
        self.a = a
        self.deks = {}

    def open(self, value):
        w = enctest.parse_wrapper(value)
        e = parse_azure_edek(w["edek"])
        dek = self.deks.get(bytes(w["edek"]))
        if dek is None:
            dek = self.a.unwrap_local(e["name"], e["version"], e["wrapped"])
            assert len(dek) == 32, f"the double's DEK is {len(dek)} bytes"
            self.deks[bytes(w["edek"])] = dek
        parcel = AESGCM(dek).decrypt(w["iv"], w["ct"], None)
        return enctest.parse_parcel(parcel), e


def check_broker(dec, recs, values, name, kty, version=None):
    """recs (read at the broker) are values under key name; returns the
    EDEK fields seen."""
    assert len(recs) == len(values)
    seen = []
    for rec, v in zip(recs, values):
        hdrs = rec[5]
        assert hdrs and hdrs[0] == (enctest.ENC_HEADER, b"\x02"), hdrs
        assert v not in rec[4], "value in clear at the broker"
        plain, e = dec.open(rec[4])
        assert plain == v
        assert e["format"] == 0, "a 32-hex version must be the v0 form"
        assert (e["name"], e["vault"], e["kty"]) == (name, VAULT,
                                                     KTY_ID[kty]), e
        if version:
            assert e["version"] == version, e
        seen.append(e)
    return seen


def values_via(krxd, topic):
    return [r[4] for r in keytest.records(krxd.bootstrap, topic)]


def kms_counters(krxd):
    st = keytest.cache_stats(krxd)
    return {k[len("keysvc.kms_"):]: v for k, v in st.items()
            if k.startswith("keysvc.kms_")}


def assert_no_secrets(krxd, a, dec=None):
    log = krxd.log_text()
    assert SECRET not in log, "the client secret is in the log"
    for form in (SECRET.replace(" ", "+"), "s3cr%2Bt"):
        assert form not in log, "the encoded client secret is in the log"
    tokens = list(a.state()["tokens"])
    assert tokens, "the double issued no token"
    for t in tokens:
        assert t not in log, "a bearer token is in the log"
        assert t.split(".")[2] not in log, "a token's signature in the log"
    for dek in (dec.deks.values() if dec else ()):
        for form in (dek.hex(), base64.b64encode(dek).decode(),
                     base64.urlsafe_b64encode(dek).decode().rstrip("=")):
            assert form not in log, "a DEK in the log"


# -- tests ---------------------------------------------------------------

def test_azure_roundtrip_rsa_and_oct(kafka, krxd_factory, tmp_path,
                                     double_factory, az_topic):
    a = double_factory()
    t_rsa, t_oct = f"{az_topic}-rsa", f"{az_topic}-oct"
    v_rsa = a.create_key(f"KEK-{t_rsa}", kty="RSA")
    v_oct = a.create_key(f"KEK-{t_oct}", kty="oct")
    tools.create_topics(kafka.bootstrap, {t_rsa: 1, t_oct: 1})
    k = azure_krxd(krxd_factory, tmp_path, a)

    dec = AzureDecryptor(a)
    for t, kty, ver in ((t_rsa, "RSA", v_rsa), (t_oct, "oct", v_oct)):
        values = [b"az-%s-%04d-" % (kty.encode(), i) + os.urandom(i % 40)
                  for i in range(150)]
        keytest.produce(k.bootstrap, t, values)
        check_broker(dec, keytest.records(kafka.bootstrap, t), values,
                     f"KEK-{t}", kty, ver)
        assert values_via(k, t) == values
        r = keytest.ctl(k, "kms", "check", f"KEK-{t}")
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    assert a.calls("wrapkey") >= 2 and a.calls("key_get") >= 2
    # RSA-OAEP-256 for RSA, A256GCM for oct, value only, unpadded.
    assert a.stats()["status"]["wrapkey"].keys() == {"200"}
    # one token served every call (single flight, cached)
    assert a.calls("oauth_token") == 1, a.stats()["calls"]

    a.reset_stats()
    r = keytest.ctl(k, "kms", "check", "KEK-absent")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "KEK not found" in r.stderr and "KEK-absent" in r.stderr
    assert "KeyNotFound" in r.stderr, r.stderr
    # a not-found is never retried
    assert a.stats()["status"] == {"key_get": {"404": 1}}, a.stats()
    r = keytest.ctl(k, "kms", "check", "bad_name!")
    assert r.returncode == 3 and "not a name" in r.stderr, r.stderr
    c = kms_counters(k)
    assert c["resolve_alias_success"] >= 2, c
    assert c["resolve_alias_not_found"] >= 1, c
    assert c["generate_dek_pair_success"] >= 2, c
    assert c["generate_dek_pair_exception"] == 0, c
    assert c["decrypt_edek_success"] >= 2, c

    # A fresh krxd, empty DEK cache: every EDEK is unwrapped by the vault.
    k.stop()
    k2 = azure_krxd(krxd_factory, tmp_path, a, cache="dekcache2")
    a.reset_stats()
    assert len(values_via(k2, t_oct)) == 150
    assert len(values_via(k2, t_rsa)) == 150
    assert a.calls("unwrapkey") >= 2
    assert a.stats()["status"]["unwrapkey"].keys() == {"200"}
    for kk in (k, k2):
        assert_no_secrets(kk, a, dec)


def test_azure_managed_identity(kafka, krxd_factory, tmp_path,
                                double_factory, az_topic):
    a = double_factory(imds=True)
    assert a.imds_url.startswith("http://")
    ver = a.create_key(f"KEK-{az_topic}", kty="RSA-HSM")
    tools.create_topics(kafka.bootstrap, {az_topic: 1})
    k = azure_krxd(krxd_factory, tmp_path, a, imds=True)
    values = [b"msi-%03d" % i for i in range(60)]
    keytest.produce(k.bootstrap, az_topic, values)
    dec = AzureDecryptor(a)
    check_broker(dec, keytest.records(kafka.bootstrap, az_topic), values,
                 f"KEK-{az_topic}", "RSA-HSM", ver)
    assert values_via(k, az_topic) == values
    assert a.calls("msi_token") == 1 and a.calls("oauth_token") == 0
    req = a.last_request("msi_token")
    assert "resource=https%3A%2F%2Fvault.azure.net" in req["query"], req
    assert {k.lower(): v for k, v in req["headers"].items()}.get(
        "metadata") == "true", req
    assert_no_secrets(k, a, dec)


def test_azure_rotation(kafka, krxd_factory, tmp_path, double_factory,
                        az_topic):
    a = double_factory()
    kek = f"KEK-{az_topic}"
    v1 = a.create_key(kek, kty="oct")
    tools.create_topics(kafka.bootstrap, {az_topic: 1})
    k = azure_krxd(krxd_factory, tmp_path, a)
    before = [b"before-%03d" % i for i in range(40)]
    keytest.produce(k.bootstrap, az_topic, before)
    k.stop()
    v2 = a.rotate_key(kek)
    assert v2 != v1
    # A new krxd resolves the key again: its new version.
    k2 = azure_krxd(krxd_factory, tmp_path, a, cache="dekcache2")
    after = [b"after-%03d" % i for i in range(40)]
    keytest.produce(k2.bootstrap, az_topic, after)
    dec = AzureDecryptor(a)
    recs = keytest.records(kafka.bootstrap, az_topic)
    check_broker(dec, recs[:40], before, kek, "oct", v1)
    check_broker(dec, recs[40:], after, kek, "oct", v2)
    k3 = azure_krxd(krxd_factory, tmp_path, a, cache="dekcache3")
    assert values_via(k3, az_topic) == before + after
    for kk in (k2, k3):
        assert_no_secrets(kk, a, dec)


def test_azure_token_expiry_and_refresh(kafka, krxd_factory, tmp_path,
                                        double_factory, az_topic):
    # Tokens last 63 s: under a minute from their end after 3 s.
    a = double_factory(token_ttl=63)
    a.create_key(f"KEK-{az_topic}", kty="RSA")
    k = azure_krxd(krxd_factory, tmp_path, a)
    r = keytest.ctl(k, "kms", "check", f"KEK-{az_topic}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    assert a.calls("oauth_token") == 1
    # Near its end the token is renewed before the vault refuses it.
    time.sleep(3.5)
    r = keytest.ctl(k, "kms", "check", f"KEK-{az_topic}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    krxtest.wait_for(lambda: a.calls("oauth_token") == 2, 10,
                     "a refresh before the token's end")
    assert "401" not in str(a.stats()["status"]), a.stats()["status"]

    # Every token expired in the double: the vault's 401 makes keysvc
    # drop its token and fetch a new one; the request passes.
    a.expire_tokens()
    start = k.log_size()
    r = keytest.ctl(k, "kms", "check", f"KEK-{az_topic}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    assert a.calls("oauth_token") == 3, a.stats()["calls"]
    st = a.stats()["status"]
    assert sum(s.get("401", 0) for s in st.values()) == 1, st
    k.wait_log(r"refused the bearer token \(HTTP 401\)", start=start)
    assert_no_secrets(k, a)


def test_azure_token_single_flight(kafka, krxd_factory, tmp_path,
                                   double_factory, az_topic):
    """Many requests without a token wait for one token request."""
    a = double_factory()
    names = [f"KEK-{az_topic}-{i}" for i in range(8)]
    for n in names:
        a.create_key(n, kty="oct")
    a.set_delay(1.5, "oauth_token")
    k = azure_krxd(krxd_factory, tmp_path, a)
    out = {}

    def check(n):
        out[n] = keytest.ctl(k, "kms", "check", n)
    ts = [threading.Thread(target=check, args=(n,)) for n in names]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for n in names:
        assert (out[n].returncode, out[n].stdout) == (0, "Ok\n"), \
            out[n].stderr
    assert a.calls("oauth_token") == 1, a.stats()["calls"]
    assert a.calls("key_get") == len(names)
    assert_no_secrets(k, a)


def test_azure_wrong_client_secret(kafka, krxd_factory, tmp_path,
                                   double_factory, az_topic):
    a = double_factory()
    a.create_key(f"KEK-{az_topic}", kty="RSA")
    tools.create_topics(kafka.bootstrap, {az_topic: 1})
    wrong = "not-the-" + SECRET
    k = azure_krxd(krxd_factory, tmp_path, a, secret=wrong)
    r = keytest.ctl(k, "kms", "check", f"KEK-{az_topic}")
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    assert "access denied" in r.stderr and "invalid_client" in r.stderr
    assert "AADSTS7000215" in r.stderr, r.stderr
    k.wait_log(r"cannot get a bearer token from https://\S+/"
               r"[0-9a-f-]+/oauth2/v2\.0/token: OAuth token refused "
               r"\(HTTP 401, invalid_client, AADSTS7000215\)")
    assert a.calls("key_get") == 0
    # A produce to the topic fails; nothing reaches the broker.
    conn = enctest.KafkaConn(k.host, k.node_port(1))
    batch = enctest.encode_batch([(b"k", b"must not be stored", ())])
    res = conn.produce({az_topic: {0: batch}})
    assert res[(az_topic, 0)][0] != 0, res
    conn.close()
    assert enctest.read_topics(kafka.bootstrap, [az_topic])[
        az_topic][0] == []
    log = k.log_text()
    assert wrong not in log and SECRET not in log
    assert "not-the-s3cr" not in log


def test_azure_split_gcm_refused(kafka, krxd_factory, tmp_path,
                                 double_factory, az_topic):
    a = double_factory(gcm_layout="split")
    t_oct, t_rsa = f"{az_topic}-oct", f"{az_topic}-rsa"
    a.create_key(f"KEK-{t_oct}", kty="oct")
    a.create_key(f"KEK-{t_rsa}", kty="RSA")
    tools.create_topics(kafka.bootstrap, {t_oct: 1, t_rsa: 1})
    k = azure_krxd(krxd_factory, tmp_path, a)
    r = keytest.ctl(k, "kms", "check", f"KEK-{t_oct}")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "generate DEK" in r.stderr and "separate iv/tag" in r.stderr
    assert "could never be unwrapped" in r.stderr, r.stderr
    k.wait_log(r"generate_dek_pair of key KEK-\S+ version [0-9a-f]{32} "
               r"failed: refused: the wrapkey answer carries a separate "
               r"iv/tag")
    # RSA keys have no iv/tag: fine under the same double.
    r = keytest.ctl(k, "kms", "check", f"KEK-{t_rsa}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr

    conn = enctest.KafkaConn(k.host, k.node_port(1))
    batch = enctest.encode_batch([(b"k", b"secret under oct", ())])
    res = conn.produce({t_oct: {0: batch}})
    assert res == {(t_oct, 0): (REQUEST_TIMED_OUT, -1)}, res
    # The connection stays open and serves the next request.
    res = conn.produce({t_rsa: {0: batch}})
    assert res == {(t_rsa, 0): (0, 0)}, res
    conn.close()
    direct = enctest.read_topics(kafka.bootstrap, [t_oct, t_rsa])
    assert direct[t_oct][0] == [], "stored in clear"
    assert len(direct[t_rsa][0]) == 1
    assert b"secret under oct" not in bytes(direct[t_rsa][0][0][4] or b"")
    assert_no_secrets(k, a)


def test_azure_tls_and_unreachable(kafka, krxd_factory, tmp_path,
                                   double_factory, az_topic):
    a = double_factory()
    kek = f"KEK-{az_topic}"
    a.create_key(kek, kty="RSA")
    k = azure_krxd(krxd_factory, tmp_path, a, ca=a.pki["other_ca"])
    r = keytest.ctl(k, "kms", "check", kek)
    assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
    assert "KMS unreachable" in r.stderr and "TLS failure" in r.stderr, \
        r.stderr
    k.wait_log(r"cannot get a bearer token from \S+: TLS failure")
    assert a.calls("oauth_token") == 0 and a.calls("key_get") == 0
    k.stop()

    k2 = azure_krxd(krxd_factory, tmp_path, a, cache="dekcache2")
    r = keytest.ctl(k2, "kms", "check", kek)
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    a.stop()
    r = keytest.ctl(k2, "kms", "check", kek)
    assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
    assert "KMS unreachable (unreachable" in r.stderr, r.stderr
    a.start()
    # Failures are remembered for a few seconds (kms_flight): poll.
    krxtest.wait_for(lambda: keytest.ctl(k2, "kms", "check", kek).stdout
                     == "Ok\n", 20, "kms check Ok once the vault is back",
                     interval=1)
    assert_no_secrets(k2, a)


def test_azure_krxd_t_accepts(krxd_factory, tmp_path, double_factory):
    a = double_factory()
    k = krxd_factory.make(start=False, vc_extra=azure_conf(tmp_path, a))
    path = k.write_config()
    r = subprocess.run([krxtest.KRXD, "-t", "-c", path], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout, r.stdout
