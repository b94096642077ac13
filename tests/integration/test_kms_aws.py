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
"""

import base64
import os
import sys

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import keytest
import krxtest
import tools

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kms"))
import moto_kms  # noqa: E402


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


def aws_conf(tmp_path, endpoint):
    ak = secret_file(str(tmp_path / "aws-access-key"), moto_kms.ACCESS_KEY)
    sk = secret_file(str(tmp_path / "aws-secret-key"), moto_kms.SECRET_KEY)
    return ("    record_encryption = {\n"
            '      kms = "AwsKmsService";\n'
            "      kmsConfig = {\n"
            f'        endpointUrl = "{endpoint}";\n'
            '        region = "us-east-1";\n'
            "        credentials = { longTerm = {\n"
            f'          accessKeyId = {{ passwordFile = "{ak}"; }};\n'
            f'          secretAccessKey = {{ passwordFile = "{sk}"; }};\n'
            "        }; };\n"
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
    conf = aws_conf(tmp_path, endpoint)
    i = conf.index("        credentials = {")
    j = conf.index("        requestTimeoutSeconds")
    return conf[:i] + creds + conf[j:]


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
    moto.create_key_with_alias(f"KEK-{t}")
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
    import re
    assert not re.search(r"FQoGZXIvYXdzE|ASIA[A-Z0-9]{16}", log), \
        "temporary credentials in the log"
    assert_no_secrets(krxd, dec)
