"""Shared pieces of the key service tests (test_keysvc_*.py,
test_kms_check.py, test_no_key_material_in_logs.py): krxd configured for
record encryption with LocalKms, krx-ctl key commands, and an independent
reading of the formats the broker ends up storing, so a test can check
bytes without trusting krx's own code:

- record value, Kroxylicious wrapper v2: 0x00 | uvarint(E) | EDEK |
  0x00 | IV (12) | AES-256-GCM(DEK, IV, parcel) with its 16-byte tag;
  parcel: zigzag-varint(len) | value | 0x03 (headers absent);
- LocalKms EDEK (crypto/localkms.h): 0x01 | uvarint(n) | name |
  u32 BE version | IV (12) | AES-256-GCM(KEK, IV, DEK) 32 + 16, with
  AAD "krx-localkms-1" || every EDEK byte before the ciphertext;
- keystore file: "krx-keystore 1" then "kek NAME VERSION BASE64 CREATED".
"""

import base64
import os
import re
import stat
import subprocess

import enctest
import krxtest
import tools

HDR_KEY = "kroxylicious.io/encryption"


# -- krxd with record encryption ---------------------------------------

def encryption_conf(keystore, policy="PASSTHROUGH_UNENCRYPTED",
                    template="KEK-$(topicName)", experimental=None):
    """The record_encryption group (vc_extra) for LocalKms at keystore."""
    return enctest.enc_config(keystore, None, policy=policy,
                              template=template,
                              experimental=experimental)[1]


def cache_conf(path):
    """The top-level cache group for the LMDB DEK cache at path."""
    return f'cache = {{ path = "{path}"; }};\n'


def key_dirs(base):
    """(keystore file path, DEK cache dir) under base; the keystore's
    directory is made 0700 (keysvc writes the file there)."""
    keks = os.path.join(str(base), "keks")
    os.makedirs(keks, mode=0o700, exist_ok=True)
    os.chmod(keks, 0o700)
    return os.path.join(keks, "keystore"), os.path.join(str(base),
                                                        "dekcache")


def make_encrypting(krxd_factory, tmp_path, workers=2, extra="",
                    experimental=None, policy="PASSTHROUGH_UNENCRYPTED",
                    **opts):
    """Start a krxd whose virtual cluster encrypts with LocalKms; returns
    (krxd, keystore path, cache dir). krxd waits for the workers only, so
    this also waits for keysvc to be running."""
    keystore, cache = key_dirs(tmp_path)
    k = krxd_factory.make(
        workers=workers, extra=cache_conf(cache) + extra,
        vc_extra=encryption_conf(keystore, policy=policy,
                                 experimental=experimental), **opts)
    wait_keysvc(k)
    return k, keystore, cache


# -- status and krx-ctl --------------------------------------------------

def keysvc_status(krxd):
    ks = [c for c in krxd.status()["children"] if c["kind"] == "keysvc"]
    assert len(ks) == 1, f"status lists {len(ks)} keysvc lines"
    return ks[0]


def wait_keysvc(krxd, not_pid=None, timeout=30):
    """Until keysvc is running (with a pid other than not_pid); returns
    its status entry."""
    def up():
        ks = keysvc_status(krxd)
        if ks["state"] == "running" and ks["pid"] > 0 and \
                ks["pid"] != not_pid and krxtest.pid_alive(ks["pid"]):
            return ks
        return None
    return krxtest.wait_for(up, timeout, "keysvc running", interval=0.05)


def wait_workers_replaced(krxd, old_pids, timeout=30):
    """Until every worker runs with a pid not in old_pids; returns the
    new pids."""
    old = set(old_pids)

    def replaced():
        ws = krxd.workers_status()
        if len(ws) == krxd.workers and all(
                w["state"] == "running" and w["pid"] not in old and
                krxtest.pid_alive(w["pid"]) for w in ws):
            return [w["pid"] for w in ws]
        return None
    return krxtest.wait_for(replaced, timeout, "workers respawned",
                            interval=0.05)


def kill_workers(krxd, sig=9):
    """kill -SIG every worker (their deaths are expected); wait for the
    master to replace them. Returns the new pids."""
    old = krxd.worker_pids()
    for pid in old:
        krxd.expected_deaths.add(pid)
        os.kill(pid, sig)
    new = wait_workers_replaced(krxd, old)
    krxd.wait_ready()
    return new


def ctl(krxd, *args):
    """krx-ctl without the exit-status check."""
    return krxd.ctl(*args, check=False)


def kek_create(krxd, name):
    r = ctl(krxd, "kek", "create", name)
    assert r.returncode == 0, f"kek create {name}: {r.returncode} " \
        f"{r.stdout}{r.stderr}"
    return r


