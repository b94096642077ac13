#!/usr/bin/env python3
"""EC2 instance metadata service (IMDSv2) double, for AwsKmsService's
ec2Metadata credentials.

Written from AWS's public IMDS documentation only (docs.aws.amazon.com/
AWSEC2/latest/UserGuide: configuring-instance-metadata-service.html,
instancedata-data-retrieval.html "Use IMDSv2", and iam-roles-for-amazon-ec2
.html "Retrieve security credentials from instance metadata"), with the
Python standard library and kmsdouble.py's server (plain HTTP, as IMDS
is). No code of any AWS SDK or KMS client was used.

Served:
  PUT /latest/api/token                              token
      needs X-aws-ec2-metadata-token-ttl-seconds: 1..21600 (else 400);
      answers a session token (text/plain) valid that long. A request
      carrying X-Forwarded-For is refused (403), as IMDS does.
  GET /latest/meta-data/iam/security-credentials/    role_list
  GET /latest/meta-data/iam/security-credentials/R   credentials
      both need X-aws-ec2-metadata-token: a token issued here and still
      valid (else 401: IMDSv1, a guessed or an expired token); R must be
      the instance's role (else 404). Answers
      {"Code":"Success","LastUpdated","Type":"AWS-HMAC","AccessKeyId",
       "SecretAccessKey","Token","Expiration"} with fresh credentials
      each time, valid `lifetime` seconds. AccessKeyId "ASIA" + 16
      characters; moto accepts any credentials (it checks no signature).

Python:
  d = ImdsDouble(role="krx-role", lifetime=3600); d.start(); d.url
  d.issued -> list of dicts of the credentials handed out (newest last)
  d.tokens -> session tokens handed out
  d.calls("token"), d.calls("credentials"), d.stats() (kmsdouble's),
  d.without_token (credential requests refused for a missing token),
  d.fail_next("credentials", 500), d.set_lifetime(s)

Command line:
  python3 tests/kms/imds_double.py --port-file F [--port P] [--role R]
      [--lifetime S]   (prints the first credentials as JSON on stdout)
"""

import argparse
import datetime
import os
import secrets
import string
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kmsdouble  # noqa: E402
from kmsdouble import HttpError, Response  # noqa: E402

TOKEN_PATH = "/latest/api/token"
CREDS_PATH = "/latest/meta-data/iam/security-credentials"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


def _iso(t):
    return datetime.datetime.fromtimestamp(
        int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rand(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


class ImdsDouble(kmsdouble.DoubleBase):
    name = "imds"

    def __init__(self, role="krx-role", lifetime=3600, **kw):
        kw.setdefault("tls", False)
        super().__init__(**kw)
        self.role = role
        self.lifetime = lifetime
        self.tokens = []
        self.issued = []
        self.without_token = 0
        self._valid = {}            # token -> expiry (monotonic)
        self._mu = threading.Lock()

    def set_lifetime(self, seconds):
        self.lifetime = seconds

    def error(self, status, message):
        # IMDS answers errors as an HTML-ish text page; the text will do.
        return Response(status, message + "\n")

    def route(self, req):
        if req.path == TOKEN_PATH:
            if req.method != "PUT":
                raise HttpError(self.error(405, "Method Not Allowed"))
            return "token", self._token
        if req.path == CREDS_PATH or req.raw_path == CREDS_PATH + "/":
            return "role_list", self._role_list
        if req.path.startswith(CREDS_PATH + "/"):
            return "credentials", self._credentials
        raise HttpError(self.error(404, "Not Found"))

    def _token(self, req):
        if req.header("X-Forwarded-For"):
            raise HttpError(self.error(403, "Forbidden"))
        ttl = req.header(TTL_HEADER)
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            raise HttpError(self.error(400, "Bad Request"))
        tok = _rand(string.ascii_letters + string.digits + "_-", 56) + "=="
        with self._mu:
            self._valid[tok] = time.monotonic() + int(ttl)
            self.tokens.append(tok)
        return Response(200, tok, {TTL_HEADER: ttl})

    def _check_token(self, req):
        tok = req.header(TOKEN_HEADER)
        with self._mu:
            ok = tok is not None and self._valid.get(tok, 0) > time.monotonic()
            if not ok:
                self.without_token += 1
        if not ok:
            raise HttpError(self.error(401, "Unauthorized"))

    def _role_list(self, req):
        self._check_token(req)
        return Response(200, self.role)

    def _credentials(self, req):
        self._check_token(req)
        if req.segments[-1] != self.role or len(req.segments) != 5:
            raise HttpError(self.error(404, "Not Found"))
        now = time.time()
        c = {"Code": "Success", "LastUpdated": _iso(now), "Type": "AWS-HMAC",
             "AccessKeyId": "ASIA" + _rand(string.ascii_uppercase + string.digits, 16),
             "SecretAccessKey": _rand(string.ascii_letters + string.digits + "+/", 40),
             "Token": "IQoJb3JpZ2luX2VjE" + _rand(string.ascii_letters + string.digits
                                                  + "+/", 120) + "=",
             "Expiration": _iso(now + self.lifetime)}
        with self._mu:
            self.issued.append(dict(c))
        return Response(200, c)


def main(argv=None):
    ap = argparse.ArgumentParser(description="IMDSv2 double (EC2 instance metadata)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--role", default="krx-role")
    ap.add_argument("--lifetime", type=int, default=3600)
    a = ap.parse_args(argv)
    d = ImdsDouble(role=a.role, lifetime=a.lifetime, host=a.host, port=a.port,
                   port_file=a.port_file)
    d.start()
    return kmsdouble.serve_until_signalled(d, "imds_double: %s role %s" % (d.url, a.role))


if __name__ == "__main__":
    sys.exit(main())
