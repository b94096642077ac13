#!/usr/bin/env python3
"""An Azure Key Vault (keys API 7.4) test double with a Microsoft identity
platform token endpoint and a managed-identity (IMDS) token endpoint, over
HTTPS on loopback, written from Microsoft's public REST documentation. See
tests/kms/README for what it checks and how it reads the docs.

Command line:
  python3 tests/kms/azure_double.py --dir D --port-file F [--tenant T]
      [--client-id ID] [--client-secret-file S] [--scope SC]
      [--resource https://vault.azure.net] [--token-ttl S]
      [--imds-port-file F2] [--msi-client-id ID] [--no-msi]
      [--key NAME[:KTY]]... [--gcm-layout split|packed] [--delay S]
      [--port P] [--http] [--cert-name server] [--client-ca PEM]
      [--state-file PATH] [--lenient] [--verbose]
One HTTPS port serves the vault (/keys/...), the token endpoint
(/{tenant}/oauth2/v2.0/token) and the IMDS path
(/metadata/identity/oauth2/token); --imds-port-file adds a plain-HTTP
listener as IMDS really is (http://169.254.169.254). D holds the TLS files
(trust D/ca.pem), the client secret (D/azure-client-secret unless
--client-secret-file; created with a random value if missing) and the key
state (D/azure-state.json). SIGUSR1/SIGUSR2/SIGTERM as for vault_double.py.

Python:
  a = AzureKeyVaultDouble(dir=tmp_path, client_secret="s", gcm_layout="split")
  a.start(); a.url (vault base URL == authority), a.tenant, a.client_id
  v = a.create_key("KEK-a", kty="RSA")      # -> version (32 lowercase hex)
  a.rotate_key("KEK-a"); a.set_enabled("KEK-a", False); a.delete_key("KEK-a")
  tok = a.issue_token()                      # bearer without the OAuth call
  a.unwrap_local("KEK-a", v, value); a.stats(); a.stop()
"""

import argparse
import datetime
import json
import os
import re
import secrets
import sys
import time
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (InvalidUnwrap, aes_key_unwrap,
                                                    aes_key_wrap)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmsdouble import (DoubleBase, HttpError, Response, b64, b64url,  # noqa: E402
                       read_or_make_secret, serve_until_signalled, unb64, unb64url)

API_VERSION = "7.4"
RSA_KTY = ("RSA", "RSA-HSM")
OCT_KTY = ("oct", "oct-HSM")
RSA_ALGS = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5")
OCT_ALGS = ("A256GCM", "A256KW")
NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
IMDS_API_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ERROR_CODES = {400: "BadParameter", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
               405: "MethodNotAllowed", 409: "Conflict", 429: "Throttled",
               500: "InternalServerError", 503: "ServiceUnavailable"}


def _now():
    return int(time.time())


def _fake_jwt(claims):
    hdr = {"typ": "JWT", "alg": "RS256", "kid": "krx-test-double"}
    return ".".join([b64url(json.dumps(hdr).encode()), b64url(json.dumps(claims).encode()),
                     b64url(secrets.token_bytes(64))])


def _oaep(alg):
    h = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


class _Imds(DoubleBase):
    """The plain-HTTP IMDS listener; every request goes to the parent."""
    name = "azure-imds"

    def __init__(self, parent, port_file):
        super().__init__(tls=False, host=parent.host, port_file=port_file)
        self.parent = parent

    def _handle(self, req):
        return self.parent._handle(req)


