"""Self-tests of the KMS test doubles (Vault Transit, Azure Key Vault) and
of the moto wrapper, with plain urllib/ssl clients.

  python3 -m pytest -q -p no:cacheprovider tests/kms/test_doubles.py
"""

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
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tlsca  # noqa: E402
from azure_double import AzureKeyVaultDouble  # noqa: E402
from kmsdouble import b64url, unb64url  # noqa: E402
from moto_kms import MotoServer  # noqa: E402
from vault_double import VaultDouble  # noqa: E402

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402


# -- a small client ----------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.raw[:300])


def call(method, url, body=None, headers=None, ca=None, form=None, timeout=10):
    """(status, headers, parsed JSON) without raising on HTTP errors; a
    dict body goes as JSON, form= as application/x-www-form-urlencoded."""
    h = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif body is not None:
        data = body if isinstance(body, bytes) else body.encode()
    ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def refused(url, ca=None):
    try:
        call("GET", url, ca=ca, timeout=3)
    except urllib.error.URLError as e:
        return isinstance(e.reason, (ConnectionRefusedError, ConnectionResetError))
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


def wait_file(path, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path) and open(path).read().strip():
            return int(open(path).read())
        if proc.poll() is not None:
            raise AssertionError("process exited %s: %s" % (proc.returncode,
                                                            proc.stdout.read()))
        time.sleep(0.05)
    raise AssertionError("no port file " + path)


def stop_proc(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return tlsca.ensure(str(tmp_path_factory.mktemp("pki")))


# -- TLS material ----------------------------------------------------------------

def test_tlsca_files_and_cli(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(HERE, "tlsca.py"), str(tmp_path),
                          "--dns", "kms.example.test"], capture_output=True, text=True,
                         check=True)
    p = json.loads(out.stdout)
    for k in tlsca.FILES:
        assert os.path.exists(p[k]), k
    assert oct(os.stat(p["ca_key"]).st_mode & 0o777) == "0o600"
    pem = open(p["server"], "rb").read()
    from cryptography import x509
    cert = x509.load_pem_x509_certificate(pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kms.example.test" in sans.get_values_for_type(x509.DNSName)
    assert "*.vault.localhost" in sans.get_values_for_type(x509.DNSName)
    # ensure() keeps existing files
    before = open(p["ca"]).read()
    tlsca.ensure(str(tmp_path))
    assert open(p["ca"]).read() == before


# -- Vault ---------------------------------------------------------------------------

TOKEN = "hvs.test-static-token"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrcngifQ.c2ln"


@pytest.fixture
def vault(pki):
    v = VaultDouble(dir=pki["dir"], token=TOKEN, k8s_role="krx", k8s_jwt=JWT,
                    keys=["KEK-a"]).start()
    yield v
    v.stop()


def vcall(v, method, sub, body=None, token=TOKEN, headers=None, base=None):
    h = dict(headers or {})
    if token:
        h["X-Vault-Token"] = token
    return call(method, (base or v.transit_url) + sub, body, h, ca=v.ca_file)


def test_vault_happy_path(vault):
    r = vcall(vault, "GET", "/keys/KEK-a", headers={"Accept": "application/json"})
    assert r.status == 200, r
    assert r.json["data"]["name"] == "KEK-a"
    assert r.json["data"]["latest_version"] == 1
    assert r.json["data"]["type"] == "aes256-gcm96"
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"")  # empty body, 256 bits
    assert r.status == 200, r
    dek = base64.b64decode(r.json["data"]["plaintext"])
    ct = r.json["data"]["ciphertext"]
    assert len(dek) == 32
    assert ct.startswith("vault:v1:") and len(ct) == 89
    raw = base64.b64decode(ct[len("vault:v1:"):])
    assert len(raw) == 12 + 32 + 16                  # nonce + ct + tag
    assert vault.decrypt_local("KEK-a", ct) == dek
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": ct})
    assert r.status == 200, r
    assert base64.b64decode(r.json["data"]["plaintext"]) == dek
    s = vault.stats()
    assert s["calls"] == {"keys_read": 1, "datakey": 1, "decrypt": 1}
    assert s["status"]["decrypt"] == {"200": 1}
    assert vault.last_request("keys_read")["headers"]["Accept"] == "application/json"
    # the same stats over HTTP
    st = call("GET", vault.url + "/_double/stats", ca=vault.ca_file).json
    assert st["calls"]["datakey"] == 1
    assert call("POST", vault.url + "/_double/reset-stats", ca=vault.ca_file).status == 204
    assert vault.stats()["calls"] == {}


def test_vault_wrong_token(vault):
    for tok in (None, "hvs.wrong"):
        r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"", token=tok)
        assert r.status == 403, r
        assert r.json == {"errors": ["permission denied"]}
    # Authorization: Bearer is accepted as Vault does
    r = vcall(vault, "GET", "/keys/KEK-a", token=None,
              headers={"Authorization": "Bearer " + TOKEN})
    assert r.status == 200
    assert vault.stats()["status"]["datakey"] == {"403": 2}


