"""krx-ctl's issue 13 commands and output.

- help: `krx-ctl --help`, `krx-ctl help`, `krx-ctl help CMD` and
  `krx-ctl CMD --help` print usage on stdout and exit 0 for every
  command; an unknown command exits 2.
- not running: no socket -> "krxd is not running (no socket at PATH)",
  a socket nobody listens on -> "krxd is not running", both exit 6, and
  with -j {"error": ...} on stdout.
- config-test FILE (no krxd needed): a good file exits 0; a bad one
  exits 1 with FILE:LINE: for each error (an unknown key, an unknown
  control_group); -j gives {valid, errors: [{file, line, message}]}.
- -j: every command that prints data prints one JSON document
  (json.loads), errors as {"error": ...} with the same exit code.
- dek rotate: records produced after it carry a new EDEK (and the ones
  produced before the rotate shared one); a rotate of another KEK drops
  nothing and the EDEK stays.
- cache flush: after it, fetching old records costs KMS decrypts again
  (keysvc.decrypt_edeks in cache stats), where a second fetch before it
  cost none; the records still decrypt.
"""

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from confluent_kafka import Producer

import enctest
import krxtest
import tools

COMMANDS = ["status", "stop", "reload", "reopen-logs", "config-test", "kek",
            "kms", "cache", "dek"]


