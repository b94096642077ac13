"""AwsKmsService against AWS KMS as moto's server emulates it.

moto (tests/kms/moto_kms.py) runs on loopback; a key with the alias
KEK-<topic> is made through moto's API, and krxd encrypts with
kms = "AwsKmsService" (endpointUrl http://127.0.0.1:PORT, us-east-1,
longTerm credential files with moto's dummy keys).

- Round trip: values produced through krxd read back through krxd. At
  the broker every value is a wrapper v2 whose EDEK is Kroxylicious' AWS
  form (0x00 | uvarint n | KeyId | CiphertextBlob) naming the alias's
  KeyId; moto's own Decrypt of the CiphertextBlob gives the DEK, which
  (AES-256-GCM, written here with `cryptography`) opens the record.
- A second krxd with an empty DEK cache decrypts every record again with
  at most one Decrypt call per distinct EDEK (keysvc's single flight),
  as counted by `krx-ctl cache stats` (keysvc.kms_* counters).
- `krx-ctl kms check KEK-x` prints Ok; on an alias that does not exist
  it exits 3 naming the KEK and "not found"; once moto has forgotten the
  key, kms check says not found and a consumer through krxd gets
  RESOURCE_NOT_FOUND (91) for the records under it.
- The alias pointed at a new key: records from before (old KeyId) and
  after (new KeyId, once krxd restarted with fresh caches) all decrypt.
- Neither the secret access key nor any DEK appears in krxd's log.
- TLS (moto behind tests/kms/tls_forward.py, which requires a client
  certificate from tlsca's CA): the trust store as PEM, PKCS12 and JKS
  (keytool) with a client key as PEM files, a PKCS12 and a JKS key store;
  the forwarder sees the client certificate and the KMS calls; with PEM,
  longTerm's sessionToken goes as X-Amz-Security-Token, signed. A server
  of another CA, or of the right CA for another host name, is refused
  with a "TLS failure" log line and no KMS call; trust = { insecure =
  true; } accepts the latter, and says so in the log.
- ec2Metadata: IMDSv2 from tests/kms/imds_double.py (session token PUT,
  then the role's credentials with it), credentials that last 10 s:
  renewed at 0.8 of their life, each set used to sign (seen at the
  forwarder); a failed renewal keeps the credentials and is tried again.
  No secret access key, session token or IMDS token in the log.
"""

import base64
import os
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import keytest
import krxtest
import tools

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kms"))
import imds_double  # noqa: E402
import moto_kms  # noqa: E402
import tls_forward  # noqa: E402
import tlsca  # noqa: E402


@pytest.fixture
def moto(tmp_path):
    m = moto_kms.MotoServer(log_path=str(tmp_path / "moto.log"))
    m.start()
    try:
        yield m
    finally:
        m.stop()


def secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


def long_term_creds(tmp_path, session_token=None):
    """The credentials group of moto's long-term keys (and a session token
    file when given)."""
    ak = secret_file(str(tmp_path / "aws-access-key"), moto_kms.ACCESS_KEY)
    sk = secret_file(str(tmp_path / "aws-secret-key"), moto_kms.SECRET_KEY)
    st = ""
    if session_token is not None:
        f = secret_file(str(tmp_path / "aws-session-token"), session_token)
        st = f'          sessionToken = {{ passwordFile = "{f}"; }};\n'
    return ("        credentials = { longTerm = {\n"
            f'          accessKeyId = {{ passwordFile = "{ak}"; }};\n'
            f'          secretAccessKey = {{ passwordFile = "{sk}"; }};\n'
            f"{st}"
            "        }; };\n")