def kek_list(krxd):
    """kek list -> {name: (version, created)}."""
    r = ctl(krxd, "kek", "list")
    assert r.returncode == 0, f"kek list: {r.returncode} {r.stderr}"
    out = {}
    for ln in r.stdout.splitlines():
        m = re.fullmatch(r"(\S+) version (\d+) created (\d+)", ln)
        assert m, f"unexpected kek list line {ln!r}"
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def cache_stats(krxd):
    """cache stats -> {'keysvc.decrypt_edeks': N, 'workers.X': N, ...}."""
    r = ctl(krxd, "cache", "stats")
    assert r.returncode == 0, f"cache stats: {r.returncode} {r.stderr}"
    out = {}
    for ln in r.stdout.splitlines():
        m = re.fullmatch(r"((?:keysvc|workers)\.\w+) (\d+)", ln)
        assert m, f"unexpected cache stats line {ln!r}"
        out[m.group(1)] = int(m.group(2))
    for k in ("keysvc.decrypt_edeks", "keysvc.generate_requests",
              "keysvc.resolve_requests", "keysvc.cache_writes",
              "workers.keysvc_requests", "workers.dek_lmdb_hits",
              "workers.dek_memory_hits", "workers.records_encrypted",
              "workers.records_decrypted"):
        assert k in out, f"cache stats has no {k}:\n{r.stdout}"
    return out


# -- clients ---------------------------------------------------------------

def produce(bootstrap, topic, values, partition=0, timeout=60, **conf):
    """Produce values (bytes) to topic through bootstrap; every one must
    be delivered."""
    from confluent_kafka import Producer
    c = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
         "log_level": 3}
    c.update(conf)
    p = Producer(c)
    errors = []

    def dr(err, msg):
        if err is not None:
            errors.append(err)
    for v in values:
        p.produce(topic, value=v, key=b"k", partition=partition,
                  on_delivery=dr)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0 and not errors, \
        f"produce to {topic}: {left} undelivered, errors {errors[:3]}"


def records(bootstrap, topic, partitions=(0,), timeout=60):
    """Every record of the partitions, in order, as tools.record_tuple."""
    recs = tools.read_partitions(bootstrap, topic, list(partitions),
                                 timeout=timeout)
    return [r for p in partitions for r in recs[p]]


# -- formats ---------------------------------------------------------------

# The varint readers are enctest's (one implementation for the tests).
uvarint = enctest.uvarint
zigzag = enctest.zigzag


def parse_wrapper(value):
    """A wrapper v2 record value -> (edek, iv, sealed parcel with tag)."""
    w = enctest.parse_wrapper(value)
    return w["edek"], w["iv"], w["ct"]


def parse_edek(edek):
    """A LocalKms EDEK -> (KEK name, version, IV, DEK ciphertext + tag,
    the AES-GCM AAD)."""
    e = enctest.parse_edek(edek)
    return e["name"], e["version"], e["iv"], e["ct"], e["aad"]


def unwrap_dek(kek, edek):
    """The 32-byte DEK inside a LocalKms EDEK, with KEK bytes kek."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    _, _, iv, ct, aad = parse_edek(edek)
    return AESGCM(kek).decrypt(iv, ct, aad)


def open_value(dek, value):
    """The plaintext record value inside wrapper v2 value, with DEK."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    _, iv, ct = parse_wrapper(value)
    parcel = AESGCM(dek).decrypt(iv, ct, None)
    n, off = zigzag(parcel, 0)
    assert n >= 0, f"parcel value length {n}"
    v = parcel[off:off + n]
    hc, end = zigzag(parcel, off + n)
    assert hc == -2 and end == len(parcel), \
        f"parcel trailer {parcel[off + n:]!r}, want 0x03 (headers absent)"
    return v


def read_keystore(path):
    """A keystore file -> {name: {version: 32 key bytes}} (needs read
    permission: root or keysvc's user)."""
    with open(path, "rb") as f:
        text = f.read().decode("ascii")
    lines = text.split("\n")
    assert lines[0] == "krx-keystore 1" and lines[-1] == "", \
        f"keystore {path} has a bad head or end"
    out = {}
    for ln in lines[1:-1]:
        m = re.fullmatch(r"kek ([A-Za-z0-9._-]+) (\d+) (\S{44}) (\d+)", ln)
        assert m, f"bad keystore line (key hidden): {ln[:30]!r}"
        key = base64.b64decode(m.group(3), validate=True)
        assert len(key) == 32
        out.setdefault(m.group(1), {})[int(m.group(2))] = key
    return out


def check_encrypted(recs, kek_name, plain_values=None):
    """Records read straight from the broker are all encrypted under KEK
    kek_name: the marker header comes first, the value is a wrapper
    whose EDEK names the KEK, and no plaintext value appears. Returns
    the list of (EDEK, KEK version) per record."""
    out = []
    plain = set(plain_values or ())
    for r in recs:
        value, hdrs = r[4], r[5]
        assert hdrs and hdrs[0] == (HDR_KEY, b"\x02"), \
            f"offset {r[2]}: headers {hdrs!r}, want {HDR_KEY}=0x02 first"
        assert value is not None and value not in plain
        for p in plain:
            assert p not in value, f"offset {r[2]} holds plaintext"
        edek, _, _ = parse_wrapper(value)
        name, version, _, _, _ = parse_edek(edek)
        assert name == kek_name, f"offset {r[2]}: EDEK of KEK {name}"
        out.append((edek, version))
    return out


def file_mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def run_as(user, argv, **kw):
    """Run argv as user (its own group only), capturing text output."""
    import pwd
    pw = pwd.getpwnam(user)
    return subprocess.run(argv, user=pw.pw_uid, group=pw.pw_gid,
                          extra_groups=[], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=30, **kw)