def test_vault_wrong_path_method_json(vault):
    r = vcall(vault, "GET", "/datakey/plaintext/KEK-a")
    assert r.status == 405 and r.json == {"errors": ["unsupported operation"]}
    r = vcall(vault, "GET", "/decrypt/KEK-a")
    assert r.status == 405
    r = vcall(vault, "POST", "/nope/KEK-a", {})
    assert r.status == 404 and r.json == {"errors": ["unsupported path"]}
    r = call("GET", vault.url + "/v1/other/keys/KEK-a", headers={"X-Vault-Token": TOKEN},
             ca=vault.ca_file)
    assert r.status == 404 and "no handler for route" in r.json["errors"][0]
    r = call("GET", vault.url + "/v2/transit/keys/KEK-a", headers={"X-Vault-Token": TOKEN},
             ca=vault.ca_file)
    assert r.status == 404
    r = vcall(vault, "GET", "/keys/KEK-missing")
    assert r.status == 404 and r.json == {"errors": []}
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-missing", b"")
    assert r.status == 400 and r.json == {"errors": ["encryption key not found"]}
    r = vcall(vault, "POST", "/decrypt/KEK-missing", {"ciphertext": "vault:v1:AAAA"})
    assert r.status == 400
    r = vcall(vault, "POST", "/datakey/secret/KEK-a", b"")
    assert r.status == 400 and r.json == {"errors": ["invalid type"]}
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", {"bits": 100})
    assert r.status == 400
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", {"bits": "128"})
    assert r.status == 200 and len(base64.b64decode(r.json["data"]["plaintext"])) == 16
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"cipher_text": "vault:v1:AAAA"})
    assert r.status == 400 and "unrecognized parameters" in r.json["errors"][0]
    r = vcall(vault, "POST", "/decrypt/KEK-a", b"{not json")
    assert r.status == 400 and r.json["errors"][0].startswith("failed to parse JSON input")
    r = vcall(vault, "POST", "/decrypt/KEK-a", {})
    assert r.status == 400 and r.json == {"errors": ["missing ciphertext to decrypt"]}
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": "garbage"})
    assert r.status == 400 and r.json == {"errors": ["invalid ciphertext: no prefix"]}
    ct = vault.encrypt_local("KEK-a", b"k" * 32)
    bad = ct[:-6] + ("AAAA==" if not ct.endswith("AAAA==") else "BBBB==")
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": bad})
    assert r.status == 400
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": "vault:v9:" + ct[9:]})
    assert r.status == 400 and r.json == {"errors": ["invalid key version"]}


def test_vault_namespace_path(pki):
    with VaultDouble(dir=pki["dir"], token=TOKEN, namespace="/ns1/ns2/", mount="kms/transit",
                     keys=["KEK-n"]) as v:
        assert v.transit_url == v.url + "/v1/ns1/ns2/kms/transit"
        h = {"X-Vault-Token": TOKEN}
        r = call("GET", v.url + "/v1/ns1/ns2/kms/transit/keys/KEK-n", headers=h, ca=v.ca_file)
        assert r.status == 200 and r.json["data"]["name"] == "KEK-n"
        for p in ("/v1/kms/transit/keys/KEK-n", "/v1/ns1/kms/transit/keys/KEK-n",
                  "/v1/ns1/ns2/transit/keys/KEK-n"):
            r = call("GET", v.url + p, headers=h, ca=v.ca_file)
            assert r.status == 404, p
        # the namespace may also come (partly) from X-Vault-Namespace
        r = call("GET", v.url + "/v1/ns2/kms/transit/keys/KEK-n",
                 headers=dict(h, **{"X-Vault-Namespace": "ns1"}), ca=v.ca_file)
        assert r.status == 200
        r = call("POST", v.url + "/v1/ns1/ns2/kms/transit/datakey/plaintext/KEK-n", b"",
                 headers=h, ca=v.ca_file)
        assert r.status == 200


def test_vault_k8s_login_renew(vault):
    login = vault.api_url + "/auth/kubernetes/login"
    r = call("POST", login, {"role": "other", "jwt": JWT}, ca=vault.ca_file)
    assert r.status == 400 and r.json == {"errors": ['invalid role name "other"']}
    r = call("POST", login, {"role": "krx", "jwt": "eyJ.bad.jwt"}, ca=vault.ca_file)
    assert r.status == 403 and r.json == {"errors": ["permission denied"]}
    r = call("POST", login, {"role": "krx"}, ca=vault.ca_file)
    assert r.status == 400
    r = call("GET", login, ca=vault.ca_file)
    assert r.status == 405
    r = call("POST", login, {"role": "krx", "jwt": JWT}, ca=vault.ca_file)
    assert r.status == 200, r
    auth = r.json["auth"]
    tok = auth["client_token"]
    assert auth["lease_duration"] == 3600 and auth["renewable"] is True
    assert auth["metadata"]["role"] == "krx"
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"", token=tok)
    assert r.status == 200
    r = call("POST", vault.api_url + "/auth/token/renew-self", {"increment": "2h"},
             headers={"X-Vault-Token": tok}, ca=vault.ca_file)
    assert r.status == 200 and r.json["auth"]["lease_duration"] == 7200
    assert r.json["auth"]["client_token"] == tok
    r = call("GET", vault.api_url + "/auth/token/lookup-self", headers={"X-Vault-Token": tok},
             ca=vault.ca_file)
    assert r.status == 200 and r.json["data"]["id"] == tok
    assert 7000 < r.json["data"]["ttl"] <= 7200
    # the static token (ttl 0) is not renewable
    r = call("POST", vault.api_url + "/auth/token/renew-self", b"",
             headers={"X-Vault-Token": TOKEN}, ca=vault.ca_file)
    assert r.status == 400 and r.json == {"errors": ["lease is not renewable"]}
    vault.expire_tokens()
    r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"", token=tok)
    assert r.status == 403
    r = call("POST", login, {"role": "krx", "jwt": JWT}, ca=vault.ca_file)
    assert r.status == 200
    assert vault.calls("k8s_login") == 6


