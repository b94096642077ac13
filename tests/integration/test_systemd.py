"""systemd integration (issue 13): sd_notify messages and journal lines.

krxd runs with NOTIFY_SOCKET pointing at a datagram socket of the test
(what systemd does for Type=notify):

- READY=1 arrives once every worker runs and the listeners accept, with
  a STATUS= line naming the generation and the number of workers.
- A reload sends RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, the
  clock of Python's time.monotonic()) taken when the reload started,
  then READY=1 and the new generation's STATUS= when it serves; a failed
  reload (broken file) sends RELOADING=1 then READY=1 with STATUS=reload
  failed.
- With WATCHDOG_USEC=400000, WATCHDOG=1 arrives about every 200 ms from
  the master's loop, stops while the master is SIGSTOPped and resumes
  after SIGCONT; with WATCHDOG_PID naming another process, none at all.
- krx-ctl stop sends STOPPING=1.
- With JOURNAL_STREAM naming stderr's device:inode, log lines start with
  the sd-daemon(3) priority (<7> debug, <6> info, <4> warning,
  <3> error) and carry
  no timestamp; with a JOURNAL_STREAM that is not stderr, or none, the
  lines keep their timestamp.

No Kafka broker is needed: the upstream is never contacted.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import krxtest


class NotifySocket:
    """An AF_UNIX datagram socket collecting sd_notify messages, each as
    (time.monotonic() at arrival, {key: value})."""

    def __init__(self):
        # sun_path is 108 bytes: pytest's tmp dirs can be longer
        self.dir = tempfile.mkdtemp(prefix="krxsd")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            kv = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            with self.lock:
                self.msgs.append((time.monotonic(), kv))

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def count(self):
        with self.lock:
            return len(self.msgs)

    def wait(self, pred, start=0, timeout=30, what="a notify message"):
        """The first message from index start on for which pred(kv) is
        true: (index, arrival time, kv)."""
        def find():
            for i, (t, kv) in enumerate(self.snapshot()[start:], start):
                if pred(kv):
                    return (i, t, kv)
            return None
        return krxtest.wait_for(find, timeout, what, interval=0.02)

    def watchdogs(self, since):
        return [t for t, kv in self.snapshot()
                if kv.get("WATCHDOG") == "1" and t >= since]


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


@pytest.fixture
def sd_krxd(tmp_path):
    """A factory of unstarted krxd instances (upstream never used);
    stopped and checked like krxd_factory's (a SIGSTOPped one is
    continued first)."""
    f = krxtest.KrxdFactory(tmp_path, "127.0.0.1:9")
    yield lambda **opts: f.make(start=False, log_level="info", **opts)
    for k in f.instances:
        if k.proc is not None and k.proc.poll() is None:
            try:
                os.kill(k.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    problems = f.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def start_notified(k, notify, **env):
    k.env["NOTIFY_SOCKET"] = notify.path
    for name in ("WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        k.env.pop(name, None)
    k.env.update(env)
    return k.start()


def is_ready(kv):
    return kv.get("READY") == "1"


def test_ready_status_reload_stop(sd_krxd, notify):
    k = sd_krxd(workers=2)
    k.env["NOTIFY_SOCKET"] = notify.path
    k.write_config()
    # started by hand: READY=1 is awaited here, not krx-ctl status
    log = open(k.log_path, "ab")
    k.proc = subprocess.Popen([krxtest.KRXD, "-g", "-c", k.config_path],
                              stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, env=k.env, cwd=k.dir)
    log.close()
    i, _, kv = notify.wait(is_ready, what="READY=1")
    # READY=1 means serving: every worker runs and the listeners accept
    st = k.status()
    ws = [c for c in st["children"] if c["kind"] == "worker"]
    assert len(ws) == 2 and all(c["state"] == "running" for c in ws), st
    assert all(krxtest.tcp_accepts(k.host, p) for p in k.ports)
    assert kv.get("STATUS") == "serving generation 1, 2 workers", kv
    assert not any("RELOADING" in m or "STOPPING" in m
                   for _, m in notify.snapshot())

    # a reload: RELOADING=1 with the monotonic time it started, then READY
    n = notify.count()
    before = time.monotonic()
    os.kill(k.pid, signal.SIGHUP)
    ri, _, rkv = notify.wait(lambda m: m.get("RELOADING") == "1", n,
                             what="RELOADING=1")
    after = time.monotonic()
    usec = int(rkv["MONOTONIC_USEC"])
    assert before - 0.05 <= usec / 1e6 <= after + 0.05, \
        (before, usec, after)
    assert rkv.get("STATUS") == "reloading", rkv
    _, _, kv = notify.wait(is_ready, ri, what="READY=1 after the reload")
    assert kv.get("STATUS") == "serving generation 2, 2 workers", kv

    # a failed reload: RELOADING=1 then READY=1, the status says it failed
    k.extra = "no_such_setting = 1;\n"
    k.write_config()
    n = notify.count()
    r = k.ctl("reload", check=False, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    ri, _, rkv = notify.wait(lambda m: m.get("RELOADING") == "1", n,
                             what="RELOADING=1 of the failed reload")
    assert "MONOTONIC_USEC" in rkv, rkv
    _, _, kv = notify.wait(is_ready, ri, what="READY=1 after the failure")
    assert kv.get("STATUS", "").startswith("reload failed: configuration "
                                           f"{k.config_path} is not valid"), kv
    assert "generation 2 keeps serving" in kv["STATUS"], kv
    assert k.status()["generation"] == 2

    # stop: STOPPING=1
    k.extra = ""
    k.write_config()
    n = notify.count()
    assert k.stop() == 0
    _, _, kv = notify.wait(lambda m: m.get("STOPPING") == "1", n,
                           timeout=5, what="STOPPING=1")
    assert kv.get("STATUS", "").startswith("stopping"), kv


def test_watchdog(sd_krxd, notify):
    k = start_notified(sd_krxd(workers=1), notify, WATCHDOG_USEC="400000")
    t0 = time.monotonic()
    krxtest.wait_for(lambda: len(notify.watchdogs(t0)) >= 8, 10,
                     "8 WATCHDOG=1 messages")
    ts = notify.watchdogs(t0)[:8]
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    # every 200 ms (WATCHDOG_USEC / 2); a loaded test machine may delay
    # one, not the rhythm
    assert 0.15 <= sorted(gaps)[len(gaps) // 2] <= 0.3, gaps
    assert max(gaps) < 1.0, gaps

    # a stopped loop sends none (what lets systemd kill a stuck master)
    os.kill(k.pid, signal.SIGSTOP)
    try:
        krxtest.wait_for(lambda: open(f"/proc/{k.pid}/stat").read()
                         .rsplit(")", 1)[1].split()[0] == "T", 5,
                         "the master stopped", interval=0.01)
        t1 = time.monotonic()
        time.sleep(1.2)     # the absence of messages takes a while to see
        assert notify.watchdogs(t1 + 0.05) == []
    finally:
        os.kill(k.pid, signal.SIGCONT)
    t2 = time.monotonic()
    krxtest.wait_for(lambda: len(notify.watchdogs(t2)) >= 2, 5,
                     "WATCHDOG=1 again after SIGCONT")


def test_watchdog_other_pid(sd_krxd, notify):
    """WATCHDOG_PID naming another process: the watchdog is not ours."""
    k = start_notified(sd_krxd(workers=1), notify, WATCHDOG_USEC="400000",
                       WATCHDOG_PID="1")
    notify.wait(is_ready, what="READY=1")
    t0 = time.monotonic()
    k.ctl("status")     # the loop runs: a timer would have fired by now
    time.sleep(0.6)
    assert notify.watchdogs(0) == [], notify.snapshot()
    assert time.monotonic() - t0 >= 0.6


JOURNAL_LINE = re.compile(r"^<([0-7])>(master|worker\[\d+\]|keysvc): ")
STAMPED_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z krxd\[")


def journal_env(path):
    open(path, "ab").close()
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def krxd_lines(text):
    """The log lines krxd's own logging wrote (not a sanitizer's)."""
    return [ln for ln in text.splitlines()
            if ln and not ln.startswith(("==", "    #", "SUMMARY"))]


def test_journal_priorities(sd_krxd, notify, tmp_path):
    k = sd_krxd(workers=1)
    k.log_level = "debug"       # the worker's lines too (<7>)
    os.makedirs(k.dir, exist_ok=True)
    start_notified(k, notify, JOURNAL_STREAM=journal_env(k.log_path))
    # a warning: a reload refused for a broken file
    k.extra = "no_such_setting = 1;\n"
    k.write_config()
    assert k.ctl("reload", check=False).returncode == 1
    k.wait_log(r"(?m)^<4>master: reload: ")
    # an error: a second krxd with the same pid file refuses to start,
    # its stderr being the journal too
    k.extra = ""
    k.write_config()
    second = os.path.join(str(tmp_path), "second.log")
    with open(second, "ab") as f:
        env = dict(k.env, JOURNAL_STREAM=journal_env(second))
        r = subprocess.run([krxtest.KRXD, "-g", "-c", k.config_path],
                           stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                           env=env, timeout=30)
    assert r.returncode != 0
    text2 = open(second).read()
    assert re.search(r"(?m)^<3>master: pid file .* is locked", text2), text2

    lines = krxd_lines(k.log_text())
    assert any(ln.startswith("<6>master: ") for ln in lines), lines
    assert any(ln.startswith("<7>worker[") for ln in lines), lines
    bad = [ln for ln in lines if not JOURNAL_LINE.match(ln)]
    assert bad == [], bad
    assert not any(STAMPED_LINE.search(ln) for ln in lines)


@pytest.mark.parametrize("stream", ["other-file", "unset"])
def test_no_journal_prefix_otherwise(sd_krxd, notify, tmp_path, stream):
    """JOURNAL_STREAM naming another file (a shell that inherited it), or
    unset: lines keep krxd's timestamp, no <N>."""
    env = {}
    if stream == "other-file":
        env["JOURNAL_STREAM"] = journal_env(
            os.path.join(str(tmp_path), "not-stderr"))
    k = sd_krxd(workers=1)
    start_notified(k, notify, **env)
    k.extra = "no_such_setting = 1;\n"
    k.write_config()
    assert k.ctl("reload", check=False).returncode == 1
    k.wait_log(r"reload: configuration .* is not valid")
    lines = krxd_lines(k.log_text())
    assert lines and all(STAMPED_LINE.match(ln) for ln in lines), lines
    assert not any(re.match(r"^<\d>", ln) for ln in lines)
    k.extra = ""
    k.write_config()
