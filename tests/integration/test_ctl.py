"""krx-ctl and krxd's command line.

krx-ctl status shows the master and every worker (running, children of
the master), found through -s SOCKET and through -c CONFIG; krx-ctl stop
ends krxd with exit status 0, its workers gone and its ports closed;
krxd -t accepts a good configuration (exit 0, nothing bound) and rejects a
bad one with exit 78 and one "FILE:LINE: message" per error; krx-ctl
without a daemon fails.
"""

import os
import subprocess
import time

import pytest

import enctest
import keytest
import krxtest


def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    return int(st[st.rfind(")") + 2:].split()[1])


@pytest.mark.krxd(workers=3)
def test_status(krxd):
    r = krxd.ctl("status")
    st = krxtest.parse_status(r.stdout)
    assert st["pid"] == krxd.pid
    assert st["generation"] >= 1 and st["uptime"] >= 0
    ws = [c for c in st["children"] if c["kind"] == "worker"]
    assert len(ws) == 3
    assert sorted(w["slot"] for w in ws) == sorted({w["slot"] for w in ws})
    for w in ws:
        assert w["state"] == "running" and w["restarts"] == 0
        assert krxtest.pid_alive(w["pid"]) and ppid(w["pid"]) == krxd.pid
    with open(krxd.pid_file) as f:
        assert int(f.read().strip()) == krxd.pid

    # The same daemon, found through the config file's control_socket.
    st2 = krxtest.parse_status(krxd.ctl("status", via="config").stdout)
    assert st2["pid"] == st["pid"]
    assert [(c["slot"], c["pid"]) for c in st2["children"]] == \
        [(c["slot"], c["pid"]) for c in st["children"]]


@pytest.mark.krxd(workers=2)
def test_stop(krxd):
    workers = krxd.worker_pids()
    r = krxd.ctl("stop")
    assert r.returncode == 0
    assert krxd.proc.wait(20) == 0, krxd.log_text()[-3000:]
    for pid in workers:
        krxtest.wait_for(lambda: not krxtest.pid_alive(pid), 10,
                         f"worker {pid} to exit")
    for port in krxd.ports:
        assert not krxtest.tcp_accepts(krxd.host, port), \
            f"port {port} still accepts after stop"


def test_graceful_stop_idle_is_quick(krxd_factory, tmp_path):
    """krx-ctl stop --graceful with nothing in flight ends once the
    workers have drained, key service included: not after drain_timeout
    (30 s here) and a SIGKILL."""
    k = enctest.enc_krxd(krxd_factory, workers=2)
    keytest.wait_keysvc(k)
    t0 = time.monotonic()
    assert k.ctl("stop", "--graceful").returncode == 0
    assert k.proc.wait(25) == 0, k.log_text()[-3000:]
    assert time.monotonic() - t0 < 15, "graceful stop waited for a timeout"
    log = k.log_text()
    assert "serves no generation any more; stopping it" in log
    assert "still alive after the stop timeout" not in log, log[-2000:]


def krxd_t(path):
    return subprocess.run([krxtest.KRXD, "-t", "-c", path],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30,
                          env=krxtest._sanitizer_env())


def test_config_check_good(krxd_factory):
    k = krxd_factory.make(start=False, workers=2)
    path = k.write_config()
    r = krxd_t(path)
    assert r.returncode == 0, r.stdout
    assert not os.path.exists(k.control_socket)
    assert not krxtest.tcp_accepts(k.host, k.bootstrap_port)


BAD = """\
# line 1: a configuration with four errors
workers = 999;
pid_file = "{d}/krxd.pid";
control_socket = "{d}/control.sock";
frobnicate = 1;
log = {{ level = "loud"; }};
virtual_clusters = (
  {{ name = "bad";
    bootstrap = "nohostport";
    advertised_host = "127.0.0.1";
    node_start_port = 30001;
    max_node_id = 2;
    upstream = {{ bootstrap = "127.0.0.1:9092"; }};
  }} );
"""
# (acceptable lines, words of the message) per error
BAD_ERRORS = [
    ({2}, "workers"),
    ({5}, "frobnicate"),
    ({6}, "loud"),
    ({8, 9}, "nohostport"),
]


def test_config_check_bad(tmp_path):
    path = str(tmp_path / "bad.conf")
    with open(path, "w") as f:
        f.write(BAD.format(d=tmp_path))
    r = krxd_t(path)
    assert r.returncode == 78, f"exit {r.returncode}: {r.stdout}"
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(path + ":")]
    for ok_lines, word in BAD_ERRORS:
        hits = [ln for ln in lines if word in ln and
                int(ln[len(path) + 1:].split(":")[0]) in ok_lines]
        assert hits, f"no {path}:{sorted(ok_lines)}: error about {word!r} " \
            f"in:\n{r.stdout}"


def test_config_check_syntax(tmp_path):
    path = str(tmp_path / "syntax.conf")
    with open(path, "w") as f:
        f.write("workers = 2;\nlog = { level = \"info\" \n"
                "virtual_clusters = ( ;\n")
    r = krxd_t(path)
    assert r.returncode == 78, r.stdout
    assert any(ln.startswith(f"{path}:") and ln[len(path) + 1:].split(":")[0]
               .isdigit() for ln in r.stdout.splitlines()), r.stdout


def test_ctl_without_daemon(tmp_path):
    r = subprocess.run([krxtest.KRXCTL, "-s", str(tmp_path / "none.sock"),
                        "status"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20)
    assert r.returncode != 0
    assert r.stderr.strip(), "krx-ctl failed without saying why"
