"""The KMS behind an encrypting krxd in the record encryption tests
(test_enc_*.py), so that each round-trip test runs once with LocalKms and
once with AwsKmsService against moto's server (issue 10: "every
round-trip test of the record-encryption suite also passes with
AwsKmsService").

A backend gives:
- kms_text(): record_encryption's kms and kmsConfig lines;
- create(krxd, name): a KEK named name (LocalKms: krx-ctl kek create;
  AWS: a key made through moto's API with the alias alias/<name>);
- decryptor(): an enctest.Decryptor that unwraps the backend's EDEKs
  itself, independently of krx (LocalKms: the keystore file's KEK; AWS:
  moto's own Decrypt of the CiphertextBlob), and names each record's KEK
  as (name, version) — AWS EDEKs carry a KeyId and no version, which is
  mapped back to the alias name, version None;
- first_version: the version a new KEK's records carry (1 or None).

The conftest fixture enc_kms is parametrised over NAMES.
"""

import os
import sys

import enctest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "kms"))
import moto_kms  # noqa: E402

NAMES = ("LocalKms", "AwsKmsService")


def secret_file(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


class LocalKms:
    name = "LocalKms"
    first_version = 1

    def __init__(self, tmp):
        self.keystore = os.path.join(str(tmp), "keks")

    def kms_text(self):
        return ('      kms = "LocalKms";\n'
                f'      kmsConfig = {{ keystore = "{self.keystore}"; }};\n')

    def create(self, krxd, name):
        return krxd.ctl("kek", "create", name).stdout

    def decryptor(self):
        return enctest.Decryptor(self.keystore)

    def close(self):
        pass


class AwsDecryptor(enctest.Decryptor):
    """Kroxylicious' AWS EDEK (0x00 | uvarint n | KeyId | CiphertextBlob)
    unwrapped by moto's own Decrypt."""

    def __init__(self, backend):
        self.backend = backend
        self.deks = {}

    def unwrap(self, edek):
        assert edek[0] == 0x00, f"AWS EDEK version byte {edek[0]}"
        n, pos = enctest.uvarint(edek, 1)
        assert 1 <= n <= 256, f"KeyId length {n}"
        key_id = edek[pos:pos + n].decode("ascii")
        blob = bytes(edek[pos + n:])
        dek = self.deks.get(edek)
        if dek is None:
            dek = self.backend.moto.decrypt(blob, key_id)
            assert len(dek) == 32, f"moto's DEK is {len(dek)} bytes"
            self.deks[edek] = dek
        return dek, self.backend.names.get(key_id, key_id), None


class AwsKms:
    name = "AwsKmsService"
    first_version = None

    def __init__(self, tmp):
        tmp = str(tmp)
        self.moto = moto_kms.MotoServer(
            log_path=os.path.join(tmp, "moto.log")).start()
        self.names = {}         # KeyId -> alias name
        self.ak = secret_file(os.path.join(tmp, "aws-access-key"),
                              moto_kms.ACCESS_KEY)
        self.sk = secret_file(os.path.join(tmp, "aws-secret-key"),
                              moto_kms.SECRET_KEY)

    def kms_text(self):
        return ('      kms = "AwsKmsService";\n'
                "      kmsConfig = {\n"
                f'        endpointUrl = "{self.moto.endpoint}";\n'
                f'        region = "{self.moto.region}";\n'
                "        longTermCredentials = {\n"
                f'          accessKeyId = {{ passwordFile = "{self.ak}"; }};\n'
                f'          secretAccessKey = {{ passwordFile = "{self.sk}"; '
                "};\n"
                "        };\n"
                "      };\n")

    def create(self, krxd, name):
        self.names[self.moto.create_key_with_alias(name)] = name
        return "create done"

    def decryptor(self):
        return AwsDecryptor(self)

    def close(self):
        self.moto.stop()


def open_backend(name, tmp):
    return {"LocalKms": LocalKms, "AwsKmsService": AwsKms}[name](tmp)
