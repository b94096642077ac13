"""No key material and no record payload in krxd's log, krx-ctl's output
or the DEK cache file.

krxd runs at log level debug with LocalKms. A KEK is created, records are
produced, the KEK is rotated and (once the worker's DEK has expired) more
records are produced; kms check, kek list, cache stats run; the records
are consumed through krxd from a worker's memory, from the LMDB cache
after the workers are killed, and from keysvc after keysvc and the
workers are killed: every key path has run and logged.

The test then reads the keystore (as root), takes every KEK version, and
unwraps the DEK of every distinct EDEK found in the records at the broker
with its own AES-GCM (the cryptography package), proving the bytes are
right by opening each record value with its DEK and getting the plaintext
back. None of the KEKs and DEKs, raw or as lower/upper hex or base64
(padded, unpadded, URL-safe), whole or either half, nor any plaintext
value, appears in the log (read as bytes) or in krx-ctl's output; no raw
DEK is in the cache's data.mdb. A self-check shows the search finds a DEK
planted in a copy of the log.
"""

import base64
import os
import signal
import time
import uuid

import keytest


def forms(secret):
    """The byte strings under which secret could leak."""
    out = set()
    parts = [secret, secret[:len(secret) // 2], secret[len(secret) // 2:]]
    for s in parts:
        out.add(s)
        out.add(s.hex().encode())
        out.add(s.hex().upper().encode())
    b = base64.b64encode(secret)
    out.add(b)
    out.add(b.rstrip(b"="))
    out.add(base64.urlsafe_b64encode(secret).rstrip(b"="))
    return out


def read(path):
    with open(path, "rb") as f:
        return f.read()


def leaks(haystack, secrets):
    """[(name, form)] of the secrets found in haystack."""
    found = []
    for name, sec in secrets.items():
        for f in forms(sec):
            if f in haystack:
                found.append((name, f))
    return found


def test_no_key_material_in_logs(kafka, krxd_factory, tmp_path,
                                 topic_name):
    topic = topic_name
    kek = f"KEK-{topic}"
    krxd, keystore, cache = keytest.make_encrypting(
        krxd_factory, tmp_path, workers=2, log_level="debug", experimental={
            "encryptionDekRefreshAfterWriteSeconds": 1,
            "encryptionDekExpireAfterWriteSeconds": 2})
    ctl_out = []

    def ctl(*args):
        r = keytest.ctl(krxd, *args)
        ctl_out.append((r.stdout + r.stderr).encode())
        return r

    assert ctl("kek", "create", kek).returncode == 0
    tag = uuid.uuid4().hex
    first = [f"payload-{tag}-a{i:03d}".encode() for i in range(30)]
    second = [f"payload-{tag}-b{i:03d}".encode() for i in range(30)]
    keytest.produce(krxd.bootstrap, topic, first)
    assert ctl("kek", "rotate", kek).returncode == 0
    time.sleep(2.5)
    keytest.produce(krxd.bootstrap, topic, second)
    values = first + second
    assert ctl("kms", "check", kek).stdout == "Ok\n"
    assert ctl("kms", "check", "KEK-none").returncode == 3
    ctl("kek", "list")
    ctl("cache", "stats")

    # Decrypt from a worker's memory, from LMDB, then through keysvc.
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic)] == values
    keytest.kill_workers(krxd)
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic)] == values
    mdbs = [read(os.path.join(cache, "data.mdb"))]   # generated DEKs
    ks = keytest.keysvc_status(krxd)["pid"]
    krxd.expected_deaths.add(ks)
    os.kill(ks, signal.SIGKILL)
    keytest.wait_keysvc(krxd, not_pid=ks)
    keytest.kill_workers(krxd)
    assert [r[4] for r in keytest.records(krxd.bootstrap, topic)] == values
    stats = keytest.cache_stats(krxd)
    assert stats["keysvc.decrypt_edeks"] >= 2, stats
    ctl("cache", "stats")
    ctl("status")

    # The secrets, recovered independently of krx.
    keks = keytest.read_keystore(keystore)
    assert sorted(keks[kek]) == [1, 2]
    secrets = {f"KEK {kek} v{v}": k for v, k in keks[kek].items()}
    raw = keytest.records(kafka.bootstrap, topic)
    edeks = keytest.check_encrypted(raw, kek, values)
    assert {v for _, v in edeks} == {1, 2}
    deks = {}
    for (edek, version), rec, plain in zip(edeks, raw, values):
        if edek not in deks:
            deks[edek] = keytest.unwrap_dek(keks[kek][version], edek)
        assert keytest.open_value(deks[edek], rec[4]) == plain
    assert len(deks) >= 2
    for i, d in enumerate(deks.values()):
        secrets[f"DEK {i}"] = d
    assert len(set(secrets.values())) == len(secrets)

    krxd.stop()
    log = read(krxd.log_path)
    # The log has the lines of the paths this test drove.
    for line in (b"create done", b"lost the key service channel",
                 b"killed by signal 9", b"connected to the key service"):
        assert line in log, f"no {line!r} in the log"

    # The search works: a DEK planted in a copy of the log is found, in
    # each form.
    d0 = secrets["DEK 0"]
    for f in forms(d0):
        assert leaks(log + b"\n" + f + b"\n", {"DEK 0": d0})

    found = leaks(log, secrets)
    assert not found, f"key material in krxd's log: {found[:3]}"
    for v in values:
        assert v not in log, f"record payload {v!r} in krxd's log"
    found = leaks(b"\n".join(ctl_out), secrets)
    assert not found, f"key material in krx-ctl output: {found[:3]}"
    mdbs.append(read(os.path.join(cache, "data.mdb")))  # decrypted DEKs
    for mdb in mdbs:
        assert len(mdb) > 0
        for name, sec in secrets.items():
            assert sec not in mdb, f"{name} in clear in the DEK cache"