def test_vault_token_ttl_expiry(pki):
    with VaultDouble(dir=pki["dir"], token=TOKEN, token_ttl=1, k8s_role="krx", k8s_jwt=JWT,
                     k8s_ttl=1, keys=["KEK-a"]) as v:
        r = call("POST", v.api_url + "/auth/kubernetes/login", {"role": "krx", "jwt": JWT},
                 ca=v.ca_file)
        tok = r.json["auth"]["client_token"]
        assert r.json["auth"]["lease_duration"] == 1
        renew = call("POST", v.api_url + "/auth/token/renew-self", b"",
                     headers={"X-Vault-Token": TOKEN}, ca=v.ca_file)
        assert renew.status == 200 and renew.json["auth"]["lease_duration"] == 1
        time.sleep(1.2)
        assert vcall(v, "GET", "/keys/KEK-a", token=tok).status == 403
        assert vcall(v, "GET", "/keys/KEK-a", token=TOKEN).status == 403


def test_vault_rotate_decrypt_old_and_delete(vault):
    r1 = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"").json["data"]
    assert vcall(vault, "POST", "/keys/KEK-a/rotate", b"").status == 204
    r = vcall(vault, "GET", "/keys/KEK-a")
    assert r.json["data"]["latest_version"] == 2
    assert sorted(r.json["data"]["keys"]) == ["1", "2"]
    r2 = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"").json["data"]
    assert r2["ciphertext"].startswith("vault:v2:") and r2["key_version"] == 2
    for d in (r1, r2):
        r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": d["ciphertext"]})
        assert r.status == 200 and r.json["data"]["plaintext"] == d["plaintext"]
    # Python admin API: rotate once more, then forbid v1
    assert vault.rotate_key("KEK-a") == 3
    assert vcall(vault, "POST", "/keys/KEK-a/config",
                 {"min_decryption_version": 2}).status == 204
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": r1["ciphertext"]})
    assert r.status == 400 and "disallowed by policy" in r.json["errors"][0]
    assert vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": r2["ciphertext"]}).status == 200
    # delete needs deletion_allowed
    r = vcall(vault, "DELETE", "/keys/KEK-a")
    assert r.status == 400 and r.json == {"errors": ["deletion is not allowed for this key"]}
    assert vcall(vault, "POST", "/keys/KEK-a/config", {"deletion_allowed": True}).status == 204
    assert vcall(vault, "DELETE", "/keys/KEK-a").status == 204
    assert vcall(vault, "GET", "/keys/KEK-a").status == 404
    r = vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": r2["ciphertext"]})
    assert r.status == 400 and r.json == {"errors": ["encryption key not found"]}
    # create through the real endpoint, and through the control endpoint
    assert vcall(vault, "POST", "/keys/KEK-b", {"type": "aes256-gcm96"}).status == 204
    r = call("POST", vault.url + "/_double/keys", {"name": "KEK-c"}, ca=vault.ca_file)
    assert r.status == 200 and r.json["latest_version"] == 1
    r = call("POST", vault.url + "/_double/keys/KEK-c/rotate", b"", ca=vault.ca_file)
    assert r.json["latest_version"] == 2
    r = vcall(vault, "LIST", "/keys")
    assert r.json["data"]["keys"] == ["KEK-b", "KEK-c"]


def _handshake(port, cafile, server_hostname="localhost"):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
            return t.version()


def test_vault_tls(vault, pki):
    # the right CA, by name and by address
    assert _handshake(vault.port, pki["ca"], "localhost").startswith("TLS")
    assert _handshake(vault.port, pki["ca"], "krx.vault.localhost").startswith("TLS")
    assert vcall(vault, "GET", "/keys/KEK-a").status == 200     # https://127.0.0.1
    # the other CA: refused, and the double saw the failed handshake
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(vault.port, pki["other_ca"])
    with pytest.raises(urllib.error.URLError) as e:
        call("GET", vault.transit_url + "/keys/KEK-a", ca=pki["other_ca"])
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    time.sleep(0.1)
    assert vault.stats()["tls_handshake_failures"] >= 2
    assert vault.calls("keys_read") == 1
    # a certificate from the right CA for the wrong host name
    with VaultDouble(dir=pki["dir"], token=TOKEN, cert_name="wronghost") as w:
        with pytest.raises(ssl.SSLCertVerificationError) as e:
            _handshake(w.port, pki["ca"], "localhost")
        assert "match" in str(e.value) or "mismatch" in str(e.value)
    # a server whose certificate comes from the other CA
    with VaultDouble(dir=pki["dir"], token=TOKEN, cert_name="other_server") as o:
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(o.port, pki["ca"])
        assert _handshake(o.port, pki["other_ca"]).startswith("TLS")


