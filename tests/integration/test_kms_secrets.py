"""No secret in any log line, counter or error text (krx issue 10).

Each test sets secrets of its own, drives krxd (log level debug) through
success and failure, and then greps every text krx produced for them:
krxd's log (master, workers, keysvc), `krx-ctl` output (kms check
answers and errors, cache stats counters, status), and the error texts
Kafka clients were given. A DEK is looked for as raw bytes, hex (both
cases) and base64 (standard and URL-safe, with and without padding).

- Vault, token auth: the token (a distinctive value written to the
  token file), a second token the operator puts in the file after the
  first was revoked, and every DEK Vault handed out (a spy on the
  double's datakey endpoint) or that opens a record at the broker.
  Failures on the way: 500s, a 403 with the old token (keysvc reads the
  file again and uses the new one), a 403 that stands (no token works:
  kms check and a producer of a new topic get errors), Vault down.
- Vault, Kubernetes auth: the service account JWT and every token the
  login issued (renewed every few seconds, refused once).
- AWS (moto, which does not check signatures, so the secret access key
  can be any distinctive value): the secret key and every DEK.
"""

import base64
import os
import sys
import time

import pytest
from confluent_kafka import Producer

import keytest
from test_kms_vault import (check_at_broker, make_krxd, parse_vault_edek,
                            read_values, start_double, values)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kms"))


def forms(secret):
    """The ways a secret could be printed."""
    if isinstance(secret, str):
        return [secret]
    out = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        b = enc(secret)
        out += [b, b.rstrip(b"=")]
    return out


class Texts:
    """Everything krx said during a test, to grep."""

    def __init__(self, krxd):
        self.krxd = krxd
        self.extra = []

    def ctl(self, *args):
        r = keytest.ctl(self.krxd, *args)
        self.extra += [r.stdout, r.stderr]
        return r

    def add(self, text):
        self.extra.append(str(text))

    def all(self):
        self.ctl("cache", "stats")
        self.ctl("status")
        with open(self.krxd.log_path, "rb") as f:
            log = f.read()
        return [("krxd log", log)] + [
            ("krx-ctl or client text", t.encode()) for t in self.extra]

    def assert_none_of(self, secrets, what):
        texts = self.all()
        n = 0
        for s in secrets:
            for f in forms(s):
                f = f.encode() if isinstance(f, str) else f
                assert len(f) >= 16, "too short to grep for"
                for name, t in texts:
                    assert f not in t, f"a {what} is in the {name}"
                n += 1
        return n


def spy_datakeys(v):
    """Every DEK the double's datakey endpoint hands out, in a list."""
    seen, orig = [], v._datakey

    def spy(req):
        resp = orig(req)
        pt = resp.body.get("data", {}).get("plaintext") \
            if isinstance(resp.body, dict) else None
        if pt:
            seen.append(base64.b64decode(pt))
        return resp
    v._datakey = spy
    return seen


