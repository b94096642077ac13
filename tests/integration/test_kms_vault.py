"""VaultKmsService against the Vault Transit test double (tests/kms).

The double serves HTTPS with its own CA. krxd encrypts with kms =
"VaultKmsService" and KEK-<topic> created in the double; records
produced through krxd are encrypted at the broker, each EDEK is
Kroxylicious' Vault form (uvarint name length | key name |
"vault:vN:<base64>") and the double itself (decrypt_local) unwraps it to
the DEK that opens the record; read back through krxd every record is
the one produced. Covered: the trust store as PEM, PKCS12 and JKS made
from the double's CA (keytool); a namespace in the URL (v1/ns1/transit);
Kubernetes auth (login at start, renewal before the lease ends, login
again after a 403); key rotation in the double (records of both versions
decrypt); not found answered at once, 503 retried three times;
single flight (many concurrent consumers through a krxd with a
fresh DEK cache cost the double one decrypt call per EDEK); a wrong CA
refused with a clear log line and krx-ctl kms check naming TLS. The
token (and the JWT) never appear in krxd's log.
"""

import os
import re
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import keytest
import krxtest
import tools

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kms"))
from vault_double import VaultDouble  # noqa: E402

CT_RE = re.compile(rb"vault:v([1-9][0-9]*):[A-Za-z0-9+/]+={0,2}")


def vault_enc(url, tmp, token_file=None, k8s=None, trust=None,
              trust_type="PEM", trust_pw_file=None, insecure=False,
              experimental=None):
    """The record_encryption group for the Vault at url."""
    auth = ""
    if token_file:
        auth = f'vaultToken = {{ passwordFile = "{token_file}"; }};'
    if k8s:
        auth = "kubernetesAuth = { " + " ".join(
            f'{k} = "{v}";' for k, v in k8s.items()) + " };"
    tls = ""
    if insecure:
        tls = "tls = { trust = { insecure = true; }; };"
    elif trust:
        pw = (f'storePassword = {{ passwordFile = "{trust_pw_file}"; }}; '
              if trust_pw_file else "")
        tls = (f'tls = {{ trust = {{ storeFile = "{trust}"; {pw}'
               f'storeType = "{trust_type}"; }}; }};')
    exp = ""
    if experimental:
        exp = "      experimental = { " + " ".join(
            f"{k} = {v};" for k, v in experimental.items()) + " };\n"
    return ("    record_encryption = {\n"
            '      kms = "VaultKmsService";\n'
            f'      kmsConfig = {{ vaultTransitEngineUrl = "{url}"; {auth}\n'
            f"        {tls} connectTimeoutSeconds = 5;\n"
            "        requestTimeoutSeconds = 10; };\n"
            '      selector = "TemplateKekSelector";\n'
            '      selectorConfig = { template = "KEK-$(topicName)"; };\n'
            '      unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED";\n'
            f"{exp}"
            "    };\n")


def start_double(tmp_path, **kw):
    d = os.path.join(str(tmp_path), "vault")
    os.makedirs(d, exist_ok=True)
    kw.setdefault("token_file", os.path.join(d, "vault-token"))
    v = VaultDouble(dir=d, **kw)
    v.start()
    return v


def make_krxd(krxd_factory, tmp_path, vault, name="a", workers=2,
              **enc):
    """A krxd encrypting with vault (its own DEK cache)."""
    cache = os.path.join(str(tmp_path), f"dekcache-{name}")
    enc.setdefault("trust", vault.ca_file)
    if "k8s" not in enc:
        enc.setdefault("token_file", os.path.join(vault.dir, "vault-token"))
    k = krxd_factory.make(workers=workers, extra=keytest.cache_conf(cache),
                          vc_extra=vault_enc(vault.transit_url, tmp_path,
                                             **enc))
    keytest.wait_keysvc(k)
    return k


def parse_vault_edek(edek):
    """Kroxylicious' VaultEdekSerde -> (key name, ciphertext string)."""
    n, pos = enctest.uvarint(edek, 0)
    assert 1 <= n <= 255, f"key name length {n}"
    name = edek[pos:pos + n].decode("ascii")
    ct = edek[pos + n:]
    assert CT_RE.fullmatch(ct), f"EDEK ciphertext {ct[:40]!r}"
    return name, ct.decode("ascii")