def aws_conf(tmp_path, endpoint, creds=None, tls=""):
    return ("    record_encryption = {\n"
            '      kms = "AwsKmsService";\n'
            "      kmsConfig = {\n"
            f'        endpointUrl = "{endpoint}";\n'
            '        region = "us-east-1";\n'
            + (creds or long_term_creds(tmp_path)) +
            (f"        {tls}\n" if tls else "") +
            "        requestTimeoutSeconds = 10;\n"
            "      };\n"
            '      selector = "TemplateKekSelector";\n'
            '      selectorConfig = { template = "KEK-$(topicName)"; };\n'
            '      unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED";\n'
            "    };\n")


ROLE_ARN = "arn:aws:iam::123456789012:role/krx-encryption"


def web_identity_conf(tmp_path, endpoint):
    """kmsConfig with webIdentity credentials from STS at endpoint (moto
    serves STS too); the token file is tmp_path/web-token (not made)."""
    token = str(tmp_path / "web-token")
    creds = ("        credentials = { webIdentity = {\n"
             f'          roleArn = "{ROLE_ARN}";\n'
             f'          webIdentityTokenFile = "{token}";\n'
             '          roleSessionName = "krx-test";\n'
             f'          stsEndpointUrl = "{endpoint}";\n'
             "          durationSeconds = 900;\n"
             "        }; };\n")
    return aws_conf(tmp_path, endpoint, creds=creds)


def aws_krxd(factory, tmp_path, moto, cache="dekcache", workers=2,
             vc_extra=None):
    """A krxd encrypting with AwsKmsService at moto; its own DEK cache
    directory (a new name: an empty cache)."""
    k = factory.make(workers=workers,
                     extra=keytest.cache_conf(str(tmp_path / cache)),
                     vc_extra=vc_extra or aws_conf(tmp_path, moto.endpoint))
    keytest.wait_keysvc(k)
    return k


def parse_aws_edek(edek):
    """Kroxylicious' AWS EDEK -> (KeyId, CiphertextBlob)."""
    assert edek[0] == 0x00, f"AWS EDEK version byte {edek[0]}"
    n, pos = enctest.uvarint(edek, 1)
    assert 1 <= n <= 256, f"KeyId length {n}"
    key_id = edek[pos:pos + n].decode("ascii")
    blob = bytes(edek[pos + n:])
    assert len(blob) > 0
    return key_id, blob


class MotoDecryptor:
    """Opens records with DEKs that moto itself decrypts."""

    def __init__(self, moto):
        self.moto = moto
        self.deks = {}

    def open(self, value):
        w = enctest.parse_wrapper(value)
        key_id, blob = parse_aws_edek(w["edek"])
        dek = self.deks.get(w["edek"])
        if dek is None:
            dek = self.moto.decrypt(blob, key_id)
            assert len(dek) == 32, f"moto's DEK is {len(dek)} bytes"
            self.deks[w["edek"]] = dek
        parcel = AESGCM(dek).decrypt(w["iv"], w["ct"], None)
        return enctest.parse_parcel(parcel), key_id, w["edek"]


def check_broker(dec, recs, values, key_id):
    """recs read at the broker are values encrypted under key_id; returns
    the set of EDEKs."""
    assert len(recs) == len(values)
    edeks = set()
    for rec, v in zip(recs, values):
        hdrs = rec[5]
        assert hdrs and hdrs[0] == (enctest.ENC_HEADER, b"\x02"), hdrs
        assert rec[4] != v, "value in clear at the broker"
        plain, kid, edek = dec.open(rec[4])
        assert kid == key_id, f"EDEK names {kid}, the alias {key_id}"
        assert plain == v
        edeks.add(edek)
    return edeks


def values_via(krxd, topic):
    return [r[4] for r in keytest.records(krxd.bootstrap, topic)]


def kms_counters(krxd):
    st = keytest.cache_stats(krxd)
    return {k[len("keysvc.kms_"):]: v for k, v in st.items()
            if k.startswith("keysvc.kms_")}


def assert_no_secrets(krxd, dec):
    log = krxd.log_text()
    assert moto_kms.SECRET_KEY not in log, "secret access key in the log"
    for dek in dec.deks.values():
        for form in (dek.hex(), base64.b64encode(dek).decode()):
            assert form not in log, "a DEK in the log"