def produce_errors(bootstrap, topic, n=3, timeout=20):
    """Produce n records without retries; the delivery error texts."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "retries": 0, "message.timeout.ms": timeout * 1000,
                  "log_level": 3})
    errs = []
    for i in range(n):
        p.produce(topic, value=b"v%d" % i,
                  on_delivery=lambda e, m: errs.append(e))
    p.flush(timeout + 10)
    return [str(e) for e in errs if e is not None]


def test_vault_token_secrets(kafka, krxd_factory, tmp_path, topic_name):
    d = os.path.join(str(tmp_path), "vault")
    os.makedirs(d, exist_ok=True)
    tok1 = "hvs.KRXSECRET1" + os.urandom(12).hex()
    tok2 = "hvs.KRXSECRET2" + os.urandom(12).hex()
    token_file = os.path.join(d, "vault-token")
    with open(token_file, "w") as f:
        f.write(tok1 + "\n")
    v = start_double(tmp_path)
    try:
        assert v.token == tok1
        deks = spy_datakeys(v)
        kek = f"KEK-{topic_name}"
        v.create_key(kek)
        k = make_krxd(krxd_factory, tmp_path, v, workers=1)
        tx = Texts(k)
        want = values("sec", 40)
        keytest.produce(k.bootstrap, topic_name, want)
        edeks = check_at_broker(kafka, v, topic_name, want)
        assert read_values(k, topic_name) == want
        assert tx.ctl("kms", "check", kek).stdout == "Ok\n"

        # 500s: retried, then unavailable.
        v.fail_next("datakey", 500, 3)
        r = tx.ctl("kms", "check", kek)
        assert r.returncode == 5, r.stderr
        # The token revoked, a new one in the file: a 403, the file read
        # again, the new token used.
        v.expire_tokens()
        v.add_token(tok2)
        with open(token_file, "w") as f:
            f.write(tok2 + "\n")
        r = tx.ctl("kms", "check", kek)
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
        k.wait_log(r"token refused \(HTTP 403\); using the new token")
        # A 403 that stands: no token works any more.
        v.expire_tokens()
        r = tx.ctl("kms", "check", kek)
        assert r.returncode == 4 and "access denied" in r.stderr, r.stderr
        v.create_key(f"KEK-{topic_name}-new")
        errs = produce_errors(k.bootstrap, topic_name + "-new")
        assert errs, "a produce needing a DEK worked without a token"
        print("client errors:", sorted(set(errs)))
        for e in errs:
            tx.add(e)
        # Vault down.
        v.add_token(tok2)
        v.outage("refuse")
        r = tx.ctl("kms", "check", kek)
        assert r.returncode == 5, r.stderr
        v.recover()

        assert deks, "the spy saw no DEK"
        all_deks = set(deks)
        for _, edek in edeks:
            all_deks.add(v.decrypt_local(*parse_vault_edek(edek)))
        n = tx.assert_none_of([tok1, tok2], "Vault token")
        n += tx.assert_none_of(sorted(all_deks), "DEK")
        print(f"{len(all_deks)} DEKs and 2 tokens: {n} forms grepped")
        k.assert_running()
    finally:
        v.stop()


def test_vault_kubernetes_secrets(kafka, krxd_factory, tmp_path,
                                  topic_name):
    d = os.path.join(str(tmp_path), "vault")
    os.makedirs(d, exist_ok=True)
    jwt_file = os.path.join(d, "k8s-jwt")
    v = start_double(tmp_path, k8s_role="krx", k8s_jwt_file=jwt_file,
                     k8s_ttl=3)
    try:
        deks = spy_datakeys(v)
        kek = f"KEK-{topic_name}"
        v.create_key(kek)
        k = make_krxd(krxd_factory, tmp_path, v, workers=1, k8s={
            "role": "krx", "serviceAccountTokenFile": jwt_file})
        tx = Texts(k)
        k.wait_log(r"logged in with Kubernetes role krx", timeout=20)
        want = values("k8s", 20)
        keytest.produce(k.bootstrap, topic_name, want)
        assert read_values(k, topic_name) == want
        time.sleep(3)               # a renewal (0.8 of 3 s)
        v.expire_tokens()           # a 403: log in again
        assert tx.ctl("kms", "check", kek).stdout == "Ok\n"
        # The JWT refused: login fails, the error is reported.
        v.k8s_jwt = "not-the-jwt"
        v.expire_tokens()
        r = tx.ctl("kms", "check", kek)
        assert r.returncode != 0, r.stdout
        issued = [t for t, rec in v.tokens().items()
                  if rec["kind"] != "static"]
        assert len(issued) >= 2, v.tokens()
        with open(jwt_file) as f:
            jwt = f.read().strip()
        n = tx.assert_none_of([jwt] + issued + [v.token],
                              "JWT or Vault token")
        n += tx.assert_none_of(sorted(set(deks)), "DEK")
        print(f"{len(issued)} issued tokens, {len(set(deks))} DEKs: "
              f"{n} forms grepped")
    finally:
        v.stop()


def test_aws_secret_key(kafka, krxd_factory, tmp_path, topic_name):
    pytest.importorskip("moto")
    import moto_kms
    from test_kms_aws import (MotoDecryptor, aws_conf, aws_krxd,
                              check_broker)
    m = moto_kms.MotoServer(log_path=str(tmp_path / "moto.log"))
    m.start()
    try:
        secret = "krxAWSSECRET/" + base64.b64encode(os.urandom(24)).decode()
        conf = aws_conf(tmp_path, m.endpoint)
        with open(tmp_path / "aws-secret-key", "w") as f:
            f.write(secret + "\n")
        key_id = m.create_key_with_alias(f"KEK-{topic_name}")
        k = aws_krxd(krxd_factory, tmp_path, m, workers=1, vc_extra=conf)
        tx = Texts(k)
        want = values("aws", 20)
        keytest.produce(k.bootstrap, topic_name, want)
        dec = MotoDecryptor(m)
        check_broker(dec, keytest.records(kafka.bootstrap, topic_name),
                     want, key_id)
        assert read_values(k, topic_name) == want
        assert tx.ctl("kms", "check", f"KEK-{topic_name}").stdout == "Ok\n"
        r = tx.ctl("kms", "check", "KEK-absent")
        assert r.returncode == 3, r.stderr
        n = tx.assert_none_of([secret], "secret access key")
        n += tx.assert_none_of(sorted(set(dec.deks.values())), "DEK")
        print(f"AWS: {n} forms grepped")
    finally:
        m.stop()
