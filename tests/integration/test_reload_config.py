"""Reload (issue 11): what a reload does with the file.

- A broken file (an unknown setting, a value out of range) keeps the
  running generation: krx-ctl reload exits 1 and prints each problem as
  FILE:LINE:, the log has them too (also for SIGHUP), status keeps the
  generation and its worker pids, and krxd still serves.
- A setting a reload cannot change (control_socket) is refused the same
  way, naming it.
- The KMS settings (another LocalKms keystore) take effect: the new
  generation gets a key service of its own that uses them, the old one
  stops with the old generation; a reload without a KMS change keeps the
  key service.
- Changes that take effect, each checked by behaviour: the upstream (a
  refusing address: new clients get no answer; back: they do), the
  unresolved-key policy (PASSTHROUGH_UNENCRYPTED to REJECT: a topic
  without a KEK gets INVALID_RECORD), the log level (info to debug: a
  connection is logged at debug) with the number of workers (1 to 2),
  a listener port (new node ports
  accept and serve, the old ones refuse once the old generation is
  gone, the bootstrap port was never closed).
"""

import os
import re
import signal
import socket
import subprocess

from confluent_kafka import KafkaError

import enctest
import keytest
import krxtest
import reloadtest
import tools


def api_versions_ok(host, port):
    try:
        conn = enctest.KafkaConn(host, port, timeout=10)
    except OSError:
        return False
    try:
        err, _ = conn.api_versions()
        return err == 0
    except (OSError, ConnectionError, AssertionError):
        return False
    finally:
        conn.close()


def line_of(path, needle):
    with open(path) as f:
        for i, ln in enumerate(f, 1):
            if needle in ln:
                return i
    raise AssertionError(f"{needle!r} not in {path}")


def test_reload_broken_file(kafka, krxd_factory, topic_name):
    krxd = krxd_factory.make(workers=2, log_level="info")
    pids = sorted(krxd.worker_pids())
    good = krxd.extra
    krxd.extra = good + "no_such_setting = 1;\n"
    krxd.max_frame_bytes = 12
    krxd.write_config()
    bad1 = line_of(krxd.config_path, "no_such_setting")
    bad2 = line_of(krxd.config_path, "max_frame_bytes")

    r = reloadtest.ctl_reload(krxd)
    assert r.returncode == 1, f"{r.returncode}: {r.stdout}{r.stderr}"
    out = r.stderr
    assert f"{krxd.config_path}:{bad1}: " in out and "no_such_setting" in \
        out, out
    assert f"{krxd.config_path}:{bad2}: " in out and "max_frame_bytes" in \
        out, out
    assert "generation 1 keeps serving" in out, out
    st = krxd.status()
    assert st["generation"] == 1 and len(st["generations"]) == 1
    assert sorted(krxd.worker_pids()) == pids
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)

    start = krxd.log_size()
    os.kill(krxd.pid, signal.SIGHUP)
    krxd.wait_log(re.escape(f"{krxd.config_path}:{bad1}: "), start=start)
    krxd.wait_log("generation 1 keeps serving", start=start)
    assert krxd.status()["generation"] == 1
    assert sorted(krxd.worker_pids()) == pids

    # Fixed: the next reload works.
    krxd.extra = good
    krxd.max_frame_bytes = None
    krxd.write_config()
    assert reloadtest.reload_ok(krxd) == 2
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)


def test_reload_refuses_fixed_settings(kafka, krxd_factory, tmp_path):
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    text = krxd.config_text()
    sock_line = line_of(krxd.config_path, "control_socket")
    with open(krxd.config_path, "w") as f:
        f.write(text.replace(f'control_socket = "{krxd.control_socket}"',
                             f'control_socket = "{krxd.control_socket}2"'))
    r = reloadtest.ctl_reload(krxd)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{krxd.config_path}:{sock_line}: control_socket cannot " \
        f"change by reload" in r.stderr and "restart krxd" in r.stderr, \
        r.stderr
    assert krxd.status()["generation"] == 1


def keysvc_pids(krxd):
    return {c["generation"]: c["pid"] for c in krxd.status()["children"]
            if c["kind"] == "keysvc"}