class AzureKeyVaultDouble(DoubleBase):
    name = "azure-double"

    def __init__(self, dir=None, tenant="11111111-2222-3333-4444-555555555555",
                 client_id="krx-test-client", client_secret=None, client_secret_file=None,
                 scope="https://vault.azure.net/.default", resource="https://vault.azure.net",
                 token_ttl=3600, msi=True, msi_client_id="33333333-4444-5555-6666-777777777777",
                 imds_port_file=None, gcm_layout="split", api_versions=(API_VERSION,),
                 strict=True, keys=(), **kw):
        super().__init__(dir=dir, **kw)
        if gcm_layout not in ("split", "packed"):
            raise ValueError("gcm_layout: split or packed")
        self.tenant = tenant
        self.client_id = client_id
        if client_secret is None:
            if client_secret_file is None and self.dir:
                client_secret_file = os.path.join(self.dir, "azure-client-secret")
            client_secret = read_or_make_secret(client_secret_file,
                                                lambda: secrets.token_urlsafe(30))
        self.client_secret = client_secret
        self.scope = scope
        self.resource = resource.rstrip("/")
        self.token_ttl = int(token_ttl)
        self.msi = msi
        self.msi_client_id = msi_client_id
        self.gcm_layout = gcm_layout
        self.api_versions = tuple(api_versions)
        self.strict = strict
        self._keys = {}      # name -> {"order": [ver...], "v": {ver: entry}}
        self._tokens = {}    # token -> {"aud", "exp", "kind", "appid"}
        self.imds = _Imds(self, imds_port_file) if imds_port_file else None
        self.load()
        for k in keys:
            name, _, kty = k.partition(":")
            if name not in self._keys:
                self.create_key(name, kty=kty or "RSA")

    # -- lifecycle (the IMDS listener follows the main one) -------------------
    def start(self):
        super().start()
        if self.imds:
            self.imds.start()
        return self

    def stop(self):
        if self.imds:
            self.imds.stop()
        return super().stop()

    @property
    def authority(self):
        """What krx calls the OAuth endpoint: POST {authority}/{tenant}/oauth2/v2.0/token."""
        return self.url

    @property
    def imds_url(self):
        return self.imds.url if self.imds else self.url

    # -- state -------------------------------------------------------------------
    def state(self):
        with self._lock:
            keys = {}
            for n, k in self._keys.items():
                vs = {}
                for ver, e in k["v"].items():
                    d = {x: e[x] for x in ("kty", "key_ops", "enabled", "created",
                                           "updated", "size")}
                    if e["kty"] in RSA_KTY:
                        d["pem"] = e["priv"].private_bytes(
                            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
                    else:
                        d["oct"] = b64(e["oct"])
                    vs[ver] = d
                keys[n] = {"order": k["order"], "v": vs}
            return {"keys": keys, "tokens": self._tokens}

    def load_state(self, st):
        with self._lock:
            self._keys = {}
            for n, k in st.get("keys", {}).items():
                vs = {}
                for ver, d in k["v"].items():
                    e = {x: d[x] for x in ("kty", "key_ops", "enabled", "created",
                                           "updated", "size")}
                    if "pem" in d:
                        e["priv"] = serialization.load_pem_private_key(d["pem"].encode(), None)
                    else:
                        e["oct"] = unb64(d["oct"])
                    vs[ver] = e
                self._keys[n] = {"order": list(k["order"]), "v": vs}
            self._tokens = dict(st.get("tokens", {}))

    def key_summary(self):
        with self._lock:
            return {n: {"versions": list(k["order"]), "latest_version": k["order"][-1],
                        "kty": k["v"][k["order"][-1]]["kty"],
                        "enabled": {v: k["v"][v]["enabled"] for v in k["order"]},
                        "key_ops": k["v"][k["order"][-1]]["key_ops"]}
                    for n, k in self._keys.items()}

    # -- Python key administration -------------------------------------------------
    def _new_entry(self, kty, size, key_ops, enabled):
        now = _now()
        e = {"kty": kty, "key_ops": list(key_ops), "enabled": bool(enabled),
             "created": now, "updated": now}
        if kty in RSA_KTY:
            size = int(size or 2048)
            if size not in (2048, 3072, 4096):
                raise ValueError("RSA key_size: 2048, 3072 or 4096")
            e["priv"] = rsa.generate_private_key(public_exponent=65537, key_size=size)
        elif kty in OCT_KTY:
            size = int(size or 256)
            if size != 256:
                raise ValueError("the double has only 256-bit oct keys")
            e["oct"] = os.urandom(32)
        else:
            raise ValueError("kty: RSA, RSA-HSM, oct or oct-HSM")
        e["size"] = size
        return e

    def create_key(self, name, kty="RSA", size=None, key_ops=("wrapKey", "unwrapKey"),
                   enabled=True):
        """A new key, or a new version of an existing name; returns the version."""
        if not NAME_RE.match(name):
            raise ValueError("key names are 1-127 of [0-9A-Za-z-]")
        e = self._new_entry(kty, size, key_ops, enabled)
        ver = uuid.uuid4().hex
        with self._lock:
            k = self._keys.setdefault(name, {"order": [], "v": {}})
            k["order"].append(ver)
            k["v"][ver] = e
            self.save()
        return ver

    def rotate_key(self, name):
        with self._lock:
            cur = self._keys[name]["v"][self._keys[name]["order"][-1]]
            kty, size, ops = cur["kty"], cur["size"], cur["key_ops"]
        return self.create_key(name, kty, size, ops, True)

    def _entry(self, name, version=None):
        k = self._keys[name]
        return k["v"][version or k["order"][-1]]

    def set_enabled(self, name, enabled, version=None):
        with self._lock:
            e = self._entry(name, version)
            e["enabled"] = bool(enabled)
            e["updated"] = _now()
            self.save()

    def set_key_ops(self, name, key_ops, version=None):
        with self._lock:
            e = self._entry(name, version)
            e["key_ops"] = list(key_ops)
            e["updated"] = _now()
            self.save()

    def delete_key(self, name):
        with self._lock:
            self._keys.pop(name, None)
            self.save()

    def latest_version(self, name):
        with self._lock:
            return self._keys[name]["order"][-1]

    def versions(self, name):
        with self._lock:
            return list(self._keys[name]["order"])

    def kid(self, name, version=None, host=None):
        return "https://%s/keys/%s/%s" % (host or "127.0.0.1:%d" % self.port, name,
                                          version or self.latest_version(name))

    def issue_token(self, aud=None, ttl=None, kind="test"):
        """A bearer token the vault accepts (aud defaults to the resource)."""
        ttl = self.token_ttl if ttl is None else int(ttl)
        now = _now()
        aud = aud or self.resource
        claims = {"aud": aud, "iss": "https://sts.windows.net/%s/" % self.tenant,
                  "iat": now, "nbf": now, "exp": now + ttl, "tid": self.tenant,
                  "appid": self.client_id, "oid": str(uuid.uuid4()), "sub": kind}
        tok = _fake_jwt(claims)
        with self._lock:
            self._tokens[tok] = {"aud": aud, "exp": now + ttl, "kind": kind}
            self.save()
        return tok

    def expire_tokens(self):
        with self._lock:
            for rec in self._tokens.values():
                rec["exp"] = _now() - 1
            self.save()

    # -- crypto ---------------------------------------------------------------------
    def _wrap(self, e, alg, dek, aad=None):
        if e["kty"] in RSA_KTY:
            if alg not in RSA_ALGS:
                raise HttpError(self.error(400, "Invalid algorithm %s for key type %s"
                                                % (alg, e["kty"])))
            pad = padding.PKCS1v15() if alg == "RSA1_5" else _oaep(alg)
            return {"value": b64url(e["priv"].public_key().encrypt(dek, pad))}
        if alg not in OCT_ALGS:
            raise HttpError(self.error(400, "Invalid algorithm %s for key type %s"
                                            % (alg, e["kty"])))
        if alg == "A256KW":
            return {"value": b64url(aes_key_wrap(e["oct"], dek))}
        iv = os.urandom(12)
        ct = AESGCM(e["oct"]).encrypt(iv, dek, aad)
        body, tag = ct[:-16], ct[-16:]
        if self.gcm_layout == "packed":
            return {"value": b64url(iv + body + tag)}
        out = {"value": b64url(body), "iv": b64url(iv), "tag": b64url(tag)}
        if aad is not None:
            out["aad"] = b64url(aad)
        return out

    def _unwrap(self, e, alg, value, iv=None, tag=None, aad=None):
        bad = HttpError(self.error(400, "[test double] unwrap failed: the value does not "
                                        "decrypt under this key version"))
        if e["kty"] in RSA_KTY:
            if alg not in RSA_ALGS:
                raise HttpError(self.error(400, "Invalid algorithm %s for key type %s"
                                                % (alg, e["kty"])))
            pad = padding.PKCS1v15() if alg == "RSA1_5" else _oaep(alg)
            try:
                return e["priv"].decrypt(value, pad)
            except ValueError:
                raise bad
        if alg not in OCT_ALGS:
            raise HttpError(self.error(400, "Invalid algorithm %s for key type %s"
                                            % (alg, e["kty"])))
        if alg == "A256KW":
            try:
                return aes_key_unwrap(e["oct"], value)
            except (InvalidUnwrap, ValueError):
                raise bad
        if iv is None and tag is None and self.gcm_layout == "packed":
            if len(value) < 12 + 16:
                raise bad
            iv, value, tag = value[:12], value[12:-16], value[-16:]
        if iv is None or tag is None:
            raise HttpError(self.error(400, "A256GCM unwrap needs the iv and tag that wrap "
                                            "returned"))
        try:
            return AESGCM(e["oct"]).decrypt(iv, value + tag, aad)
        except (InvalidTag, ValueError):
            raise bad

    def wrap_local(self, name, version, dek, alg=None):
        """What wrapkey would answer (without kid), for building test EDEKs."""
        with self._lock:
            e = self._entry(name, version)
            return self._wrap(e, alg or self._default_alg(e), dek)

    def unwrap_local(self, name, version, value, iv=None, tag=None, alg=None):
        """Unwrap base64url strings (or bytes) as unwrapkey would."""
        conv = (lambda x: unb64url(x) if isinstance(x, str) else x)
        with self._lock:
            e = self._entry(name, version)
            return self._unwrap(e, alg or self._default_alg(e), conv(value),
                                None if iv is None else conv(iv),
                                None if tag is None else conv(tag))

    @staticmethod
    def _default_alg(e):
        return "RSA-OAEP-256" if e["kty"] in RSA_KTY else "A256GCM"

    # -- Key Vault-shaped responses --------------------------------------------------
    def error(self, status, message, code=None, inner=None):
        err = {"code": code or ERROR_CODES.get(status, "Error"), "message": message}
        if inner:
            err["innererror"] = {"code": inner}
        return Response(status, {"error": err})

    def unavailable(self):
        return self.error(503, "The service is unavailable (test double outage).",
                          "ServiceUnavailable")

    def _unauthorized(self, message):
        hdr = 'Bearer authorization="%s/%s", resource="%s"' % (self.authority, self.tenant,
                                                              self.resource)
        r = self.error(401, message, "Unauthorized")
        r.headers["WWW-Authenticate"] = hdr
        return HttpError(r)

    def _aad_error(self, status, error, code, desc):
        tid, cid = str(uuid.uuid4()), str(uuid.uuid4())
        ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return HttpError(Response(status, {
            "error": error,
            "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
                                 % (code, desc, tid, cid, ts),
            "error_codes": [code], "timestamp": ts, "trace_id": tid, "correlation_id": cid,
            "error_uri": "%s/error?code=%d" % (self.authority, code)}))

    def _bundle(self, req, name, ver, e):
        host = req.header("Host") or "127.0.0.1:%d" % self.port
        key = {"kid": self.kid(name, ver, host), "kty": e["kty"], "key_ops": e["key_ops"]}
        if e["kty"] in RSA_KTY:
            pn = e["priv"].public_key().public_numbers()
            key["n"] = b64url(pn.n.to_bytes((pn.n.bit_length() + 7) // 8, "big"))
            key["e"] = b64url(pn.e.to_bytes((pn.e.bit_length() + 7) // 8, "big"))
        attrs = {"enabled": e["enabled"], "created": e["created"], "updated": e["updated"],
                 "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90,
                 "exportable": False}
        return {"key": key, "attributes": attrs, "tags": {}}

    # -- routing ----------------------------------------------------------------------
    def route(self, req):
        s, m = req.segments, req.method
        if len(s) == 4 and s[1:] == ["oauth2", "v2.0", "token"]:
            return "oauth_token", self._only(m, ("POST",), self._oauth_token)
        if s == ["metadata", "identity", "oauth2", "token"]:
            return "msi_token", self._only(m, ("GET",), self._msi_token)
        if s[:1] == ["keys"] and len(s) >= 2:
            n = len(s)
            if n == 2:
                if m == "GET":
                    return "key_get", self._vault(self._key_get)
                if m == "DELETE":
                    return "key_delete", self._vault(self._key_delete)
                if m == "PATCH":
                    return "key_update", self._vault(self._key_update)
                return "key_get", self._vault(self._bad_method)
            if n == 3 and s[2] in ("create", "rotate"):
                fn = self._key_create if s[2] == "create" else self._key_rotate
                return "key_" + s[2], self._vault(self._only(m, ("POST",), fn))
            if n == 3 and s[2] in ("wrapkey", "unwrapkey"):
                return s[2], self._vault(self._only(m, ("POST",), self._keyop))
            if n == 3:
                if m == "GET":
                    return "key_get", self._vault(self._key_get)
                if m == "PATCH":
                    return "key_update", self._vault(self._key_update)
                return "key_get", self._vault(self._bad_method)
            if n == 4 and s[3] in ("wrapkey", "unwrapkey"):
                return s[3], self._vault(self._only(m, ("POST",), self._keyop))
        return "unknown", self._vault(self._no_path)

    def _only(self, method, allowed, fn):
        return fn if method in allowed else self._bad_method

    def _bad_method(self, req):
        raise HttpError(self.error(405, "The requested resource does not support http "
                                        "method '%s'." % req.method))

    def _no_path(self, req):
        raise HttpError(self.error(404, "[test double] no such Key Vault operation: %s"
                                        % req.path))

    def _vault(self, fn):
        """Bearer token first (401 + WWW-Authenticate challenge), then the
        api-version (400), then the operation."""
        def wrapped(req):
            a = req.header("Authorization") or ""
            if not a:
                raise self._unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
            if not a.startswith("Bearer ") or not a[7:].strip():
                raise self._unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
            tok = a[7:].strip()
            with self._lock:
                rec = self._tokens.get(tok)
            if rec is None:
                raise self._unauthorized("[test double] the bearer token was not issued by "
                                         "this tenant.")
            if rec["exp"] <= time.time():
                raise self._unauthorized("[test double] the bearer token has expired.")
            if rec["aud"].rstrip("/") != self.resource:
                raise self._unauthorized("AKV10022: Invalid audience. Expected %s, found: %s."
                                         % (self.resource, rec["aud"]))
            av = req.query.get("api-version")
            if not av or not av[0]:
                raise HttpError(self.error(400, "[test double] the api-version query "
                                                "parameter is missing."))
            if len(av) > 1 or av[0] not in self.api_versions:
                raise HttpError(self.error(
                    400, "The specified version (%s) is not recognized. Consider using the "
                         "latest supported version (%s)." % (",".join(av),
                                                              self.api_versions[-1])))
            return fn(req)
        return wrapped

    def _body(self, req, allowed, required=()):
        try:
            body = req.json_body()
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(self.error(400, "[test double] the body is not a JSON object: %s"
                                            % e))
        unknown = sorted(set(body) - set(allowed))
        if unknown and self.strict:
            raise HttpError(self.error(400, "[test double, strict] unexpected properties: %s"
                                            % unknown))
        for r in required:
            if body.get(r) in (None, ""):
                raise HttpError(self.error(400, "Property '%s' is required." % r))
        return body

    def _lookup(self, name, version=None):
        k = self._keys.get(name)
        if k is None or (version and version not in k["v"]):
            ident = name + ("/" + version if version else "")
            raise HttpError(self.error(404, "A key with (name/id) %s was not found in this key "
                                            "vault. If you recently deleted this key you may "
                                            "be able to recover it using the correct recovery "
                                            "command." % ident, "KeyNotFound"))
        ver = version or k["order"][-1]
        return ver, k["v"][ver]

    # -- vault endpoints ------------------------------------------------------------------
    def _key_get(self, req):
        s = req.segments
        with self._lock:
            ver, e = self._lookup(s[1], s[2] if len(s) == 3 else None)
            return Response(200, self._bundle(req, s[1], ver, e))

    def _key_create(self, req):
        name = req.segments[1]
        body = self._body(req, ("kty", "key_size", "key_ops", "attributes", "tags",
                                "public_exponent", "crv", "exportable"), required=("kty",))
        if not NAME_RE.match(name):
            raise HttpError(self.error(400, "The key name is invalid."))
        ops = body.get("key_ops") or ["encrypt", "decrypt", "sign", "verify", "wrapKey",
                                      "unwrapKey"]
        enabled = (body.get("attributes") or {}).get("enabled", True)
        try:
            ver = self.create_key(name, body["kty"], body.get("key_size"), ops, enabled)
        except ValueError as e:
            raise HttpError(self.error(400, str(e)))
        with self._lock:
            return Response(200, self._bundle(req, name, ver, self._keys[name]["v"][ver]))

    def _key_rotate(self, req):
        name = req.segments[1]
        self._body(req, ())
        with self._lock:
            self._lookup(name)
            ver = self.rotate_key(name)
            return Response(200, self._bundle(req, name, ver, self._keys[name]["v"][ver]))

    def _key_update(self, req):
        s = req.segments
        body = self._body(req, ("key_ops", "attributes", "tags", "release_policy"))
        with self._lock:
            ver, e = self._lookup(s[1], s[2] if len(s) == 3 else None)
            if "key_ops" in body:
                e["key_ops"] = list(body["key_ops"])
            attrs = body.get("attributes") or {}
            if "enabled" in attrs:
                e["enabled"] = bool(attrs["enabled"])
            e["updated"] = _now()
            self.save()
            return Response(200, self._bundle(req, s[1], ver, e))

    def _key_delete(self, req):
        name = req.segments[1]
        with self._lock:
            ver, e = self._lookup(name)
            b = self._bundle(req, name, ver, e)
            self.delete_key(name)
        host = req.header("Host") or "127.0.0.1:%d" % self.port
        b.update({"recoveryId": "https://%s/deletedkeys/%s" % (host, name),
                  "deletedDate": _now(), "scheduledPurgeDate": _now() + 90 * 86400})
        return Response(200, b)

    def _keyop(self, req):
        s = req.segments
        op = s[-1]                                     # wrapkey / unwrapkey
        perm = "wrapKey" if op == "wrapkey" else "unwrapKey"
        body = self._body(req, ("alg", "value", "iv", "tag", "aad"), required=("alg", "value"))
        fields = {}
        for f in ("value", "iv", "tag", "aad"):
            if body.get(f) is not None:
                try:
                    fields[f] = unb64url(body[f])
                except ValueError as e:
                    raise HttpError(self.error(400, "[test double] '%s' is not unpadded "
                                                    "base64url: %s" % (f, e)))
        alg = body["alg"]
        with self._lock:
            ver, e = self._lookup(s[1], s[2] if len(s) == 4 else None)
            if not e["enabled"]:
                raise HttpError(self.error(403, "Operation %s is not allowed on a disabled key."
                                                % perm, "Forbidden", "KeyDisabled"))
            if perm not in e["key_ops"]:
                raise HttpError(self.error(403, "Operation %s is not permitted on this key."
                                                % perm, "Forbidden", "KeyOperationForbidden"))
            kid = self.kid(s[1], ver, req.header("Host"))
            if op == "wrapkey":
                if e["kty"] in RSA_KTY and set(fields) - {"value"}:
                    raise HttpError(self.error(400, "[test double] iv/tag/aad make no sense "
                                                    "with %s" % alg))
                if "iv" in fields or "tag" in fields:
                    raise HttpError(self.error(400, "[test double] wrapkey takes no iv or tag "
                                                    "(the service makes the IV)"))
                out = self._wrap(e, alg, fields["value"], fields.get("aad"))
            else:
                pt = self._unwrap(e, alg, fields["value"], fields.get("iv"), fields.get("tag"),
                                  fields.get("aad"))
                out = {"value": b64url(pt)}
        out = dict(kid=kid, **out)
        return Response(200, out)

    # -- identity endpoints -------------------------------------------------------------
    def _oauth_token(self, req):
        tenant = req.segments[0]
        if tenant != self.tenant:
            raise self._aad_error(400, "invalid_request", 90002,
                                  "Tenant '%s' not found." % tenant)
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise self._aad_error(400, "invalid_request", 900144,
                                  "The request body must contain the following parameter: "
                                  "'grant_type'.")
        try:
            form = req.form_body()
        except UnicodeDecodeError:
            raise self._aad_error(400, "invalid_request", 900144, "Malformed body.")
        allowed = ("grant_type", "client_id", "client_secret", "scope")
        extra = sorted(set(form) - set(allowed))
        if extra and self.strict:
            raise self._aad_error(400, "invalid_request", 900144,
                                  "[test double, strict] unexpected parameters %s." % extra)
        dup = [k for k, v in form.items() if len(v) > 1]
        if dup:
            raise self._aad_error(400, "invalid_request", 90015,
                                  "Requested query string is too long or repeats %s." % dup)
        f = {k: v[0] for k, v in form.items()}
        for p in allowed:
            if not f.get(p):
                raise self._aad_error(400, "invalid_request", 900144,
                                      "The request body must contain the following "
                                      "parameter: '%s'." % p)
        if f["grant_type"] != "client_credentials":
            raise self._aad_error(400, "unsupported_grant_type", 70003,
                                  "The app requested an unsupported grant type '%s'."
                                  % f["grant_type"])
        if f["client_id"] != self.client_id:
            raise self._aad_error(400, "unauthorized_client", 700016,
                                  "Application with identifier '%s' was not found in the "
                                  "directory." % f["client_id"])
        if f["client_secret"] != self.client_secret:
            raise self._aad_error(401, "invalid_client", 7000215,
                                  "Invalid client secret provided.")
        if not f["scope"].endswith("/.default") or " " in f["scope"]:
            raise self._aad_error(400, "invalid_scope", 1002012,
                                  "The provided value for scope %s is not valid. Client "
                                  "credential flows must have a scope value with /.default "
                                  "suffixed to the resource identifier." % f["scope"])
        if f["scope"] != self.scope:
            raise self._aad_error(400, "invalid_resource", 500011,
                                  "The resource principal named %s was not found in the "
                                  "tenant." % f["scope"][:-len("/.default")])
        tok = self.issue_token(f["scope"][:-len("/.default")], kind="client_credentials")
        return Response(200, {"token_type": "Bearer", "expires_in": self.token_ttl,
                              "ext_expires_in": self.token_ttl, "access_token": tok},
                        {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def _imds_error(self, status, error, desc):
        return HttpError(Response(status, {"error": error, "error_description": desc}))

    def _msi_token(self, req):
        if (req.header("Metadata") or "") != "true":
            raise self._imds_error(400, "invalid_request", "Required metadata header not "
                                                           "specified")
        if req.header("X-Forwarded-For") is not None:
            raise self._imds_error(400, "invalid_request", "[test double] IMDS refuses "
                                                           "requests with X-Forwarded-For")
        q = {k: v[0] for k, v in req.query.items()}
        av = q.get("api-version")
        if not av:
            raise self._imds_error(400, "invalid_request", "Required query variable "
                                                           "'api-version' is missing")
        if not IMDS_API_RE.match(av) or av < "2018-02-01":
            raise self._imds_error(400, "invalid_request", "Invalid api-version %s" % av)
        if not q.get("resource"):
            raise self._imds_error(400, "invalid_request", "Required query variable "
                                                           "'resource' is missing")
        if not self.msi:
            raise self._imds_error(400, "invalid_request", "Identity not found")
        for p in ("client_id", "object_id", "msi_res_id"):
            if p in q and (p != "client_id" or q[p] != self.msi_client_id):
                raise self._imds_error(400, "invalid_request", "Identity not found")
        res = q["resource"]
        now = _now()
        tok = self.issue_token(res, kind="managed_identity")
        ttl = self.token_ttl
        return Response(200, {"access_token": tok, "client_id": self.msi_client_id,
                              "expires_in": str(ttl), "expires_on": str(now + ttl),
                              "ext_expires_in": str(ttl), "not_before": str(now),
                              "resource": res, "token_type": "Bearer"})

    # -- test-only controls ---------------------------------------------------------------
    def control(self, req):
        seg = req.segments[1:]
        body = req.json_body() if req.method in ("POST", "PUT") else {}
        if seg == ["keys"] and req.method == "POST":
            ver = self.create_key(body["name"], body.get("kty", "RSA"), body.get("key_size"),
                                  body.get("key_ops", ("wrapKey", "unwrapKey")),
                                  body.get("enabled", True))
            return Response(200, {"name": body["name"], "version": ver,
                                  "kid": self.kid(body["name"], ver)})
        if len(seg) == 3 and seg[0] == "keys" and req.method == "POST":
            name = seg[1]
            with self._lock:
                if name not in self._keys:
                    return Response(404, {"error": "no such key"})
            if seg[2] == "rotate":
                ver = self.rotate_key(name)
                return Response(200, {"name": name, "version": ver, "kid": self.kid(name, ver)})
            if seg[2] == "enabled":
                self.set_enabled(name, body["enabled"], body.get("version"))
                return Response(204)
            if seg[2] == "key_ops":
                self.set_key_ops(name, body["key_ops"], body.get("version"))
                return Response(204)
        if len(seg) == 2 and seg[0] == "keys" and req.method == "DELETE":
            self.delete_key(seg[1])
            return Response(204)
        if seg == ["tokens"] and req.method == "POST":
            return Response(200, {"access_token": self.issue_token(body.get("aud"),
                                                                   body.get("ttl"))})
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Azure Key Vault test double")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--tenant", default="11111111-2222-3333-4444-555555555555")
    ap.add_argument("--client-id", default="krx-test-client")
    ap.add_argument("--client-secret-file",
                    help="created with a random secret if missing; default D/azure-client-secret")
    ap.add_argument("--scope", default="https://vault.azure.net/.default")
    ap.add_argument("--resource", default="https://vault.azure.net",
                    help="the audience the vault accepts")
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--imds-port-file", help="also serve IMDS on plain HTTP; its port goes here")
    ap.add_argument("--msi-client-id", default="33333333-4444-5555-6666-777777777777")
    ap.add_argument("--no-msi", action="store_true", help="IMDS answers 'Identity not found'")
    ap.add_argument("--key", action="append", default=[],
                    help="NAME[:KTY] to create at start (KTY RSA, RSA-HSM, oct, oct-HSM)")
    ap.add_argument("--gcm-layout", default="split", choices=("split", "packed"))
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--cert-name", default="server")
    ap.add_argument("--client-ca")
    ap.add_argument("--state-file", help="default D/azure-state.json; '' for none")
    ap.add_argument("--lenient", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args(argv)
    os.makedirs(a.dir, exist_ok=True)
    state = os.path.join(a.dir, "azure-state.json") if a.state_file is None else (a.state_file or None)
    d = AzureKeyVaultDouble(dir=a.dir, host=a.host, port=a.port, port_file=a.port_file,
                            tenant=a.tenant, client_id=a.client_id,
                            client_secret_file=a.client_secret_file, scope=a.scope,
                            resource=a.resource, token_ttl=a.token_ttl, msi=not a.no_msi,
                            msi_client_id=a.msi_client_id, imds_port_file=a.imds_port_file,
                            gcm_layout=a.gcm_layout, keys=a.key, delay=a.delay,
                            tls=not a.http, cert_name=a.cert_name, client_ca=a.client_ca,
                            state_file=state, strict=not a.lenient, verbose=a.verbose)
    d.start()
    return serve_until_signalled(d, "azure_double: %s (tenant %s%s)" % (
        d.url, d.tenant, ", imds %s" % d.imds_url if d.imds else ""))


if __name__ == "__main__":
    sys.exit(main())