def check_at_broker(kafka, vault, topic, values):
    """Every record at the broker is the wrapper of values[i] under a
    Vault EDEK of KEK-<topic>; returns the list of (version, EDEK)."""
    recs = keytest.records(kafka.bootstrap, topic)
    assert len(recs) == len(values)
    deks, out = {}, []
    for rec, want in zip(recs, values):
        _, _, off, _, val, hdrs, _, _ = rec
        assert hdrs and hdrs[0] == (keytest.HDR_KEY, b"\x02"), \
            f"@{off}: not encrypted: headers {hdrs!r}"
        w = enctest.parse_wrapper(val)
        name, ct = parse_vault_edek(w["edek"])
        assert name == f"KEK-{topic}"
        if w["edek"] not in deks:
            dek = vault.decrypt_local(name, ct)
            assert len(dek) == 32
            deks[w["edek"]] = dek
        parcel = AESGCM(deks[w["edek"]]).decrypt(w["iv"], w["ct"], None)
        assert enctest.parse_parcel(parcel) == want, f"@{off}"
        out.append((int(CT_RE.fullmatch(ct.encode()).group(1)),
                    w["edek"]))
    return out


def read_values(krxd, topic):
    return [r[4] for r in keytest.records(krxd.bootstrap, topic)]


def assert_no_secrets(krxd, vault, extra=()):
    log = krxd.log_text()
    for s in [vault.token] + list(vault.tokens()) + list(extra):
        assert s not in log, "a Vault token or JWT is in krxd's log"


def values(tag, n):
    return [b"%s-%04d-" % (tag.encode(), i) + b"x" * (i % 50)
            for i in range(n)]


# -- tests ---------------------------------------------------------------

def test_vault_roundtrip_pem_trust(kafka, krxd_factory, tmp_path,
                                   topic_name):
    v = start_double(tmp_path)
    try:
        v.create_key(f"KEK-{topic_name}")
        k = make_krxd(krxd_factory, tmp_path, v)
        want = values("pem", 200)
        keytest.produce(k.bootstrap, topic_name, want)
        edeks = check_at_broker(kafka, v, topic_name, want)
        assert {ver for ver, _ in edeks} == {1}
        assert read_values(k, topic_name) == want
        st = v.stats()["calls"]
        assert st.get("keys_read", 0) >= 1 and st.get("datakey", 0) >= 1
        r = keytest.ctl(k, "kms", "check", f"KEK-{topic_name}")
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
        v.reset_stats()
        r = keytest.ctl(k, "kms", "check", "KEK-absent")
        assert r.returncode == 3 and "KEK not found" in r.stderr, r.stderr
        # not found is never retried: one read of the key, nothing else
        # (kms check resolves the alias first, as Kroxylicious does)
        assert v.stats()["status"] == {"keys_read": {"404": 1}}, \
            v.stats()["status"]
        c0 = kms_counters(k)
        assert c0["resolve_alias_not_found"] >= 1, c0
        assert c0["resolve_alias_success"] >= 1, c0
        assert c0["generate_dek_pair_success"] >= 1, c0
        # 503 is, three attempts, then unavailable; then Vault is back
        v.reset_stats()
        v.outage("503")
        r = keytest.ctl(k, "kms", "check", f"KEK-{topic_name}")
        v.recover()
        assert r.returncode == 5 and "HTTP 503" in r.stderr, r.stderr
        assert v.stats()["outage_refusals"] == 3
        # the guide's counters count each attempt and its outcome
        c1 = kms_counters(k)
        for n in ("attempts", "exception"):
            key = f"resolve_alias_{n}"
            assert c1[key] - c0[key] == 3, (key, c0, c1)
        # Failures are remembered for a few seconds (kms_flight): poll.
        krxtest.wait_for(lambda: keytest.ctl(
            k, "kms", "check", f"KEK-{topic_name}").stdout == "Ok\n", 20,
            "kms check Ok once Vault is back", interval=1)
        # a topic without a KEK in Vault passes in clear (policy)
        keytest.produce(k.bootstrap, topic_name + "-clear", [b"plain"])
        recs = keytest.records(kafka.bootstrap, topic_name + "-clear")
        assert [r[4] for r in recs] == [b"plain"]
        assert_no_secrets(k, v)
        k.assert_running()
    finally:
        v.stop()