def test_vault_client_cert_required(pki):
    with VaultDouble(dir=pki["dir"], token=TOKEN, client_ca=pki["ca"], keys=["KEK-a"]) as v:
        ctx = ssl.create_default_context(cafile=pki["ca"])
        with pytest.raises((ssl.SSLError, ConnectionResetError, urllib.error.URLError)):
            with socket.create_connection(("127.0.0.1", v.port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    t.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not t.recv(100):
                        raise ConnectionResetError("closed")
        ctx.load_cert_chain(pki["client"], pki["client_key"])
        req = urllib.request.Request(v.transit_url + "/keys/KEK-a",
                                     headers={"X-Vault-Token": TOKEN})
        with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
            assert r.status == 200


def test_vault_delay_failures_outages(vault):
    vault.set_delay(0.3, endpoint="decrypt")
    ct = vault.encrypt_local("KEK-a", b"d" * 32)
    t0 = time.monotonic()
    assert vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": ct}).status == 200
    assert time.monotonic() - t0 >= 0.3
    vault.set_delay(0, endpoint="decrypt")
    # over HTTP, global
    call("POST", vault.url + "/_double/delay", {"seconds": 0.2}, ca=vault.ca_file)
    t0 = time.monotonic()
    vcall(vault, "GET", "/keys/KEK-a")
    assert time.monotonic() - t0 >= 0.2
    vault.set_delay(0)
    # injected failures
    call("POST", vault.url + "/_double/fail", {"endpoint": "datakey", "status": 500,
                                              "count": 2}, ca=vault.ca_file)
    for _ in range(2):
        r = vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"")
        assert r.status == 500 and "errors" in r.json
    assert vcall(vault, "POST", "/datakey/plaintext/KEK-a", b"").status == 200
    vault.fail_next("decrypt", 0)           # connection closed, no answer
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": ct})
    assert vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": ct}).status == 200
    # sealed
    vault.outage("503")
    r = vcall(vault, "GET", "/keys/KEK-a")
    assert r.status == 503 and r.json == {"errors": ["Vault is sealed"]}
    assert call("GET", vault.url + "/v1/sys/health", ca=vault.ca_file).status == 503
    vault.recover()
    assert call("GET", vault.url + "/v1/sys/health", ca=vault.ca_file).status == 200
    # hang: the client times out
    vault.outage("hang", seconds=5)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call("GET", vault.transit_url + "/keys/KEK-a", headers={"X-Vault-Token": TOKEN},
             ca=vault.ca_file, timeout=0.5)
    vault.recover()
    # stop/start: refused, then back on the same port with the same keys
    port = vault.port
    vault.stop()
    assert refused(vault.transit_url + "/keys/KEK-a", vault.ca_file)
    vault.start()
    assert vault.port == port
    assert vcall(vault, "POST", "/decrypt/KEK-a", {"ciphertext": ct}).status == 200
    # refuse for a while, over HTTP
    assert call("POST", vault.url + "/_double/outage", {"mode": "refuse", "seconds": 0.6},
                ca=vault.ca_file).status == 204
    time.sleep(0.3)
    assert refused(vault.transit_url + "/keys/KEK-a", vault.ca_file)
    time.sleep(0.6)
    assert vcall(vault, "GET", "/keys/KEK-a").status == 200
    assert vault.stats()["outage_refusals"] >= 2


def test_vault_cli(tmp_path):
    d, pf = str(tmp_path / "v"), str(tmp_path / "port")
    tf, jf = str(tmp_path / "token"), str(tmp_path / "jwt")
    cmd = [sys.executable, os.path.join(HERE, "vault_double.py"), "--dir", d,
           "--port-file", pf, "--namespace", "ns1/ns2", "--token-file", tf,
           "--k8s-role", "krx", "--k8s-jwt-file", jf, "--key", "KEK-cli", "--delay", "0.01"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_file(pf, p)
        token, jwt = open(tf).read().strip(), open(jf).read().strip()
        ca = os.path.join(d, "ca.pem")
        base = "https://127.0.0.1:%d/v1/ns1/ns2" % port
        r = call("POST", base + "/transit/datakey/plaintext/KEK-cli", b"",
                 {"X-Vault-Token": token}, ca=ca)
        assert r.status == 200, r
        ct = r.json["data"]["ciphertext"]
        r = call("POST", base + "/auth/kubernetes/login", {"role": "krx", "jwt": jwt}, ca=ca)
        assert r.status == 200
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        assert refused(base + "/transit/keys/KEK-cli", ca)
        p.send_signal(signal.SIGUSR2)
        time.sleep(0.3)
        assert call("GET", base + "/transit/keys/KEK-cli", headers={"X-Vault-Token": token},
                    ca=ca).status == 200
        stop_proc(p)
        assert p.returncode == 0
        # a new process on the same dir: same token, same keys
        os.unlink(pf)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        port = wait_file(pf, p)
        base = "https://127.0.0.1:%d/v1/ns1/ns2" % port
        r = call("POST", base + "/transit/decrypt/KEK-cli", {"ciphertext": ct},
                 {"X-Vault-Token": token}, ca=ca)
        assert r.status == 200, r
        st = call("GET", "https://127.0.0.1:%d/_double/stats" % port, ca=ca).json
        assert st["calls"] == {"decrypt": 1}
    finally:
        stop_proc(p)


# -- Azure Key Vault ----------------------------------------------------------------

SECRET = "azure-test-secret"


@pytest.fixture
def azure(pki):
    a = AzureKeyVaultDouble(dir=pki["dir"], client_secret=SECRET,
                            keys=["KEK-r:RSA", "KEK-o:oct-HSM"]).start()
    yield a
    a.stop()


def oauth(a, **over):
    form = {"grant_type": "client_credentials", "client_id": a.client_id,
            "client_secret": SECRET, "scope": "https://vault.azure.net/.default"}
    form.update(over)
    form = {k: v for k, v in form.items() if v is not None}
    return call("POST", "%s/%s/oauth2/v2.0/token" % (a.authority, a.tenant), form=form,
                ca=a.ca_file)


def acall(a, method, sub, body=None, token=None, api="7.4", headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    url = a.url + sub
    if api is not None:
        url += ("&" if "?" in url else "?") + "api-version=" + api
    return call(method, url, body, h, ca=a.ca_file)


def test_azure_oauth_get_key_rsa_wrap(azure):
    r = oauth(azure)
    assert r.status == 200, r
    assert r.json["token_type"] == "Bearer" and r.json["expires_in"] == 3600
    assert r.json["ext_expires_in"] == 3600
    tok = r.json["access_token"]
    assert tok.count(".") == 2
    r = acall(azure, "GET", "/keys/KEK-r", token=tok)
    assert r.status == 200, r
    key, attrs = r.json["key"], r.json["attributes"]
    ver = key["kid"].rsplit("/", 1)[1]
    assert ver == azure.latest_version("KEK-r") and len(ver) == 32
    assert key["kid"] == "https://127.0.0.1:%d/keys/KEK-r/%s" % (azure.port, ver)
    assert key["kty"] == "RSA" and {"wrapKey", "unwrapKey"} <= set(key["key_ops"])
    assert attrs["enabled"] is True
    dek = os.urandom(32)
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": b64url(dek)}, token=tok)
    assert r.status == 200, r
    assert r.json["kid"] == key["kid"] and set(r.json) == {"kid", "value"}
    edek = unb64url(r.json["value"])
    assert len(edek) == 256
    r = acall(azure, "POST", "/keys/KEK-r/%s/unwrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": b64url(edek)}, token=tok)
    assert r.status == 200 and unb64url(r.json["value"]) == dek
    # the public key in the bundle really is the wrapping key (OAEP, SHA-256)
    n = int.from_bytes(unb64url(key["n"]), "big")
    e = int.from_bytes(unb64url(key["e"]), "big")
    pub = rsa.RSAPublicNumbers(e, n).public_key()
    mine = pub.encrypt(dek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                         algorithm=hashes.SHA256(), label=None))
    assert azure.unwrap_local("KEK-r", ver, b64url(mine)) == dek
    s = azure.stats()
    assert s["calls"] == {"oauth_token": 1, "key_get": 1, "wrapkey": 1, "unwrapkey": 1}
    log = azure.last_request("wrapkey")
    assert log["body"]["alg"] == "RSA-OAEP-256" and log["query"] == "api-version=7.4"


def test_azure_oct_a256gcm(azure, pki):
    tok = azure.issue_token()
    ver = azure.latest_version("KEK-o")
    r = acall(azure, "GET", "/keys/KEK-o/" + ver, token=tok)
    assert r.status == 200 and r.json["key"]["kty"] == "oct-HSM"
    assert "n" not in r.json["key"]                       # no key material for oct
    dek = os.urandom(32)
    r = acall(azure, "POST", "/keys/KEK-o/%s/wrapkey" % ver,
              {"alg": "A256GCM", "value": b64url(dek)}, token=tok)
    assert r.status == 200, r
    w = r.json
    assert set(w) == {"kid", "value", "iv", "tag"}
    assert len(unb64url(w["iv"])) == 12 and len(unb64url(w["tag"])) == 16
    assert len(unb64url(w["value"])) == 32
    r = acall(azure, "POST", "/keys/KEK-o/%s/unwrapkey" % ver,
              {"alg": "A256GCM", "value": w["value"], "iv": w["iv"], "tag": w["tag"]},
              token=tok)
    assert r.status == 200 and unb64url(r.json["value"]) == dek
    r = acall(azure, "POST", "/keys/KEK-o/%s/unwrapkey" % ver,
              {"alg": "A256GCM", "value": w["value"]}, token=tok)
    assert r.status == 400 and r.json["error"]["code"] == "BadParameter"
    r = acall(azure, "POST", "/keys/KEK-o/%s/wrapkey" % ver,
              {"alg": "A256GCM", "value": b64url(dek), "iv": b64url(b"\0" * 12)}, token=tok)
    assert r.status == 400
    r = acall(azure, "POST", "/keys/KEK-o/%s/wrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": b64url(dek)}, token=tok)
    assert r.status == 400
    # the "packed" reading: value = iv || ciphertext || tag, nothing else
    with AzureKeyVaultDouble(dir=pki["dir"], client_secret=SECRET, gcm_layout="packed",
                             keys=["KEK-p:oct"]) as p:
        t2, v2 = p.issue_token(), p.latest_version("KEK-p")
        r = acall(p, "POST", "/keys/KEK-p/%s/wrapkey" % v2,
                  {"alg": "A256GCM", "value": b64url(dek)}, token=t2)
        assert set(r.json) == {"kid", "value"} and len(unb64url(r.json["value"])) == 60
        r = acall(p, "POST", "/keys/KEK-p/%s/unwrapkey" % v2,
                  {"alg": "A256GCM", "value": r.json["value"]}, token=t2)
        assert r.status == 200 and unb64url(r.json["value"]) == dek