def test_kms_aws_roundtrip(kafka, krxd_factory, tmp_path, moto, topic_name):
    t = topic_name
    key_id = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    krxd = aws_krxd(krxd_factory, tmp_path, moto)

    values = [b"aws-%04d-" % i + os.urandom(i % 50) for i in range(300)]
    keytest.produce(krxd.bootstrap, t, values)
    dec = MotoDecryptor(moto)
    edeks = check_broker(dec, keytest.records(kafka.bootstrap, t), values,
                         key_id)
    assert values_via(krxd, t) == values

    c = kms_counters(krxd)
    assert c["resolve_alias_success"] >= 1, c
    assert c["generate_dek_pair_success"] >= 1, c
    assert c["generate_dek_pair_exception"] == 0, c

    # kms check: the whole chain, then a missing alias.
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    r = keytest.ctl(krxd, "kms", "check", "KEK-no-such-alias")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "KEK not found" in r.stderr and "KEK-no-such-alias" in r.stderr
    assert "NotFoundException" in r.stderr, r.stderr
    c = kms_counters(krxd)
    assert c["resolve_alias_not_found"] >= 1, c

    # A second krxd, empty DEK cache: every record decrypts again, with
    # at most one KMS Decrypt per distinct EDEK.
    krxd.stop()
    krxd2 = aws_krxd(krxd_factory, tmp_path, moto, cache="dekcache2")
    assert values_via(krxd2, t) == values
    c = kms_counters(krxd2)
    assert 1 <= c["decrypt_edek_success"] <= len(edeks), (c, len(edeks))
    assert c["decrypt_edek_attempts"] == c["decrypt_edek_success"], c

    for k in (krxd, krxd2):
        assert_no_secrets(k, dec)


def test_kms_aws_alias_rotation(kafka, krxd_factory, tmp_path, moto,
                                topic_name):
    t = topic_name
    key1 = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    krxd = aws_krxd(krxd_factory, tmp_path, moto)
    before = [b"before-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, t, before)
    krxd.stop()

    key2 = moto.create_key("the next KEK")
    moto.client().update_alias(AliasName=f"alias/KEK-{t}",
                               TargetKeyId=key2)
    krxd = aws_krxd(krxd_factory, tmp_path, moto, cache="dekcache2")
    after = [b"after-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, t, after)

    dec = MotoDecryptor(moto)
    recs = keytest.records(kafka.bootstrap, t)
    check_broker(dec, recs[:50], before, key1)
    check_broker(dec, recs[50:], after, key2)
    assert values_via(krxd, t) == before + after
    assert_no_secrets(krxd, dec)


def test_kms_aws_key_gone(kafka, krxd_factory, tmp_path, moto, topic_name):
    t = topic_name
    key_id = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1)
    values = [b"doomed-%03d" % i for i in range(20)]
    keytest.produce(krxd.bootstrap, t, values)
    krxd.stop()

    # moto forgets every key and alias (it does not enforce key states,
    # so "pending deletion" is covered by the unit tests' error mapping).
    moto.reset()
    krxd = aws_krxd(krxd_factory, tmp_path, moto, cache="dekcache2",
                    workers=1)
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "KEK not found" in r.stderr and f"KEK-{t}" in r.stderr, r.stderr
    # Fetch: the KEK is gone, the client gets RESOURCE_NOT_FOUND.
    errors, got = enctest.consume_until_error(krxd.bootstrap, t)
    assert got == [] and errors, (errors, got)
    assert any(e.code() == enctest.RESOURCE_NOT_FOUND for e in errors), \
        errors
    krxtest.wait_for(lambda: kms_counters(krxd)["decrypt_edek_not_found"]
                     >= 1, 10, "decrypt not found counted")
    # The worker names the EDEK's KEK by its KeyId (not "? version 0").
    krxd.wait_log(rf"cannot decrypt records of {re.escape(t)}-0 "
                  rf"\(KEK {re.escape(key_id)}\)", timeout=10)
    assert_no_secrets(krxd, MotoDecryptor(moto))


def test_kms_aws_web_identity(kafka, krxd_factory, tmp_path, moto,
                              topic_name):
    """webIdentity: STS AssumeRoleWithWebIdentity (moto's STS) with the
    token file; until the file exists requests are unavailable and kms
    check says why; once it does (a retry within 5 s), temporary
    credentials sign the KMS calls and records round-trip. Neither the
    web identity token nor the temporary credentials reach the log."""
    t = topic_name
    key_id = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1,
                    vc_extra=web_identity_conf(tmp_path, moto.endpoint))
    krxd.wait_log(r"cannot read the web identity token file", timeout=10)
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
    assert r.returncode == 5, (r.returncode, r.stdout, r.stderr)
    assert "no credentials yet" in r.stderr and "web identity token" \
        in r.stderr, r.stderr

    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrcngifQ.c2VjcmV0LXNpZw"
    secret_file(str(tmp_path / "web-token"), token)
    krxd.wait_log(r"web identity credentials for role "
                  r"arn:aws:iam::123456789012:role/krx-encryption obtained, "
                  r"valid \d+ s, renewed in \d+ s", timeout=30)
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr

    values = [b"irsa-%03d" % i for i in range(40)]
    keytest.produce(krxd.bootstrap, t, values)
    dec = MotoDecryptor(moto)
    check_broker(dec, keytest.records(kafka.bootstrap, t), values, key_id)
    assert values_via(krxd, t) == values
    log = krxd.log_text()
    assert token not in log and "c2VjcmV0LXNpZw" not in log
    # moto's session tokens and secret keys have recognisable shapes
    assert not re.search(r"FQoGZXIvYXdzE|ASIA[A-Z0-9]{16}", log), \
        "temporary credentials in the log"
    assert_no_secrets(krxd, dec)