def kms_counters(krxd):
    """keysvc.kms_<operation>_<outcome|attempts> of krx-ctl cache
    stats, without the prefix."""
    return {k[len("keysvc.kms_"):]: v for k, v in
            keytest.cache_stats(krxd).items() if k.startswith("keysvc.kms_")}


def keytool_trust(tmp_path, ca, kind):
    """A trust store of kind (PKCS12 or JKS) holding ca; its password
    file."""
    store = os.path.join(str(tmp_path), f"trust.{kind.lower()}")
    pw = os.path.join(str(tmp_path), "trust-pw")
    with open(pw, "w") as f:
        f.write("changeit\n")
    subprocess.run(["keytool", "-importcert", "-noprompt", "-alias",
                    "vault-ca", "-file", ca, "-keystore", store,
                    "-storetype", kind, "-storepass", "changeit"],
                   check=True, capture_output=True, timeout=120)
    return store, pw


@pytest.mark.parametrize("kind", ["PKCS12", "JKS"])
def test_vault_namespace_keytool_trust(kafka, krxd_factory, tmp_path,
                                       topic_name, kind):
    v = start_double(tmp_path, namespace="ns1")
    try:
        assert v.transit_url.endswith("/v1/ns1/transit")
        v.create_key(f"KEK-{topic_name}")
        store, pw = keytool_trust(tmp_path, v.ca_file, kind)
        k = make_krxd(krxd_factory, tmp_path, v, trust=store,
                      trust_type=kind, trust_pw_file=pw)
        want = values(kind, 50)
        keytest.produce(k.bootstrap, topic_name, want)
        check_at_broker(kafka, v, topic_name, want)
        assert read_values(k, topic_name) == want
        assert_no_secrets(k, v)
    finally:
        v.stop()


def test_vault_kubernetes_auth(kafka, krxd_factory, tmp_path, topic_name):
    d = os.path.join(str(tmp_path), "vault")
    jwt_file = os.path.join(d, "k8s-jwt")
    v = start_double(tmp_path, namespace="ns1", k8s_role="krx",
                     k8s_jwt_file=jwt_file, k8s_ttl=4)
    try:
        v.create_key(f"KEK-{topic_name}")
        k = make_krxd(krxd_factory, tmp_path, v, k8s={
            "role": "krx", "serviceAccountTokenFile": jwt_file,
            "namespace": "ns1"})
        k.wait_log(r"logged in with Kubernetes role krx", timeout=20)
        want = values("k8s", 40)
        keytest.produce(k.bootstrap, topic_name, want)
        check_at_broker(kafka, v, topic_name, want)
        # renewed at 0.8 of the 4 s lease: logins keep coming
        time.sleep(7)
        assert v.calls("k8s_login") >= 3, v.stats()["calls"]
        r = keytest.ctl(k, "kms", "check", f"KEK-{topic_name}")
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
        # every token refused: a 403 makes keysvc log in again
        n = v.calls("k8s_login")
        v.expire_tokens()
        r = keytest.ctl(k, "kms", "check", f"KEK-{topic_name}")
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
        assert v.calls("k8s_login") > n
        assert read_values(k, topic_name) == want
        assert_no_secrets(k, v, [open(jwt_file).read().strip()])
    finally:
        v.stop()