def test_azure_bearer_errors(azure):
    ver = azure.latest_version("KEK-r")
    path = "/keys/KEK-r/%s/wrapkey" % ver
    body = {"alg": "RSA-OAEP-256", "value": b64url(b"k" * 32)}
    r = acall(azure, "POST", path, body)
    assert r.status == 401 and r.json["error"]["code"] == "Unauthorized"
    assert "AKV10000" in r.json["error"]["message"]
    ch = r.headers["WWW-Authenticate"]
    assert ch.startswith("Bearer ") and 'resource="https://vault.azure.net"' in ch
    assert "authorization=\"%s/%s\"" % (azure.authority, azure.tenant) in ch
    assert acall(azure, "POST", path, body, headers={"Authorization": "Basic eDp5"}).status == 401
    assert acall(azure, "POST", path, body, token="not-a-token").status == 401
    wrong_aud = azure.issue_token(aud="https://management.azure.com")
    r = acall(azure, "POST", path, body, token=wrong_aud)
    assert r.status == 401 and "AKV10022" in r.json["error"]["message"]
    tok = azure.issue_token()
    assert acall(azure, "POST", path, body, token=tok).status == 200
    call("POST", azure.url + "/_double/expire-tokens", b"", ca=azure.ca_file)
    assert acall(azure, "POST", path, body, token=tok).status == 401
    assert azure.stats()["status"]["wrapkey"] == {"401": 5, "200": 1}


