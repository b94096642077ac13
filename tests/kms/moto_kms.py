#!/usr/bin/env python3
"""AWS KMS (and STS) for tests: moto's server, PyPI `moto[server]`, run as a
separate process on a free loopback port (optionally HTTPS with the tlsca
certificate), plus helpers built on boto3 (a moto dependency).

Named moto_kms.py, not moto.py: a tests/kms/moto.py would shadow the `moto`
package for anything importing it with tests/kms on sys.path (pytest puts
the test file's directory there).

Python:
  m = MotoServer(tls_dir=None)      # tls_dir=D: HTTPS with D/server.pem
  m.start(); m.endpoint             # http(s)://127.0.0.1:PORT
  key_id = m.create_key_with_alias("KEK-a")        # alias/KEK-a -> KeyId
  m.describe_key("alias/KEK-a") ; m.generate_data_key(key_id)
  m.decrypt(ciphertext_blob, key_id) -> plaintext bytes
  m.call("TrentService.Decrypt", {...}) -> (status, json): the raw JSON
      protocol, as krx speaks it (moto does not check SigV4 signatures)
  m.reset(); m.stop()

Command line (runs until SIGTERM/SIGINT):
  python3 tests/kms/moto_kms.py --port-file F [--tls-dir D] [--port P]
      [--alias NAME]...     (create a key per alias; "alias=key-id" lines
                             go to --aliases-file if given)
"""

import argparse
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tlsca  # noqa: E402

REGION = "us-east-1"
ACCESS_KEY = "AKIDKRXTEST"
SECRET_KEY = "krx-test-secret"


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


class MotoServer:
    def __init__(self, host="127.0.0.1", port=0, tls_dir=None, region=REGION, log_path=None):
        self.host = host
        self.port = port
        self.region = region
        self.tls_dir = tls_dir
        self.pki = tlsca.ensure(tls_dir) if tls_dir else None
        self.log_path = log_path
        self.proc = None
        self._log = None

    @property
    def scheme(self):
        return "https" if self.pki else "http"

    @property
    def endpoint(self):
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    @property
    def ca_file(self):
        return self.pki["ca"] if self.pki else None

    def env(self):
        e = dict(os.environ)
        e.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                  "AWS_DEFAULT_REGION": self.region, "MOTO_ALLOW_NONEXISTENT_REGION": "false"})
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE",
                  "AWS_SHARED_CREDENTIALS_FILE", "HTTP_PROXY", "HTTPS_PROXY",
                  "http_proxy", "https_proxy"):
            e.pop(k, None)
        return e

    def start(self, timeout=60):
        if self.proc is not None:
            return self
        tries = 3
        while True:
            if not self.port:
                self.port = free_port(self.host)
            cmd = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
            if self.pki:
                cmd += ["-c", self.pki["server"], "-k", self.pki["server_key"]]
            self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
            # cwd "/": keeps a stray moto.py in the caller's directory out of -m's path
            self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env(), cwd="/")
            if self._wait_ready(timeout):
                return self
            self.stop()
            tries -= 1
            if tries == 0:
                raise RuntimeError("moto server did not come up on %s" % self.endpoint)
            self.port = 0

    def _ssl(self):
        return ssl.create_default_context(cafile=self.ca_file) if self.pki else None

    def _wait_ready(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/data.json",
                                            timeout=2, context=self._ssl()) as r:
                    if r.status == 200:
                        return True
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        return False

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forget every key, alias, ... (moto's /moto-api/reset)."""
        req = urllib.request.Request(self.endpoint + "/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=10, context=self._ssl()).read()

    # -- boto3 helpers ---------------------------------------------------------
    def client(self, service="kms"):
        import boto3
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                            verify=self.ca_file if self.pki else None)

    def create_key(self, description="krx test KEK"):
        md = self.client().create_key(Description=description, KeyUsage="ENCRYPT_DECRYPT",
                                      KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]
        return md["KeyId"]

    def create_alias(self, alias, key_id):
        name = alias if alias.startswith("alias/") else "alias/" + alias
        self.client().create_alias(AliasName=name, TargetKeyId=key_id)
        return name

    def create_key_with_alias(self, alias, description="krx test KEK"):
        key_id = self.create_key(description)
        self.create_alias(alias, key_id)
        return key_id

    def describe_key(self, key_id):
        return self.client().describe_key(KeyId=key_id)["KeyMetadata"]

    def generate_data_key(self, key_id, key_spec="AES_256"):
        r = self.client().generate_data_key(KeyId=key_id, KeySpec=key_spec)
        return {"KeyId": r["KeyId"], "Plaintext": r["Plaintext"],
                "CiphertextBlob": r["CiphertextBlob"]}

    def decrypt(self, ciphertext_blob, key_id=None):
        kw = {"CiphertextBlob": ciphertext_blob}
        if key_id:
            kw["KeyId"] = key_id
        return self.client().decrypt(**kw)["Plaintext"]

    def schedule_key_deletion(self, key_id, days=7):
        return self.client().schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)

    def disable_key(self, key_id):
        self.client().disable_key(KeyId=key_id)

    def rotate_key_on_demand(self, key_id):
        return self.client().rotate_key_on_demand(KeyId=key_id)

    def assume_role_with_web_identity(self, role_arn, token, session="krx", duration=900):
        return self.client("sts").assume_role_with_web_identity(
            RoleArn=role_arn, RoleSessionName=session, WebIdentityToken=token,
            DurationSeconds=duration)["Credentials"]

    # -- the raw JSON protocol -------------------------------------------------
    def call(self, target, body, headers=None):
        """POST one KMS JSON-1.1 request as krx does: (status, decoded JSON).
        Binary fields go base64 in body already. A dummy SigV4-looking
        Authorization header is sent; moto does not verify it."""
        h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target,
             "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
             "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s/%s/kms/aws4_request, "
                              "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                              "Signature=%s" % (ACCESS_KEY, time.strftime("%Y%m%d"),
                                                self.region, "0" * 64)}
        h.update(headers or {})
        req = urllib.request.Request(self.endpoint + "/", data=json.dumps(body).encode(),
                                     headers=h, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._ssl()) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            data = e.read()
            try:
                return e.code, json.loads(data or b"{}")
            except ValueError:
                return e.code, {"_raw": data.decode("utf-8", "replace")}

    def raw_decrypt(self, ciphertext_blob, key_id=None):
        body = {"CiphertextBlob": base64.b64encode(ciphertext_blob).decode()}
        if key_id:
            body["KeyId"] = key_id
        return self.call("TrentService.Decrypt", body)


def main(argv=None):
    ap = argparse.ArgumentParser(description="moto's server for AWS KMS/STS tests")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-dir", help="serve HTTPS with tlsca's server.pem from this dir")
    ap.add_argument("--alias", action="append", default=[])
    ap.add_argument("--aliases-file")
    ap.add_argument("--log")
    a = ap.parse_args(argv)
    m = MotoServer(port=a.port, tls_dir=a.tls_dir, log_path=a.log)
    done = []
    signal.signal(signal.SIGTERM, lambda *x: done.append(1))
    signal.signal(signal.SIGINT, lambda *x: done.append(1))
    m.start()
    try:
        lines = ["%s=%s\n" % (al, m.create_key_with_alias(al)) for al in a.alias]
        if a.aliases_file:
            with open(a.aliases_file, "w") as f:
                f.writelines(lines)
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % m.port)
        os.replace(tmp, a.port_file)
        print("moto_kms: %s" % m.endpoint, flush=True)
        while not done and m.proc.poll() is None:
            time.sleep(0.2)
    finally:
        m.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
