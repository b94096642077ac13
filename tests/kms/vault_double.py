#!/usr/bin/env python3
"""A HashiCorp Vault Transit test double (HTTPS on loopback), written from
Vault's public HTTP API documentation. See tests/kms/README.

Command line:
  python3 tests/kms/vault_double.py --dir D --port-file F [--mount transit]
      [--namespace ns1/ns2] [--token-file T] [--token-ttl S]
      [--k8s-role R --k8s-jwt-file J] [--k8s-mount kubernetes] [--k8s-ttl S]
      [--key NAME]... [--delay S] [--port P] [--http] [--cert-name server]
      [--client-ca PEM] [--state-file PATH] [--lenient] [--verbose]
D holds the TLS files (tests/kms/tlsca.py makes them if missing; trust
D/ca.pem), the token (D/vault-token unless --token-file; a missing token or
JWT file is created with a random value) and the key state
(D/vault-state.json, so a restarted double still decrypts old ciphertext).
The port (0 = any free one unless --port) is written to F once listening.
SIGUSR1 closes the listener (outage), SIGUSR2 reopens it, SIGTERM stops.

Python:
  v = VaultDouble(dir=tmp_path, mount="transit", namespace="ns1/ns2",
                  token="s3cret", k8s_role="krx", k8s_jwt="eyJ...", delay=0)
  v.start(); v.transit_url  ->  https://127.0.0.1:PORT/v1/ns1/ns2/transit
  v.create_key("KEK-a"); v.rotate_key("KEK-a"); v.delete_key("KEK-a")
  v.decrypt_local("KEK-a", "vault:v1:...") ; v.stats() ; v.stop()
"""

import argparse
import datetime
import os
import re
import secrets
import sys
import time
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmsdouble import (DoubleBase, HttpError, Response, b64, b64url,  # noqa: E402
                       read_or_make_secret, serve_until_signalled, unb64)
import json  # noqa: E402

CT_RE = re.compile(r"^vault:v(\d+):(.*)$", re.S)
DURATION_RE = re.compile(r"^(\d+)([smhd]?)$")


def _segs(p):
    return [s for s in (p or "").split("/") if s]


def make_fake_jwt():
    hdr = {"alg": "RS256", "kid": "krx-test-double"}
    claims = {"iss": "kubernetes/serviceaccount",
              "kubernetes.io/serviceaccount/namespace": "krx",
              "kubernetes.io/serviceaccount/service-account.name": "krx",
              "sub": "system:serviceaccount:krx:krx"}
    return ".".join([b64url(json.dumps(hdr).encode()), b64url(json.dumps(claims).encode()),
                     b64url(secrets.token_bytes(64))])


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