def test_azure_oauth_errors(azure):
    r = oauth(azure, client_secret="wrong")
    assert r.status == 401 and r.json["error"] == "invalid_client"
    assert r.json["error_codes"] == [7000215]
    assert r.json["error_description"].startswith("AADSTS7000215:")
    assert oauth(azure, client_id="someone").json["error"] == "unauthorized_client"
    r = oauth(azure, scope="https://vault.azure.net")
    assert r.status == 400 and r.json["error"] == "invalid_scope"
    assert oauth(azure, scope="https://storage.azure.com/.default").status == 400
    r = oauth(azure, grant_type="password")
    assert r.status == 400 and r.json["error"] == "unsupported_grant_type"
    r = oauth(azure, scope=None)
    assert r.status == 400 and r.json["error"] == "invalid_request"
    r = oauth(azure, extra="x")
    assert r.status == 400
    r = call("POST", "%s/%s/oauth2/v2.0/token" % (azure.url, "other-tenant"),
             form={"grant_type": "client_credentials"}, ca=azure.ca_file)
    assert r.status == 400 and r.json["error_codes"] == [90002]
    r = call("POST", "%s/%s/oauth2/v2.0/token" % (azure.url, azure.tenant),
             {"grant_type": "client_credentials", "client_id": azure.client_id,
              "client_secret": SECRET, "scope": azure.scope}, ca=azure.ca_file)   # JSON body
    assert r.status == 400
    assert call("GET", "%s/%s/oauth2/v2.0/token" % (azure.url, azure.tenant),
                ca=azure.ca_file).status == 405
    assert oauth(azure).status == 200
    assert azure.calls("oauth_token") == 11


def test_azure_api_version_paths_methods(azure):
    tok = azure.issue_token()
    ver = azure.latest_version("KEK-r")
    body = {"alg": "RSA-OAEP-256", "value": b64url(b"k" * 32)}
    r = acall(azure, "GET", "/keys/KEK-r", token=tok, api=None)
    assert r.status == 400 and r.json["error"]["code"] == "BadParameter"
    r = acall(azure, "GET", "/keys/KEK-r", token=tok, api="7.3")
    assert r.status == 400 and "7.3" in r.json["error"]["message"]
    r = acall(azure, "GET", "/keys/KEK-r?api-version=7.4", token=tok, api="7.4")  # twice
    assert r.status == 400
    r = acall(azure, "GET", "/keys/KEK-r/%s/wrapkey" % ver, token=tok)
    assert r.status == 405
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapKey" % ver, body, token=tok)
    assert r.status == 404                               # the documented path is lower case
    r = acall(azure, "POST", "/keys/KEK-r/%s/encrypt" % ver, body, token=tok)
    assert r.status == 404
    r = acall(azure, "GET", "/secrets/x", token=tok)
    assert r.status == 404
    r = acall(azure, "GET", "/keys/KEK-none", token=tok)
    assert r.status == 404 and r.json["error"]["code"] == "KeyNotFound"
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ("0" * 32), body, token=tok)
    assert r.status == 404 and r.json["error"]["code"] == "KeyNotFound"
    # sample requests in Microsoft's docs have "//keys": accepted
    r = acall(azure, "GET", "//keys/KEK-r/" + ver, token=tok)
    assert r.status == 200
    # JSON strictness
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver, dict(body, extra=1), token=tok)
    assert r.status == 400
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver, {"alg": "RSA-OAEP-256"}, token=tok)
    assert r.status == 400 and "value" in r.json["error"]["message"]
    padded = base64.urlsafe_b64encode(b"k" * 32).decode()
    assert padded.endswith("=")
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": padded}, token=tok)
    assert r.status == 400
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": base64.b64encode(b"\xfb" * 32).decode()},
              token=tok)
    assert r.status == 400
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % ver, {"alg": "A256GCM",
                                                             "value": body["value"]}, token=tok)
    assert r.status == 400
    r = acall(azure, "POST", "/keys/KEK-r/%s/unwrapkey" % ver,
              {"alg": "RSA-OAEP-256", "value": b64url(b"\1" * 256)}, token=tok)
    assert r.status == 400