# ---- TLS, session token, EC2 instance metadata ----

PW = "changeit"


@pytest.fixture
def pki(tmp_path):
    return tlsca.ensure(str(tmp_path / "pki"))


@pytest.fixture
def forwarders():
    made = []

    def make(moto, pki, cert="server", client_ca=None):
        f = tls_forward.TlsForward(("127.0.0.1", moto.port), pki[cert],
                                   pki[cert + "_key"], client_ca=client_ca)
        made.append(f.start())
        return f
    yield make
    for f in made:
        f.stop()


def keytool(*args):
    subprocess.run(["keytool", *args], check=True, capture_output=True,
                   timeout=120)


def make_stores(tmp_path, pki, kind):
    """(tls group text, password file) for a trust store and a client key
    store of kind: PEM files, or PKCS12 / JKS stores (keytool)."""
    d = tmp_path / "stores"
    d.mkdir(exist_ok=True)
    pw = secret_file(str(d / "store-pw"), PW)
    if kind == "PEM":
        return ("tls = { trust = { storeFile = \"%s\"; storeType = \"PEM\"; "
                "}; key = { privateKeyFile = \"%s\"; certificateFile = "
                "\"%s\"; }; };" % (pki["ca"], pki["client_key"],
                                   pki["client"]))
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    trust = str(d / f"trust.{kind.lower()}")
    keytool("-importcert", "-noprompt", "-alias", "kms-ca", "-file",
            pki["ca"], "-keystore", trust, "-storetype", kind,
            "-storepass", PW)
    with open(pki["client_key"], "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    with open(pki["client"], "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(pki["ca"], "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    p12 = str(d / "client.p12")
    with open(p12, "wb") as f:
        f.write(pkcs12.serialize_key_and_certificates(
            b"client", key, cert, [ca],
            serialization.BestAvailableEncryption(PW.encode())))
    store = p12
    if kind == "JKS":
        store = str(d / "client.jks")
        keytool("-importkeystore", "-noprompt", "-srckeystore", p12,
                "-srcstoretype", "PKCS12", "-srcstorepass", PW,
                "-destkeystore", store, "-deststoretype", "JKS",
                "-deststorepass", PW, "-destkeypass", PW)
    return ("tls = { trust = { storeFile = \"%s\"; storeType = \"%s\"; "
            "storePassword = { passwordFile = \"%s\"; }; }; key = { "
            "storeFile = \"%s\"; storeType = \"%s\"; storePassword = { "
            "passwordFile = \"%s\"; }; keyPassword = { passwordFile = "
            "\"%s\"; }; };};" % (trust, kind, pw, store, kind, pw, pw))


def signed_with_token(fwd, token):
    """The forwarder saw token as X-Amz-Security-Token, in SignedHeaders."""
    sent = fwd.sent()
    return (fwd.saw(b"x-amz-security-token: " + token.encode())
            and re.search(rb"SignedHeaders=[a-z0-9;-]*x-amz-security-token",
                          sent, re.I) is not None)


@pytest.mark.parametrize("kind", ["PEM", "PKCS12", "JKS"])
def test_kms_aws_tls_stores(kafka, krxd_factory, tmp_path, moto, pki,
                            forwarders, topic_name, kind):
    t = topic_name
    key_id = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    fwd = forwarders(moto, pki, client_ca=pki["ca"])
    token = "FwoGZXIvYXdzEKRXsessionTOKEN0123456789abcdef" if kind == "PEM" \
        else None
    conf = aws_conf(tmp_path, fwd.url,
                    creds=long_term_creds(tmp_path, session_token=token),
                    tls=make_stores(tmp_path, pki, kind))
    krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1, vc_extra=conf)
    krxd.wait_log(r"AwsKmsService https://127\.0\.0\.1:\d+ \(region "
                  r"us-east-1, long-term credentials"
                  + (" with a session token" if token else "")
                  + r", own TLS stores\)", timeout=10)
    values = [b"tls-%s-%03d" % (kind.encode(), i) for i in range(30)]
    keytest.produce(krxd.bootstrap, t, values)
    dec = MotoDecryptor(moto)
    check_broker(dec, keytest.records(kafka.bootstrap, t), values, key_id)
    assert values_via(krxd, t) == values
    # Everything went through the forwarder, with the client certificate.
    assert fwd.handshakes >= 1 and not fwd.failures, fwd.failures
    assert "krx test client" in fwd.client_cns, fwd.client_cns
    assert fwd.saw(b"x-amz-target: TrentService.GenerateDataKey")
    if token:
        assert signed_with_token(fwd, token)
        assert token not in krxd.log_text()
    else:
        assert not fwd.saw(b"x-amz-security-token")
    assert_no_secrets(krxd, dec)


def test_kms_aws_tls_refused(kafka, krxd_factory, tmp_path, moto, pki,
                             forwarders, topic_name):
    """Another CA's server, or the CA's certificate for another host name:
    refused, named in the log, no KMS call. insecure = true accepts the
    wrong host name (and says so)."""
    t = topic_name
    moto.create_key_with_alias(f"KEK-{t}")
    trust = 'tls = { trust = { storeFile = "%s"; storeType = "PEM"; }; };' \
        % pki["ca"]
    for cert, why in (("other_server", r"certificate"),
                      ("wronghost", r"(subject name|host ?name|match)")):
        fwd = forwarders(moto, pki, cert=cert)
        krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1,
                        cache=f"dekcache-{cert}",
                        vc_extra=aws_conf(tmp_path, fwd.url, tls=trust))
        r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
        assert r.returncode == 5, (cert, r.returncode, r.stdout, r.stderr)
        assert "TLS failure" in r.stderr, r.stderr
        m = krxd.wait_log(rf"AWS KMS resolve_alias of alias KEK-{t} failed: "
                          r"TLS failure: .*", timeout=10)
        assert re.search(why, m.group(0), re.I), m.group(0)
        # (TLS 1.3: the server side may count the handshake done before
        # the client checks; what matters is that no request went out.)
        assert not fwd.saw(b"x-amz-target") and fwd.sent() == b""
        krxd.stop()
    fwd = forwarders(moto, pki, cert="wronghost")
    krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1,
                    cache="dekcache-insecure",
                    vc_extra=aws_conf(tmp_path, fwd.url, tls="tls = { trust "
                                      "= { insecure = true; }; };"))
    krxd.wait_log(r"tls\.trust\.insecure = true: the KMS's certificate and "
                  r"host name are NOT checked", timeout=10)
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    assert fwd.saw(b"x-amz-target: TrentService.DescribeKey")