class VaultDouble(DoubleBase):
    name = "vault-double"

    def __init__(self, dir=None, mount="transit", namespace="", token=None, token_file=None,
                 token_ttl=0, k8s_role=None, k8s_jwt=None, k8s_jwt_file=None,
                 k8s_mount="kubernetes", k8s_ttl=3600, strict=True, keys=(), **kw):
        super().__init__(dir=dir, **kw)
        self.mount = "/".join(_segs(mount))
        self.namespace = "/".join(_segs(namespace))
        self.strict = strict
        self.k8s_mount = "/".join(_segs(k8s_mount))
        self.k8s_role = k8s_role
        self.k8s_ttl = int(k8s_ttl)
        self.token_ttl = int(token_ttl)
        self._keys = {}
        self._tokens = {}
        if token is None:
            if token_file is None and self.dir:
                token_file = os.path.join(self.dir, "vault-token")
            token = read_or_make_secret(token_file, lambda: "hvs." + secrets.token_urlsafe(24))
        self.token = token
        self.k8s_jwt = None
        if k8s_role:
            if k8s_jwt is None:
                if k8s_jwt_file is None and self.dir:
                    k8s_jwt_file = os.path.join(self.dir, "k8s-jwt")
                k8s_jwt = read_or_make_secret(k8s_jwt_file, make_fake_jwt)
            self.k8s_jwt = k8s_jwt
        self.load()
        # a static token from an earlier run (another token file) is not valid now
        self._tokens = {t: r for t, r in self._tokens.items()
                        if r["kind"] != "static" or t == token}
        if token not in self._tokens:
            self._tokens[token] = self._new_token_rec("static", self.token_ttl)
        for k in keys:
            if k not in self._keys:
                self.create_key(k)

    # -- URLs --------------------------------------------------------------
    @property
    def api_url(self):
        """{url}/v1 plus the namespace path, without a trailing slash."""
        return self.url + "/v1" + ("/" + self.namespace if self.namespace else "")

    @property
    def transit_url(self):
        return self.api_url + "/" + self.mount

    # -- state ---------------------------------------------------------------
    def _new_token_rec(self, kind, ttl, meta=None):
        now = time.time()
        return {"kind": kind, "ttl": ttl, "expires": now + ttl if ttl else None,
                "renewable": bool(ttl), "accessor": secrets.token_urlsafe(18),
                "created": now, "meta": meta or {},
                "policies": ["default", "krx"] if kind != "static" else ["krx"]}

    def state(self):
        with self._lock:
            keys = {n: {"latest": k["latest"], "min_dec": k["min_dec"], "min_enc": k["min_enc"],
                        "deletion_allowed": k["deletion_allowed"],
                        "versions": {str(v): {"key": b64(e["key"]), "time": e["time"]}
                                     for v, e in k["versions"].items()}}
                    for n, k in self._keys.items()}
            return {"keys": keys, "tokens": self._tokens}

    def load_state(self, st):
        with self._lock:
            self._keys = {}
            for n, k in st.get("keys", {}).items():
                self._keys[n] = {"latest": k["latest"], "min_dec": k["min_dec"],
                                 "min_enc": k["min_enc"], "deletion_allowed": k["deletion_allowed"],
                                 "versions": {int(v): {"key": unb64(e["key"]), "time": e["time"]}
                                              for v, e in k["versions"].items()}}
            self._tokens = dict(st.get("tokens", {}))

    def key_summary(self):
        with self._lock:
            return {n: {"latest_version": k["latest"], "min_decryption_version": k["min_dec"],
                        "min_encryption_version": k["min_enc"],
                        "deletion_allowed": k["deletion_allowed"],
                        "versions": sorted(k["versions"])}
                    for n, k in self._keys.items()}

    # -- Python key administration ---------------------------------------------
    def create_key(self, name):
        """Create an aes256-gcm96 key at version 1 (no-op if it exists)."""
        with self._lock:
            if name not in self._keys:
                self._keys[name] = {"latest": 1, "min_dec": 1, "min_enc": 0,
                                    "deletion_allowed": False,
                                    "versions": {1: {"key": AESGCM.generate_key(256),
                                                     "time": int(time.time())}}}
                self.save()
            return self._keys[name]["latest"]

    def rotate_key(self, name):
        with self._lock:
            k = self._keys[name]
            k["latest"] += 1
            k["versions"][k["latest"]] = {"key": AESGCM.generate_key(256),
                                          "time": int(time.time())}
            self.save()
            return k["latest"]

    def configure_key(self, name, min_decryption_version=None, min_encryption_version=None,
                      deletion_allowed=None):
        with self._lock:
            k = self._keys[name]
            if min_decryption_version is not None:
                k["min_dec"] = int(min_decryption_version)
            if min_encryption_version is not None:
                k["min_enc"] = int(min_encryption_version)
            if deletion_allowed is not None:
                k["deletion_allowed"] = bool(deletion_allowed)
            self.save()

    def delete_key(self, name):
        """Delete regardless of deletion_allowed (the admin's shortcut)."""
        with self._lock:
            self._keys.pop(name, None)
            self.save()

    def latest_version(self, name):
        with self._lock:
            return self._keys[name]["latest"]

    def has_key(self, name):
        with self._lock:
            return name in self._keys

    def expire_tokens(self):
        with self._lock:
            now = time.time()
            for rec in self._tokens.values():
                rec["expires"] = now - 1
            self.save()

    def add_token(self, token, ttl=0):
        """Accept another static token from now on (an operator's new
        token, e.g. after expire_tokens()); ttl 0: it never expires."""
        with self._lock:
            self._tokens[token] = self._new_token_rec("static", int(ttl))
            self.save()

    def tokens(self):
        with self._lock:
            return {t: dict(r) for t, r in self._tokens.items()}

    # -- crypto ----------------------------------------------------------------
    def _encrypt(self, name, plaintext, version=0, aad=None):
        k = self._keys[name]
        if not version:
            version = k["latest"]
        if version > k["latest"]:
            raise HttpError(self.error(400, "cannot encrypt with a key version newer than "
                                            "the latest"))
        if version < k["min_enc"]:
            raise HttpError(self.error(400, "requested version for encryption is less than "
                                            "the minimum encryption key version"))
        nonce = os.urandom(12)
        ct = AESGCM(k["versions"][version]["key"]).encrypt(nonce, plaintext, aad)
        return "vault:v%d:%s" % (version, b64(nonce + ct)), version

    def _decrypt(self, name, ciphertext, aad=None):
        k = self._keys[name]
        m = CT_RE.match(ciphertext) if isinstance(ciphertext, str) else None
        if not m:
            raise HttpError(self.error(400, "invalid ciphertext: no prefix"))
        version = int(m.group(1))
        if version < k["min_dec"]:
            raise HttpError(self.error(400, "ciphertext or signature version is disallowed "
                                            "by policy (too old)"))
        if version not in k["versions"]:
            raise HttpError(self.error(400, "invalid key version"))
        try:
            raw = unb64(m.group(2))
        except ValueError:
            raise HttpError(self.error(400, "invalid ciphertext: could not decode base64"))
        if len(raw) < 12 + 16:
            raise HttpError(self.error(400, "invalid ciphertext: too short"))
        try:
            return AESGCM(k["versions"][version]["key"]).decrypt(raw[:12], raw[12:], aad)
        except InvalidTag:
            raise HttpError(self.error(400, "cipher: message authentication failed"))

    def encrypt_local(self, name, plaintext, version=0):
        with self._lock:
            return self._encrypt(name, plaintext, version)[0]

    def decrypt_local(self, name, ciphertext):
        """Decrypt a vault:vN: string as the double would (HttpError if not)."""
        with self._lock:
            return self._decrypt(name, ciphertext)

    # -- Vault-shaped responses --------------------------------------------------
    def error(self, status, message):
        return Response(status, {"errors": [message] if message else []})

    def unavailable(self):
        return self.error(503, "Vault is sealed")

    def _env(self, data=None, auth=None, mount_type="transit"):
        return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False,
                "lease_duration": 0, "data": data, "wrap_info": None, "warnings": None,
                "auth": auth, "mount_type": mount_type}

    def _params(self, req, allowed, required=()):
        try:
            body = req.json_body()
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(self.error(400, "failed to parse JSON input: %s" % e))
        unknown = sorted(set(body) - set(allowed))
        if unknown and self.strict:
            raise HttpError(self.error(400, "[test double, strict] unrecognized parameters: %s"
                                            % unknown))
        for r in required:
            if body.get(r) in (None, ""):
                raise HttpError(self.error(400, "missing %s" % r))
        return body

    def _int(self, v, what):
        if isinstance(v, bool):
            raise HttpError(self.error(400, "invalid %s" % what))
        try:
            return int(v)
        except (TypeError, ValueError):
            raise HttpError(self.error(400, "invalid %s" % what))

    # -- routing -------------------------------------------------------------------
    def _no_route(self, path):
        return HttpError(self.error(404, 'no handler for route "%s". route entry not found.'
                                         % path))

    def route(self, req):
        segs = req.segments
        if segs[:1] != ["v1"]:
            raise self._no_route(req.path.lstrip("/"))
        full = _segs(req.header("X-Vault-Namespace")) + segs[1:]
        if full == ["sys", "health"] and req.method in ("GET", "HEAD"):
            return "health", self._health
        ns = _segs(self.namespace)
        if full[:len(ns)] != ns:
            raise self._no_route("/".join(full))
        rest = full[len(ns):]
        m = _segs(self.mount)
        if rest[:len(m)] == m and m:
            return self._route_transit(req, rest[len(m):])
        if rest[:2] == ["auth", "token"] and len(rest) == 3:
            if rest[2] == "renew-self":
                return "token_renew_self", self._authed(self._method(req, ("POST", "PUT"),
                                                                     self._renew_self))
            if rest[2] == "lookup-self":
                return "token_lookup_self", self._authed(self._method(req, ("GET",),
                                                                      self._lookup_self))
        km = ["auth"] + _segs(self.k8s_mount) + ["login"]
        if self.k8s_role and rest == km:
            return "k8s_login", self._method(req, ("POST", "PUT"), self._k8s_login)
        raise self._no_route("/".join(full))

    def _route_transit(self, req, sub):
        meth = req.method
        if sub == ["keys"]:
            listing = meth == "LIST" or (meth == "GET" and req.query.get("list") == ["true"])
            if listing:
                return "keys_list", self._authed(self._keys_list)
            return "keys_list", self._authed(self._unsupported)
        if len(sub) == 2 and sub[0] == "keys":
            if meth == "GET":
                return "keys_read", self._authed(self._keys_read)
            if meth in ("POST", "PUT"):
                return "keys_create", self._authed(self._keys_create)
            if meth == "DELETE":
                return "keys_delete", self._authed(self._keys_delete)
            return "keys_read", self._authed(self._unsupported)
        if len(sub) == 3 and sub[0] == "keys" and sub[2] in ("rotate", "config"):
            ep = "keys_" + sub[2]
            fn = self._keys_rotate if sub[2] == "rotate" else self._keys_config
            return ep, self._authed(self._method(req, ("POST", "PUT"), fn))
        if len(sub) == 3 and sub[0] == "datakey":
            return "datakey", self._authed(self._method(req, ("POST", "PUT"), self._datakey))
        if len(sub) == 2 and sub[0] in ("encrypt", "decrypt"):
            fn = self._encrypt_ep if sub[0] == "encrypt" else self._decrypt_ep
            return sub[0], self._authed(self._method(req, ("POST", "PUT"), fn))
        return "unknown", self._authed(self._unsupported_path)

    def _method(self, req, allowed, fn):
        if req.method in allowed:
            return fn
        return self._unsupported

    def _unsupported(self, req):
        raise HttpError(self.error(405, "unsupported operation"))

    def _unsupported_path(self, req):
        raise HttpError(self.error(404, "unsupported path"))

    def _token_of(self, req):
        t = req.header("X-Vault-Token")
        if not t:
            a = req.header("Authorization") or ""
            if a.startswith("Bearer "):
                t = a[7:].strip()
        return t

    def _check_token(self, req):
        t = self._token_of(req)
        with self._lock:
            rec = self._tokens.get(t) if t else None
            if rec is None or (rec["expires"] is not None and rec["expires"] <= time.time()):
                raise HttpError(self.error(403, "permission denied"))
            return t, rec

    def _authed(self, fn):
        def wrapped(req):
            self._check_token(req)
            return fn(req)
        return wrapped

    def _key(self, name, missing_status=400, missing_msg="encryption key not found"):
        k = self._keys.get(name)
        if k is None:
            raise HttpError(self.error(missing_status, missing_msg))
        return k

    # -- endpoints -------------------------------------------------------------------
    def _health(self, req):
        return Response(200, {"initialized": True, "sealed": False, "standby": False,
                              "performance_standby": False,
                              "replication_performance_mode": "disabled",
                              "replication_dr_mode": "disabled",
                              "server_time_utc": int(time.time()),
                              "version": "0.0.0+krx-test-double",
                              "cluster_name": "vault-double", "cluster_id": "vault-double"})

    def _key_data(self, name, k):
        return {"name": name, "type": "aes256-gcm96", "deletion_allowed": k["deletion_allowed"],
                "derived": False, "exportable": False, "allow_plaintext_backup": False,
                "keys": {str(v): e["time"] for v, e in sorted(k["versions"].items())
                         if v >= k["min_dec"]},
                "latest_version": k["latest"], "min_available_version": 0,
                "min_decryption_version": k["min_dec"],
                "min_encryption_version": k["min_enc"], "supports_encryption": True,
                "supports_decryption": True, "supports_derivation": True,
                "supports_signing": False, "auto_rotate_period": 0, "imported_key": False}

    def _keys_read(self, req):
        if req.body and req.body.strip() and self.strict:
            raise HttpError(self.error(400, "[test double, strict] GET with a body"))
        name = req.segments[-1]
        with self._lock:
            k = self._keys.get(name)
            if k is None:
                return self.error(404, None)
            return Response(200, self._env(self._key_data(name, k)))

    def _keys_list(self, req):
        with self._lock:
            names = sorted(self._keys)
        if not names:
            return self.error(404, None)
        return Response(200, self._env({"keys": names}))

    def _keys_create(self, req):
        body = self._params(req, ("type", "exportable", "allow_plaintext_backup",
                                  "auto_rotate_period", "derived", "convergent_encryption"))
        if body.get("type", "aes256-gcm96") != "aes256-gcm96":
            raise HttpError(self.error(400, "[test double] only type aes256-gcm96 is supported"))
        if body.get("derived") or body.get("convergent_encryption") or body.get("exportable"):
            raise HttpError(self.error(400, "[test double] derived/convergent/exportable keys "
                                            "are not supported"))
        self.create_key(req.segments[-1])
        return Response(204)

    def _keys_rotate(self, req):
        self._params(req, ("managed_key_name", "managed_key_id"))
        name = req.segments[-2]
        with self._lock:
            self._key(name, 400, "key not found")
            self.rotate_key(name)
        return Response(204)

    def _keys_config(self, req):
        body = self._params(req, ("min_decryption_version", "min_encryption_version",
                                  "deletion_allowed", "exportable", "allow_plaintext_backup",
                                  "auto_rotate_period"))
        name = req.segments[-2]
        with self._lock:
            k = self._key(name, 400, "key not found")
            mind = body.get("min_decryption_version")
            mine = body.get("min_encryption_version")
            if mind is not None:
                mind = self._int(mind, "min_decryption_version")
                if mind > k["latest"]:
                    raise HttpError(self.error(400, "cannot set min decryption version greater "
                                                    "than the latest version"))
                mind = max(mind, 1)
            if mine is not None:
                mine = self._int(mine, "min_encryption_version")
            da = body.get("deletion_allowed")
            if da is not None and not isinstance(da, bool):
                da = str(da).lower() == "true"
            self.configure_key(name, mind, mine, da)
        return Response(204)

    def _keys_delete(self, req):
        name = req.segments[-1]
        with self._lock:
            k = self._key(name, 400, "could not delete key; not found")
            if not k["deletion_allowed"]:
                raise HttpError(self.error(400, "deletion is not allowed for this key"))
            self.delete_key(name)
        return Response(204)

    def _datakey(self, req):
        typ, name = req.segments[-2], req.segments[-1]
        body = self._params(req, ("bits", "key_version", "nonce", "context"))
        if typ not in ("plaintext", "wrapped"):
            raise HttpError(self.error(400, "invalid type"))
        if body.get("nonce") or body.get("context"):
            raise HttpError(self.error(400, "[test double] context/nonce given but the key is "
                                            "not derived"))
        bits = self._int(body.get("bits", 256), "bits")
        if bits not in (128, 256, 512):
            raise HttpError(self.error(400, "invalid bits length"))
        ver = self._int(body.get("key_version", 0), "key_version")
        with self._lock:
            self._key(name)
            dk = os.urandom(bits // 8)
            ct, ver = self._encrypt(name, dk, ver)
        data = {"ciphertext": ct, "key_version": ver}
        if typ == "plaintext":
            data["plaintext"] = b64(dk)
        return Response(200, self._env(data))

    def _aad(self, body):
        a = body.get("associated_data")
        if not a:
            return None
        try:
            return unb64(a)
        except ValueError:
            raise HttpError(self.error(400, "failed to base64-decode associated_data"))

    def _encrypt_ep(self, req):
        name = req.segments[-1]
        body = self._params(req, ("plaintext", "key_version", "associated_data"),
                            required=("plaintext",))
        try:
            pt = unb64(body["plaintext"])
        except (ValueError, TypeError):
            raise HttpError(self.error(400, "failed to base64-decode plaintext"))
        ver = self._int(body.get("key_version", 0), "key_version")
        with self._lock:
            self._key(name)
            ct, ver = self._encrypt(name, pt, ver, self._aad(body))
        return Response(200, self._env({"ciphertext": ct, "key_version": ver}))

    def _decrypt_ep(self, req):
        name = req.segments[-1]
        body = self._params(req, ("ciphertext", "context", "nonce", "associated_data"))
        if body.get("ciphertext") in (None, ""):
            raise HttpError(self.error(400, "missing ciphertext to decrypt"))
        if body.get("nonce") or body.get("context"):
            raise HttpError(self.error(400, "[test double] context/nonce given but the key is "
                                            "not derived"))
        with self._lock:
            self._key(name)
            pt = self._decrypt(name, body["ciphertext"], self._aad(body))
        return Response(200, self._env({"plaintext": b64(pt)}))

    def _auth_block(self, token, rec):
        left = 0 if rec["expires"] is None else max(0, int(rec["expires"] - time.time()))
        return {"client_token": token, "accessor": rec["accessor"],
                "policies": rec["policies"], "token_policies": rec["policies"],
                "metadata": rec["meta"], "lease_duration": left,
                "renewable": rec["renewable"], "entity_id": "", "token_type": "service",
                "orphan": True, "mfa_requirement": None, "num_uses": 0}

    def _k8s_login(self, req):
        body = self._params(req, ("role", "jwt"))
        if not body.get("role"):
            raise HttpError(self.error(400, "missing role"))
        if not body.get("jwt"):
            raise HttpError(self.error(400, "missing jwt"))
        if body["role"] != self.k8s_role:
            raise HttpError(self.error(400, 'invalid role name "%s"' % body["role"]))
        if body["jwt"] != self.k8s_jwt:
            raise HttpError(self.error(403, "permission denied"))
        token = "hvs." + secrets.token_urlsafe(24)
        meta = {"role": self.k8s_role, "service_account_name": "krx",
                "service_account_namespace": "krx", "service_account_uid": str(uuid.uuid4()),
                "service_account_secret_name": ""}
        with self._lock:
            rec = self._new_token_rec("k8s", self.k8s_ttl, meta)
            self._tokens[token] = rec
            self.save()
            auth = self._auth_block(token, rec)
        auth["lease_duration"] = self.k8s_ttl
        return Response(200, self._env(None, auth, mount_type="kubernetes"))

    def _duration(self, v):
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        m = DURATION_RE.match(str(v))
        if not m:
            raise HttpError(self.error(400, "invalid increment"))
        return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]

    def _renew_self(self, req):
        body = self._params(req, ("increment",))
        token, rec = self._check_token(req)
        if not rec["renewable"]:
            raise HttpError(self.error(400, "lease is not renewable"))
        inc = self._duration(body["increment"]) if body.get("increment") else rec["ttl"]
        with self._lock:
            rec["expires"] = time.time() + inc
            self.save()
            auth = self._auth_block(token, rec)
        auth["lease_duration"] = inc
        return Response(200, self._env(None, auth, mount_type="token"))

    def _lookup_self(self, req):
        token, rec = self._check_token(req)
        left = 0 if rec["expires"] is None else max(0, int(rec["expires"] - time.time()))
        data = {"accessor": rec["accessor"], "creation_time": int(rec["created"]),
                "creation_ttl": rec["ttl"], "display_name": rec["kind"], "entity_id": "",
                "expire_time": _iso(rec["expires"]) if rec["expires"] else None,
                "explicit_max_ttl": 0, "id": token, "issue_time": _iso(rec["created"]),
                "meta": rec["meta"], "num_uses": 0, "orphan": True,
                "path": ("auth/%s/login" % self.k8s_mount) if rec["kind"] == "k8s"
                else "auth/token/create",
                "policies": rec["policies"], "renewable": rec["renewable"], "ttl": left,
                "type": "service"}
        return Response(200, self._env(data, mount_type="token"))

    # -- test-only controls ------------------------------------------------------------
    def control(self, req):
        seg = req.segments[1:]
        body = req.json_body() if req.method in ("POST", "PUT") else {}
        if seg == ["keys"] and req.method == "POST":
            v = self.create_key(body["name"])
            return Response(200, {"name": body["name"], "latest_version": v})
        if len(seg) == 3 and seg[0] == "keys" and seg[2] == "rotate" and req.method == "POST":
            if not self.has_key(seg[1]):
                return Response(404, {"error": "no such key"})
            return Response(200, {"name": seg[1], "latest_version": self.rotate_key(seg[1])})
        if len(seg) == 3 and seg[0] == "keys" and seg[2] == "config" and req.method == "POST":
            if not self.has_key(seg[1]):
                return Response(404, {"error": "no such key"})
            self.configure_key(seg[1], body.get("min_decryption_version"),
                               body.get("min_encryption_version"),
                               body.get("deletion_allowed"))
            return Response(204)
        if len(seg) == 2 and seg[0] == "keys" and req.method == "DELETE":
            self.delete_key(seg[1])
            return Response(204)
        if seg == ["tokens"] and req.method == "GET":
            return Response(200, self.tokens())
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Vault Transit test double")
    ap.add_argument("--dir", required=True, help="TLS files, token and state live here")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mount", default="transit")
    ap.add_argument("--namespace", default="")
    ap.add_argument("--token-file", help="static token (created if missing); default D/vault-token")
    ap.add_argument("--token-ttl", type=int, default=0,
                    help="static token lifetime in s, renewable with renew-self (0: forever)")
    ap.add_argument("--k8s-role")
    ap.add_argument("--k8s-jwt-file", help="the JWT the login must carry (created if missing)")
    ap.add_argument("--k8s-mount", default="kubernetes")
    ap.add_argument("--k8s-ttl", type=int, default=3600)
    ap.add_argument("--key", action="append", default=[], help="create this key at start")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    ap.add_argument("--cert-name", default="server",
                    help="which tlsca leaf to present: server, wronghost, other_server")
    ap.add_argument("--client-ca", help="require client certificates issued by this CA")
    ap.add_argument("--state-file", help="default D/vault-state.json; '' for none")
    ap.add_argument("--lenient", action="store_true",
                    help="ignore unknown JSON parameters (as Vault does) instead of a 400")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.dir, exist_ok=True)
    state = os.path.join(a.dir, "vault-state.json") if a.state_file is None else (a.state_file or None)
    if a.k8s_jwt_file and not a.k8s_role:
        ap.error("--k8s-jwt-file needs --k8s-role")
    v = VaultDouble(dir=a.dir, host=a.host, port=a.port, port_file=a.port_file, mount=a.mount,
                    namespace=a.namespace, token_file=a.token_file, token_ttl=a.token_ttl,
                    k8s_role=a.k8s_role, k8s_jwt_file=a.k8s_jwt_file, k8s_mount=a.k8s_mount,
                    k8s_ttl=a.k8s_ttl, keys=a.key, delay=a.delay, tls=not a.http,
                    cert_name=a.cert_name, client_ca=a.client_ca, state_file=state,
                    strict=not a.lenient, verbose=a.verbose)
    v.start()
    return serve_until_signalled(v, "vault_double: %s (transit %s)" % (v.url, v.transit_url))


if __name__ == "__main__":
    sys.exit(main())