def test_azure_key_state_rotation_admin(azure):
    tok = azure.issue_token()
    v1 = azure.latest_version("KEK-r")
    dek = os.urandom(32)
    w1 = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % v1,
               {"alg": "RSA-OAEP-256", "value": b64url(dek)}, token=tok).json
    r = acall(azure, "POST", "/keys/KEK-r/rotate", token=tok)
    assert r.status == 200
    v2 = r.json["key"]["kid"].rsplit("/", 1)[1]
    assert v2 != v1 and azure.versions("KEK-r") == [v1, v2]
    r = acall(azure, "GET", "/keys/KEK-r", token=tok)
    assert r.json["key"]["kid"].endswith("/" + v2)
    r = acall(azure, "POST", "/keys/KEK-r/%s/unwrapkey" % v1,
              {"alg": "RSA-OAEP-256", "value": w1["value"]}, token=tok)
    assert r.status == 200 and unb64url(r.json["value"]) == dek
    r = acall(azure, "POST", "/keys/KEK-r/%s/unwrapkey" % v2,
              {"alg": "RSA-OAEP-256", "value": w1["value"]}, token=tok)
    assert r.status == 400                                  # wrong version
    # disable the latest version
    r = acall(azure, "PATCH", "/keys/KEK-r/" + v2, {"attributes": {"enabled": False}}, token=tok)
    assert r.status == 200 and r.json["attributes"]["enabled"] is False
    r = acall(azure, "GET", "/keys/KEK-r", token=tok)
    assert r.status == 200 and r.json["attributes"]["enabled"] is False
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % v2,
              {"alg": "RSA-OAEP-256", "value": b64url(dek)}, token=tok)
    assert r.status == 403 and r.json["error"]["innererror"]["code"] == "KeyDisabled"
    # key_ops without wrapKey
    azure.set_key_ops("KEK-r", ["unwrapKey"], version=v1)
    r = acall(azure, "POST", "/keys/KEK-r/%s/wrapkey" % v1,
              {"alg": "RSA-OAEP-256", "value": b64url(dek)}, token=tok)
    assert r.status == 403
    # create through the API and through the control endpoint
    r = acall(azure, "POST", "/keys/KEK-new/create",
              {"kty": "RSA", "key_size": 2048, "key_ops": ["wrapKey", "unwrapKey"]}, token=tok)
    assert r.status == 200 and r.json["key"]["kty"] == "RSA"
    r = acall(azure, "POST", "/keys/KEK-bad/create", {"kty": "EC"}, token=tok)
    assert r.status == 400
    r = call("POST", azure.url + "/_double/keys", {"name": "KEK-c", "kty": "oct-HSM"},
             ca=azure.ca_file)
    assert r.status == 200 and r.json["kid"].endswith(r.json["version"])
    r = call("POST", azure.url + "/_double/keys/KEK-c/enabled", {"enabled": False},
             ca=azure.ca_file)
    assert r.status == 204
    assert call("GET", azure.url + "/_double/keys", ca=azure.ca_file).json["KEK-c"][
        "enabled"] == {azure.latest_version("KEK-c"): False}
    # delete
    r = acall(azure, "DELETE", "/keys/KEK-r", token=tok)
    assert r.status == 200 and "recoveryId" in r.json
    assert acall(azure, "GET", "/keys/KEK-r", token=tok).status == 404
    r = acall(azure, "POST", "/keys/KEK-r/%s/unwrapkey" % v1,
              {"alg": "RSA-OAEP-256", "value": w1["value"]}, token=tok)
    assert r.status == 404


def test_azure_managed_identity(pki, tmp_path):
    with AzureKeyVaultDouble(dir=pki["dir"], client_secret=SECRET, keys=["KEK-m"],
                             imds_port_file=str(tmp_path / "imds")) as a:
        assert a.imds_url.startswith("http://127.0.0.1:")
        assert int(open(str(tmp_path / "imds")).read()) == a.imds.port
        q = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + \
            urllib.parse.quote("https://vault.azure.net", safe="")
        r = call("GET", a.imds_url + q)
        assert r.status == 400
        assert r.json == {"error": "invalid_request",
                          "error_description": "Required metadata header not specified"}
        r = call("GET", a.imds_url + q, headers={"Metadata": "true", "X-Forwarded-For": "1.2.3.4"})
        assert r.status == 400
        r = call("GET", a.imds_url + "/metadata/identity/oauth2/token?resource=x",
                 headers={"Metadata": "true"})
        assert r.status == 400
        r = call("GET", a.imds_url + q, headers={"Metadata": "true"})
        assert r.status == 200, r
        m = r.json
        assert m["token_type"] == "Bearer" and m["resource"] == "https://vault.azure.net"
        assert isinstance(m["expires_in"], str) and int(m["expires_on"]) > time.time()
        r = acall(a, "GET", "/keys/KEK-m", token=m["access_token"])
        assert r.status == 200
        # the same path on the HTTPS port
        r = call("GET", a.url + q, headers={"Metadata": "true"}, ca=a.ca_file)
        assert r.status == 200
        # a token for another resource is refused by the vault
        q2 = q.replace("vault.azure.net", "management.azure.com")
        t2 = call("GET", a.imds_url + q2, headers={"Metadata": "true"}).json["access_token"]
        assert acall(a, "GET", "/keys/KEK-m", token=t2).status == 401
        # stop takes the IMDS listener down too; start brings both back on their ports
        ip = a.imds.port
        a.stop()
        assert refused(a.imds_url + q)
        a.start()
        assert a.imds.port == ip
        assert call("GET", a.imds_url + q, headers={"Metadata": "true"}).status == 200
        assert a.calls("msi_token") == 7