def ec2_creds(imds, role="krx-role"):
    return ("        credentials = { ec2Metadata = {\n"
            f'          iamRole = "{role}";\n'
            f'          metadataEndpoint = "{imds.url}/";\n'
            "        }; };\n")


def test_kms_aws_ec2_metadata(kafka, krxd_factory, tmp_path, moto, pki,
                              forwarders, topic_name):
    t = topic_name
    key_id = moto.create_key_with_alias(f"KEK-{t}")
    tools.create_topics(kafka.bootstrap, {t: 1})
    imds = imds_double.ImdsDouble(role="krx-role", lifetime=10).start()
    try:
        fwd = forwarders(moto, pki)
        trust = ('tls = { trust = { storeFile = "%s"; storeType = "PEM"; '
                 '}; };' % pki["ca"])
        krxd = aws_krxd(krxd_factory, tmp_path, moto, workers=1,
                        vc_extra=aws_conf(tmp_path, fwd.url,
                                          creds=ec2_creds(imds), tls=trust))
        got = r"EC2 metadata credentials for role krx-role obtained, " \
            r"valid \d+ s, renewed in (\d+) s"
        m = krxd.wait_log(got, timeout=20)
        assert 5 <= int(m.group(1)) <= 8, m.group(0)
        values = [b"imds-%03d" % i for i in range(30)]
        keytest.produce(krxd.bootstrap, t, values)
        dec = MotoDecryptor(moto)
        check_broker(dec, keytest.records(kafka.bootstrap, t), values,
                     key_id)
        assert values_via(krxd, t) == values
        first = imds.issued[0]
        assert signed_with_token(fwd, first["Token"])
        assert fwd.saw(b"Credential=" + first["AccessKeyId"].encode())

        # Renewed at 0.8 of 10 s; the new credentials sign what follows.
        krxtest.wait_for(lambda: len(imds.issued) >= 2, 20, "a renewal")
        krxtest.wait_for(lambda: len(re.findall(got, krxd.log_text())) >= 2,
                         10, "the renewal logged")
        imds.fail_next("credentials", 500, count=3)
        second = imds.issued[1]
        r = keytest.ctl(krxd, "kms", "check", f"KEK-{t}")
        assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
        assert signed_with_token(fwd, second["Token"])
        # The next renewal fails (three attempts): kept, tried again.
        krxd.wait_log(r"EC2 metadata credentials for role krx-role: IMDS "
                      r"refused the role's credentials \(HTTP 500\); trying "
                      r"again in 5 s \(the current credentials are kept "
                      r"until they expire\)", timeout=25)
        krxtest.wait_for(lambda: len(imds.issued) >= 3, 20,
                         "a renewal after the failure")
        # IMDSv2 only: every credentials request carried a session token.
        assert imds.without_token == 0
        assert imds.calls("token") >= 3
        log = krxd.log_text()
        for c in imds.issued:
            assert c["SecretAccessKey"] not in log
            assert c["Token"] not in log
        for tok in imds.tokens:
            assert tok not in log
        assert_no_secrets(krxd, dec)
    finally:
        imds.stop()