def test_reload_kms_settings(kafka, krxd_factory, topic_name, tmp_path):
    """Another keystore: the new generation gets a key service of its
    own, which uses it; the old key service stops with the old
    generation. Without a KMS change the key service stays."""
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    old_ks = keysvc_pids(krxd)[1]
    assert reloadtest.reload_ok(krxd) == 2
    assert keysvc_pids(krxd) == {2: old_ks}, "keysvc restarted for nothing"

    other = os.path.join(str(tmp_path), "other-keks")
    krxd.vc_extra = krxd.vc_extra.replace(f'keystore = "{krxd.keystore}"',
                                          f'keystore = "{other}"')
    assert other in krxd.vc_extra
    krxd.write_config()
    assert reloadtest.reload_ok(krxd) == 3
    ks = keysvc_pids(krxd)
    assert list(ks) == [3] and ks[3] != old_ks, ks
    krxtest.wait_for(lambda: not krxtest.pid_alive(old_ks), 30,
                     "the old key service gone")
    # The new key service has the other keystore: the KEK is not there
    # until created in it, and records are then wrapped with its key.
    out = krxd.ctl("kek", "list", check=False)
    assert f"KEK-{topic}" not in out.stdout + out.stderr, out
    enctest.kek(krxd, "create", f"KEK-{topic}")
    assert os.path.exists(other)
    assert reloadtest.produce(krxd.bootstrap, topic, [b"v1", b"v2"]) == []
    dec = enctest.Decryptor(other)
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    assert [dec.check(r, None, v, None)["version"]
            for r, v in zip(direct, [b"v1", b"v2"])] == [1, 1]
    assert re.search(r"retired keysvc \d+, pid %d, ended" % old_ks,
                     krxd.log_text())


def test_reload_upstream(kafka, krxd_factory):
    krxd = krxd_factory.make(workers=1, log_level="info")
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)
    dead = krxtest.free_port_range(1)
    krxd.upstream = f"127.0.0.1:{dead}"      # nothing listens there
    krxd.write_config()
    reloadtest.reload_ok(krxd, how="hup")
    assert not api_versions_ok(krxd.host, krxd.bootstrap_port)
    krxd.upstream = kafka.bootstrap
    krxd.write_config()
    reloadtest.reload_ok(krxd)
    # Another upstream: the new generation learned no broker yet; a
    # client that goes straight to a node port is served all the same.
    assert api_versions_ok(krxd.host, krxd.node_port(1))
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)


def test_reload_policy(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1,
                            policy="PASSTHROUGH_UNENCRYPTED")
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    enctest.kek(krxd, "create", "KEK-not-this-topic")   # the keystore
    assert reloadtest.produce(krxd.bootstrap, topic_name, [b"a", b"b"]) \
        == []
    krxd.vc_extra = krxd.vc_extra.replace(
        'unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED"',
        'unresolvedKeyPolicy = "REJECT"')
    assert "REJECT" in krxd.vc_extra
    krxd.write_config()
    reloadtest.reload_ok(krxd)
    errs = reloadtest.produce(krxd.bootstrap, topic_name, [b"c"],
                              idempotent=False)
    assert [e.code() for e in errs] == [KafkaError.INVALID_RECORD], errs
    assert tools.watermarks(kafka.bootstrap, topic_name, [0])[0][1] == 2


def test_reload_log_level(kafka, krxd_factory):
    krxd = krxd_factory.make(workers=1, log_level="info")
    start = krxd.log_size()
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)
    assert "accepted on port" not in krxd.log_text()[start:]
    krxd.log_level = "debug"
    krxd.workers = 2
    krxd.write_config()
    reloadtest.reload_ok(krxd)
    ws = krxd.workers_status()
    assert sorted((w["slot"], w["generation"]) for w in ws) == \
        [(0, 2), (1, 2)], ws
    start = krxd.log_size()
    assert api_versions_ok(krxd.host, krxd.bootstrap_port)
    krxd.wait_log(rf"accepted on port {krxd.bootstrap_port}\b", start=start)