def test_azure_delay_failures_outages(azure):
    tok = azure.issue_token()
    azure.set_delay(0.25)
    t0 = time.monotonic()
    assert acall(azure, "GET", "/keys/KEK-r", token=tok).status == 200
    assert time.monotonic() - t0 >= 0.25
    azure.set_delay(0)
    azure.fail_next("key_get", 503)
    r = acall(azure, "GET", "/keys/KEK-r", token=tok)
    assert r.status == 503 and "error" in r.json and "code" in r.json["error"]
    assert acall(azure, "GET", "/keys/KEK-r", token=tok).status == 200
    azure.outage("503")
    r = acall(azure, "GET", "/keys/KEK-r", token=tok)
    assert r.status == 503 and r.json["error"]["code"] == "ServiceUnavailable"
    azure.recover()
    azure.outage("reset", seconds=5)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        acall(azure, "GET", "/keys/KEK-r", token=tok)
    azure.recover()
    assert acall(azure, "GET", "/keys/KEK-r", token=tok).status == 200
    azure.outage("refuse", seconds=0.5)
    assert refused(azure.url + "/keys/KEK-r?api-version=7.4", azure.ca_file)
    time.sleep(0.7)
    assert acall(azure, "GET", "/keys/KEK-r", token=tok).status == 200


def test_azure_cli(tmp_path):
    d, pf, ipf = str(tmp_path / "a"), str(tmp_path / "port"), str(tmp_path / "imds")
    sf = str(tmp_path / "secret")
    cmd = [sys.executable, os.path.join(HERE, "azure_double.py"), "--dir", d, "--port-file", pf,
           "--client-secret-file", sf, "--imds-port-file", ipf, "--key", "KEK-cli:RSA",
           "--key", "KEK-cli2:oct"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_file(pf, p)
        wait_file(ipf, p)
        ca = os.path.join(d, "ca.pem")
        url = "https://127.0.0.1:%d" % port
        secret = open(sf).read().strip()
        r = call("POST", url + "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token",
                 form={"grant_type": "client_credentials", "client_id": "krx-test-client",
                       "client_secret": secret, "scope": "https://vault.azure.net/.default"},
                 ca=ca)
        assert r.status == 200, r
        h = {"Authorization": "Bearer " + r.json["access_token"]}
        kid = call("GET", url + "/keys/KEK-cli?api-version=7.4", headers=h, ca=ca).json["key"]["kid"]
        ver = kid.rsplit("/", 1)[1]
        dek = os.urandom(32)
        r = call("POST", url + "/keys/KEK-cli/%s/wrapkey?api-version=7.4" % ver,
                 {"alg": "RSA-OAEP-256", "value": b64url(dek)}, h, ca=ca)
        assert r.status == 200
        edek = r.json["value"]
        stop_proc(p)
        assert p.returncode == 0
        os.unlink(pf)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        port = wait_file(pf, p)
        url = "https://127.0.0.1:%d" % port
        # keys and the issued token survive the restart (state file in --dir)
        r = call("POST", url + "/keys/KEK-cli/%s/unwrapkey?api-version=7.4" % ver,
                 {"alg": "RSA-OAEP-256", "value": edek}, h, ca=ca)
        assert r.status == 200 and unb64url(r.json["value"]) == dek
    finally:
        stop_proc(p)


# -- AWS KMS via moto ------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = MotoServer(tls_dir=str(tmp_path_factory.mktemp("moto-pki"))).start()
    yield m
    m.stop()


def test_moto_kms(moto):
    assert moto.endpoint.startswith("https://127.0.0.1:")
    key_id = moto.create_key_with_alias("KEK-trades")
    md = moto.describe_key("alias/KEK-trades")
    assert md["KeyId"] == key_id and md["Enabled"]
    # what krx sends: the JSON protocol, DescribeKey/GenerateDataKey/Decrypt
    st, d = moto.call("TrentService.DescribeKey", {"KeyId": "alias/KEK-trades"})
    assert st == 200 and d["KeyMetadata"]["KeyId"] == key_id
    st, g = moto.call("TrentService.GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256"})
    assert st == 200
    dek, blob = base64.b64decode(g["Plaintext"]), base64.b64decode(g["CiphertextBlob"])
    assert len(dek) == 32
    assert moto.decrypt(blob, key_id) == dek
    st, r = moto.raw_decrypt(blob, key_id)
    assert st == 200 and base64.b64decode(r["Plaintext"]) == dek
    other = moto.create_key()
    st, r = moto.raw_decrypt(blob, other)
    # AWS documents IncorrectKeyException; moto 5 answers AccessDeniedException
    assert st == 400 and r["__type"] in ("IncorrectKeyException", "AccessDeniedException")
    st, r = moto.call("TrentService.DescribeKey", {"KeyId": "alias/KEK-none"})
    assert st == 400 and r["__type"] == "NotFoundException"
    g2 = moto.generate_data_key(key_id)
    assert len(g2["Plaintext"]) == 32 and moto.decrypt(g2["CiphertextBlob"]) == g2["Plaintext"]


def test_moto_sts_web_identity(moto):
    c = moto.assume_role_with_web_identity("arn:aws:iam::123456789012:role/krx",
                                           "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    assert c["AccessKeyId"] and c["SecretAccessKey"] and c["SessionToken"]


def test_moto_cli(tmp_path):
    pf, af = str(tmp_path / "port"), str(tmp_path / "aliases")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "moto_kms.py"), "--port-file", pf,
                          "--alias", "KEK-x", "--aliases-file", af],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = wait_file(pf, p, timeout=60)
        alias, key_id = open(af).read().strip().split("=")
        assert alias == "KEK-x"
        m = MotoServer(port=port)
        assert m.describe_key("alias/KEK-x")["KeyId"] == key_id
    finally:
        stop_proc(p)
    assert p.returncode == 0
