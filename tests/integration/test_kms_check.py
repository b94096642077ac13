"""krx-ctl kek and kms commands against LocalKms, and KEK rotation.

kek create makes version 1 (kek list shows the name, version and a
creation time near now); kms check KEK does a generate + decrypt round
trip in keysvc and prints "Ok" with exit 0; kms check on a KEK that does
not exist exits 3 with a message naming it and "KEK not found"; kek create
of an existing name and kek rotate of a missing one fail. kek rotate adds
a version: records produced before the rotation carry EDEKs of version 1,
records produced after it (once the worker's DEK has expired) version 2,
and after keysvc and the workers are restarted (fresh DEK cache, no DEK in
any worker) every record still decrypts through krxd, keysvc unwrapping
EDEKs of both versions. kek delete removes the KEK: kms check exits 3
again and kek list no longer shows it.
"""

import os
import signal
import time

import keytest


def test_kek_commands_and_kms_check(krxd_factory, tmp_path):
    krxd, keystore, _ = keytest.make_encrypting(krxd_factory, tmp_path,
                                                workers=1)
    assert keytest.kek_list(krxd) == {}
    t0 = int(time.time())
    r = keytest.kek_create(krxd, "KEK-x")
    assert "KEK-x" in r.stdout
    lst = keytest.kek_list(krxd)
    assert set(lst) == {"KEK-x"} and lst["KEK-x"][0] == 1
    assert abs(lst["KEK-x"][1] - t0) <= 5, lst

    r = keytest.ctl(krxd, "kms", "check", "KEK-x")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), \
        f"kms check KEK-x: {r.returncode} {r.stdout!r} {r.stderr!r}"

    r = keytest.ctl(krxd, "kms", "check", "nope")
    assert r.returncode == 3, f"kms check nope: {r.returncode} {r.stdout}"
    assert "KEK not found" in r.stderr and "nope" in r.stderr, r.stderr
    assert r.stdout == ""

    r = keytest.ctl(krxd, "kek", "create", "KEK-x")
    assert r.returncode != 0 and "KEK-x" in r.stderr, r
    r = keytest.ctl(krxd, "kek", "rotate", "nope")
    assert r.returncode != 0 and "nope" in r.stderr, r
    assert keytest.kek_list(krxd)["KEK-x"][0] == 1

    for want in (2, 3):
        r = keytest.ctl(krxd, "kek", "rotate", "KEK-x")
        assert r.returncode == 0, r.stderr
        assert keytest.kek_list(krxd)["KEK-x"][0] == want
    keys = keytest.read_keystore(keystore)
    assert sorted(keys["KEK-x"]) == [1, 2, 3]
    assert len(set(keys["KEK-x"].values())) == 3, "rotate reused a key"
    r = keytest.ctl(krxd, "kms", "check", "KEK-x")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr

    r = keytest.ctl(krxd, "kek", "delete", "KEK-x")
    assert r.returncode == 0, r.stderr
    assert "KEK-x" not in keytest.kek_list(krxd)
    assert "KEK-x" not in keytest.read_keystore(keystore)
    r = keytest.ctl(krxd, "kms", "check", "KEK-x")
    assert r.returncode == 3 and "KEK not found" in r.stderr, \
        f"kms check after delete: {r.returncode} {r.stderr!r}"
    krxd.assert_running()


def test_rotation_round_trip(kafka, krxd_factory, tmp_path, topic_name):
    topic = topic_name
    # DEKs expire after 2 s, so the DEK made after the rotation is new.
    krxd, keystore, _ = keytest.make_encrypting(
        krxd_factory, tmp_path, workers=2, experimental={
            "encryptionDekRefreshAfterWriteSeconds": 1,
            "encryptionDekExpireAfterWriteSeconds": 2})
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    before = [b"before-%03d" % i for i in range(20)]
    after = [b"after-%03d" % i for i in range(20)]

    keytest.produce(krxd.bootstrap, topic, before)
    r = keytest.ctl(krxd, "kek", "rotate", kek)
    assert r.returncode == 0, r.stderr
    assert keytest.kek_list(krxd)[kek][0] == 2
    time.sleep(2.5)
    keytest.produce(krxd.bootstrap, topic, after)

    raw = keytest.records(kafka.bootstrap, topic)
    assert len(raw) == 40
    edeks = keytest.check_encrypted(raw, kek, before + after)
    versions = [v for _, v in edeks]
    assert versions == [1] * 20 + [2] * 20, versions

    # The EDEKs really are wrapped by the versions they name.
    keys = keytest.read_keystore(keystore)[kek]
    for (edek, v), rec, plain in zip(edeks, raw, before + after):
        dek = keytest.unwrap_dek(keys[v], edek)
        assert keytest.open_value(dek, rec[4]) == plain

    # Fresh keysvc (new, empty DEK cache) and fresh workers: decryption
    # needs keysvc to unwrap EDEKs of both KEK versions.
    old = keytest.keysvc_status(krxd)["pid"]
    krxd.expected_deaths.add(old)
    os.kill(old, signal.SIGKILL)
    keytest.wait_keysvc(krxd, not_pid=old)
    keytest.kill_workers(krxd)
    s0 = keytest.cache_stats(krxd)
    assert s0["keysvc.decrypt_edeks"] == 0

    got = keytest.records(krxd.bootstrap, topic)
    assert [r[4] for r in got] == before + after
    assert all(r[5] is None or keytest.HDR_KEY not in dict(r[5])
               for r in got)
    s1 = keytest.cache_stats(krxd)
    distinct = len({e for e, _ in edeks})
    assert distinct >= 2
    assert s1["keysvc.decrypt_edeks"] >= 2, s1
    assert s1["keysvc.decrypt_edeks"] <= distinct, s1