def refused(host, port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect((host, port))
        return False
    except ConnectionRefusedError:
        return True
    finally:
        s.close()


def test_reload_listener_port(kafka, krxd_factory, topic_name):
    krxd = krxd_factory.make(workers=2, log_level="info", max_node_id=1)
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    old_ports = [krxd.node_port(i) for i in (0, 1)]
    krxd.node_start_port = krxtest.free_port_range(2)
    krxd.write_config()
    reloadtest.reload_ok(krxd)
    for p in old_ports:
        assert refused(krxd.host, p), f"old node port {p} still open"
    assert api_versions_ok(krxd.host, krxd.node_port(1))   # the broker
    assert not refused(krxd.host, krxd.node_port(0))
    # A client through the new ports: metadata names them, and records
    # go through.
    assert reloadtest.produce(krxd.bootstrap, topic_name,
                              [b"x%d" % i for i in range(5)]) == []
    recs = enctest.read_topics(krxd.bootstrap, [topic_name])[topic_name][0]
    assert [r[4] for r in recs] == [b"x%d" % i for i in range(5)]


def test_reload_aborted_when_keysvc_dies(kafka, krxd_factory, topic_name,
                                         tmp_path):
    """A new generation that never becomes ready is aborted: here its new
    key service cannot start (a Vault token file that does not exist,
    which only keysvc reads, so `krxd -t` cannot see it). krx-ctl reload
    fails with the reason, the running generation keeps its workers and
    serves encrypted records, and the next good reload goes through."""
    krxd = enctest.enc_krxd(krxd_factory, workers=2)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    pids = sorted(krxd.worker_pids())
    good = krxd.vc_extra
    missing = os.path.join(str(tmp_path), "no-such-token")
    krxd.vc_extra = good.replace(
        '      kms = "LocalKms";\n',
        '      kms = "VaultKmsService";\n').replace(
        f'kmsConfig = {{ keystore = "{krxd.keystore}"; }};',
        'kmsConfig = { vaultTransitEngineUrl = '
        '"http://127.0.0.1:1/v1/transit"; vaultToken = { passwordFile = '
        f'"{missing}"; }}; }};')
    assert "VaultKmsService" in krxd.vc_extra and missing in krxd.vc_extra
    krxd.write_config()
    t = subprocess.run([krxtest.KRXD, "-t", "-c", krxd.config_path],
                       capture_output=True, text=True, timeout=30)
    assert t.returncode == 0, t.stdout + t.stderr
    r = reloadtest.ctl_reload(krxd)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"generation 2 failed: a worker or its key service "
                     r"exited with status \d+ before it was ready; "
                     r"generation 1 keeps serving", r.stderr), r.stderr
    assert f"token file {missing}" in krxd.log_text()
    krxd.expected_deaths.update(int(p) for p in re.findall(
        r"keysvc \d+ \(pid (\d+)\) exited with status 78",
        krxd.log_text()))
    reloadtest.wait_serving(krxd, 1)
    assert sorted(krxd.worker_pids()) == pids
    assert reloadtest.produce(krxd.bootstrap, topic, [b"after"]) == []
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    dec = enctest.Decryptor(krxd.keystore)
    assert dec.check(direct[-1], None, b"after", None)["version"] == 1

    krxd.vc_extra = good
    krxd.write_config()
    assert reloadtest.reload_ok(krxd) == 3


def test_keysvc_respawn_keeps_running_config(kafka, krxd_factory,
                                             topic_name):
    """A key service respawned after a crash parses its generation's
    configuration as the master read it, not the file, which here holds
    an edit a reload refused: it comes back and records are encrypted."""
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    krxd.extra += "no_such_setting = 1;\n"
    krxd.write_config()
    assert reloadtest.ctl_reload(krxd).returncode == 1
    old = keytest.wait_keysvc(krxd)["pid"]
    krxd.expected_deaths.add(old)
    os.kill(old, signal.SIGKILL)
    keytest.wait_keysvc(krxd, not_pid=old)
    assert reloadtest.produce(krxd.bootstrap, topic, [b"v"]) == []
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    dec = enctest.Decryptor(krxd.keystore)
    assert dec.check(direct[-1], None, b"v", None)["version"] == 1
    assert not re.search(r"keysvc \d+ \(pid \d+\) exited with status 78",
                         krxd.log_text())