def test_vault_rotation(kafka, krxd_factory, tmp_path, topic_name):
    v = start_double(tmp_path)
    try:
        kek = f"KEK-{topic_name}"
        v.create_key(kek)
        k = make_krxd(krxd_factory, tmp_path, v, experimental={
            "encryptionDekRefreshAfterWriteSeconds": 1,
            "encryptionDekExpireAfterWriteSeconds": 2})
        before, after = values("before", 30), values("after", 30)
        keytest.produce(k.bootstrap, topic_name, before)
        assert v.rotate_key(kek) == 2
        time.sleep(3)
        keytest.produce(k.bootstrap, topic_name, after)
        edeks = check_at_broker(kafka, v, topic_name, before + after)
        assert {ver for ver, _ in edeks[:30]} == {1}
        assert {ver for ver, _ in edeks[30:]} == {2}
        # a krxd with a fresh DEK cache asks Vault for both versions
        k2 = make_krxd(krxd_factory, tmp_path, v, name="b")
        v.reset_stats()
        assert read_values(k2, topic_name) == before + after
        assert v.calls("decrypt") >= 2
        assert_no_secrets(k2, v)
    finally:
        v.stop()


def test_vault_single_flight(kafka, krxd_factory, tmp_path, topic_name):
    v = start_double(tmp_path)
    try:
        v.create_key(f"KEK-{topic_name}")
        k = make_krxd(krxd_factory, tmp_path, v, workers=1)
        want = values("sf", 300)
        keytest.produce(k.bootstrap, topic_name, want)
        distinct = {e for _, e in check_at_broker(kafka, v, topic_name,
                                                  want)}
        # a fresh DEK cache: every DEK must come from Vault, slowly
        k2 = make_krxd(krxd_factory, tmp_path, v, name="b", workers=4)
        v.reset_stats()
        v.set_delay(1.0, "decrypt")
        got, errs = [], []

        def consume():
            try:
                got.append(read_values(k2, topic_name))
            except Exception as e:  # noqa: BLE001 (reported below)
                errs.append(e)
        ts = [threading.Thread(target=consume) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        assert not errs, errs
        assert got == [want] * 8
        n = v.calls("decrypt")
        print(f"single flight: {n} decrypt calls, {len(distinct)} EDEKs")
        assert 1 <= n <= len(distinct), \
            f"{n} decrypt calls for {len(distinct)} EDEKs, 8 consumers"
    finally:
        v.stop()


def test_vault_wrong_ca(kafka, krxd_factory, tmp_path, topic_name):
    v = start_double(tmp_path)
    try:
        v.create_key(f"KEK-{topic_name}")
        k = make_krxd(krxd_factory, tmp_path, v,
                      trust=v.pki["other_ca"])
        r = keytest.ctl(k, "kms", "check", f"KEK-{topic_name}")
        assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
        assert "TLS" in r.stderr, r.stderr
        k.wait_log(r"vault https://127\.0\.0\.1:\d+/v1/transit: TLS "
                   r"failure", timeout=10)
        assert v.calls("datakey") == 0
        assert_no_secrets(k, v)
    finally:
        v.stop()


def test_ctl_request_at_retired_keysvc_answered(kafka, krxd_factory,
                                                tmp_path, topic_name):
    """A krx-ctl request waiting at a key service that a reload retires
    (the KMS settings changed) is answered when that key service ends,
    not left to the krx-ctl timeout."""
    v = start_double(tmp_path)
    try:
        v.create_key(f"KEK-{topic_name}")
        k = make_krxd(krxd_factory, tmp_path, v, workers=1)
        v.outage("hang")
        ctl = subprocess.Popen(
            [krxtest.KRXCTL, "-s", k.control_socket, "kms", "check",
             f"KEK-{topic_name}"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=k.env)
        krxtest.wait_for(lambda: v.stats()["outage_refusals"] >= 1, 20,
                         "kms check at the Vault double")
        k.vc_extra = k.vc_extra.replace("requestTimeoutSeconds = 10",
                                        "requestTimeoutSeconds = 11")
        k.write_config()
        r = k.ctl("reload", check=False, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        t0 = time.monotonic()
        out, err = ctl.communicate(timeout=20)
        assert time.monotonic() - t0 < 15
        assert ctl.returncode != 0 and "the key service exited" in err, \
            (ctl.returncode, out, err)
        v.recover()
        k.assert_running()
    finally:
        v.stop()