def run(*args, timeout=30):
    return subprocess.run([krxtest.KRXCTL] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def jctl(krxd, *args, check=True):
    r = run("-j", "-s", krxd.control_socket, *args)
    if check:
        assert r.returncode == 0, f"{args}: {r.returncode} {r.stdout}" \
            f"{r.stderr}"
    return r, json.loads(r.stdout)


# -- no krxd needed ---------------------------------------------------------

def test_help():
    for argv in (["--help"], ["-h"], ["help"]):
        r = run(*argv)
        assert r.returncode == 0, (argv, r.stderr)
        assert r.stdout.startswith("usage: krx-ctl")
        for c in COMMANDS:
            assert f"\n  {c}" in r.stdout, (c, r.stdout)
    for c in COMMANDS:
        for argv in (["help", c], [c, "--help"], ["-s", "/nonexistent",
                                                  c, "x", "--help"]):
            r = run(*argv)
            assert r.returncode == 0, (argv, r.stderr)
            assert r.stdout.startswith(f"usage: krx-ctl [-j] [-s socket | "
                                       f"-c config] {c}"), (argv, r.stdout)
            assert "exit: 0 done" in r.stdout
    r = run("help", "nonsense")
    assert r.returncode == 2 and "no command nonsense" in r.stderr
    r = run("-s", "/nonexistent", "nonsense")
    assert r.returncode == 2 and "usage:" in r.stderr


def test_not_running(tmp_path):
    path = str(tmp_path / "none.sock")
    r = run("-s", path, "status")
    assert r.returncode == 6, r
    assert f"krxd is not running (no socket at {path})" in r.stderr
    r = run("-j", "-s", path, "status")
    assert r.returncode == 6
    assert "not running" in json.loads(r.stdout)["error"]
    # A socket file nobody listens on (krxd died without removing it).
    dead = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(dead)
    s.close()
    r = run("-s", dead, "reload")
    assert r.returncode == 6 and "krxd is not running" in r.stderr, r


def test_config_test(krxd_factory, tmp_path):
    k = krxd_factory.make(start=False)
    good = k.write_config()
    r = run("config-test", good)
    assert r.returncode == 0, r
    assert "is valid" in r.stdout
    r = run("-j", "config-test", good)
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["valid"] is True and doc["file"] == good

    bad = str(tmp_path / "bad.conf")
    lines = open(good).read().splitlines()
    lines.insert(2, "no_such_setting = 3;")
    lines.insert(4, 'control_group = "krx-no-such-group-13";')
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = run("config-test", bad)
    assert r.returncode == 1, r
    assert f"{bad}:3:" in r.stderr and "no_such_setting" in r.stderr, \
        r.stderr
    assert f"{bad}:5:" in r.stderr and "no such group" in r.stderr, r.stderr
    r = run("-j", "config-test", bad)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["valid"] is False and doc["error"]
    got = {(e["file"], e["line"]) for e in doc["errors"]}
    assert (bad, 3) in got and (bad, 5) in got, doc
    r = run("config-test", str(tmp_path / "missing.conf"))
    assert r.returncode == 1 and "missing.conf" in r.stderr


# -- with krxd --------------------------------------------------------------

def produce(krxd, topic, n, tag):
    p = Producer({"bootstrap.servers": krxd.bootstrap, "linger.ms": 5,
                  "log_level": 3})
    errors = []
    for i in range(n):
        p.produce(topic, key=f"{tag}{i}".encode(),
                  value=f"{tag}-value-{i}".encode(), partition=0,
                  on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(30) == 0 and not errors, errors[:3]


def broker_edeks(kafka, topic):
    recs = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    return [enctest.parse_wrapper(r[4])["edek"] for r in recs]


def counters(krxd):
    _, doc = jctl(krxd, "cache", "stats")
    return doc


def test_json_outputs(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=2)
    kek = f"KEK-{topic_name}"
    _, st = jctl(krxd, "status")
    assert st["pid"] == krxd.pid and st["generations"][0]["state"] == \
        "serving"
    kinds = [c["kind"] for c in st["generations"][0]["children"]]
    assert kinds.count("worker") == 2 and "keysvc" in kinds
    _, d = jctl(krxd, "kek", "create", kek)
    assert d["kek"] == kek
    _, d = jctl(krxd, "kek", "list")
    assert [x["version"] for x in d["keks"] if x["name"] == kek] == [1]
    _, d = jctl(krxd, "kms", "check", kek)
    assert d == {"kek": kek, "ok": True}
    r, d = jctl(krxd, "kms", "check", "KEK-none-" + topic_name, check=False)
    assert r.returncode == 3 and "not found" in d["error"], (r, d)
    d = counters(krxd)
    assert isinstance(d["keysvc.decrypt_edeks"], int)
    _, d = jctl(krxd, "dek", "rotate")
    assert d["workers"] == 2 and d["kek"] is None
    _, d = jctl(krxd, "cache", "flush")
    assert d["workers"] == 2 and d["keysvc"] is True
    _, d = jctl(krxd, "reopen-logs")
    assert "message" in d
    _, d = jctl(krxd, "reload")
    assert d["reloaded"] is True
    _, d = jctl(krxd, "status")
    assert d["generation"] == st["generation"] + 1
    with open(krxd.config_path, "a") as f:
        f.write("no_such_setting = 1;\n")
    r, d = jctl(krxd, "reload", check=False)
    assert r.returncode == 1 and "no_such_setting" in d["error"], d
    assert any("no_such_setting" in p for p in d["problems"])
    r, d = jctl(krxd, "stop")
    assert d == {"stopped": True}
    assert krxd.proc.wait(20) == 0
    krxd.stopped = True


def test_dek_rotate(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    produce(krxd, topic, 5, "a")
    produce(krxd, topic, 5, "b")
    e = broker_edeks(kafka, topic)
    assert len(e) == 10 and len(set(e)) == 1, "one DEK before the rotate"
    # Another KEK's DEKs: nothing dropped, the EDEK stays.
    r = krxd.ctl("dek", "rotate", "KEK-other-" + topic)
    assert "dropped 0 encryption DEKs" in r.stdout, r.stdout
    produce(krxd, topic, 5, "c")
    assert set(broker_edeks(kafka, topic)) == set(e[:1])
    r = krxd.ctl("dek", "rotate", f"KEK-{topic}")
    assert "dropped 1 encryption DEKs" in r.stdout, r.stdout
    produce(krxd, topic, 5, "d")
    e2 = broker_edeks(kafka, topic)
    assert len(e2) == 20 and e2[:15] == e[:1] * 15
    assert len(set(e2[15:])) == 1 and e2[15] != e[0], \
        "records after dek rotate reuse the old EDEK"
    # Same KEK version: a new DEK, not a new KEK.
    assert enctest.parse_edek(e2[15])["version"] == \
        enctest.parse_edek(e[0])["version"] == 1
    # All of them, no name.
    _, d = jctl(krxd, "dek", "rotate")
    assert d["deks_dropped"] == 1 and d["workers"] == 1
    produce(krxd, topic, 3, "e")
    e3 = broker_edeks(kafka, topic)
    assert e3[20] not in (e[0], e2[15])
    dec = enctest.Decryptor(krxd.keystore)
    via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
    assert len(via) == 23
    for r in via:
        assert r[4].startswith(r[3][:1] + b"-value-")
    assert dec.dek(e3[20])


def test_cache_flush(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=2)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    for tag in "abc":
        produce(krxd, topic, 4, tag)
        krxd.ctl("dek", "rotate")       # three EDEKs on the topic
    assert len(set(broker_edeks(kafka, topic))) == 3

    def fetch():
        via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
        assert [r[4] for r in via] == [f"{t}-value-{i}".encode()
                                       for t in "abc" for i in range(4)]

    fetch()
    fetch()
    before = counters(krxd)["keysvc.decrypt_edeks"]
    fetch()
    assert counters(krxd)["keysvc.decrypt_edeks"] == before, \
        "a fetch of cached DEKs went to the KMS"
    r = krxd.ctl("cache", "flush")
    assert "2 workers" in r.stdout, r.stdout
    fetch()
    after = counters(krxd)["keysvc.decrypt_edeks"]
    assert after >= before + 3, (before, after)


@pytest.mark.krxd(workers=2)
def test_dek_rotate_worker_silent(krxd):
    """A worker that does not answer (stopped): dek rotate fails naming
    it, after the master's timeout; krxd goes on and answers again once
    the worker runs."""
    ws = krxd.workers_status()
    victim = ws[1]
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = krxd.ctl("dek", "rotate", check=False, timeout=40)
        took = time.monotonic() - t0
    finally:
        os.kill(victim["pid"], signal.SIGCONT)
    assert r.returncode == 1, r
    assert (f"worker {victim['slot']} (pid {victim['pid']}) of generation"
            in r.stderr and "did not answer" in r.stderr), r.stderr
    assert 5 <= took < 30, took
    krxd.assert_running()
    r = krxd.ctl("dek", "rotate")
    assert "in 2 workers" in r.stdout, r.stdout
