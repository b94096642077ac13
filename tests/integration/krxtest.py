"""Shared pieces of krx's integration tests: the krxd process wrapper,
krx-ctl status parsing, socket and /proc helpers. Fixtures are in
conftest.py; tests import this module as krxtest.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "kafka"))

from broker import (free_port_range, pid_alive,  # noqa: E402,F401
                    tcp_accepts, wait_for)

KRXD = os.environ.get("KRXD") or os.path.join(TOP, "build", "krxd")
KRXCTL = os.environ.get("KRXCTL") or os.path.join(TOP, "build", "krx-ctl")


def _sanitized():
    """Is krxd built with ASan? Its shadow memory and quarantine make RSS
    no measure."""
    try:
        with open(KRXD, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# Memory bounds in tests are multiplied by this (4 under ASan).
RSS_SLACK = 4 if _sanitized() else 1


SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer",
                     "UndefinedBehaviorSanitizer", "runtime error")


def _sanitizer_env():
    """Environment for krxd and krx-ctl: sanitizer options that keep
    reports in the log, and the LSan suppressions for libconfig's known
    leak (tests/lsan.supp) unless LSAN_OPTIONS is set already."""
    env = dict(os.environ)
    supp = os.path.join(TOP, "tests", "lsan.supp")
    if not os.path.exists(supp):
        supp = os.path.join(tempfile.gettempdir(), "krx-lsan.supp")
        with open(supp, "w") as f:
            f.write("leak:libconfig.so\n")
    env.setdefault("LSAN_OPTIONS", f"suppressions={supp}:print_suppressions=0")
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


# -- krxd ------------------------------------------------------------------

STATUS_HEAD = re.compile(
    r"^krxd pid (\d+) generation (\d+) uptime (\d+)s\s*$")
STATUS_GEN = re.compile(
    r"^generation (\d+) (\w+) uptime (\d+)s\s*$")
STATUS_CHILD = re.compile(
    r"^(\w+) (\d+) pid (-?\d+) (\w+) restarts (\d+)"
    r"(?: generation (\d+))?(?: connections (\d+))?\s*$")


def parse_status(text):
    """krx-ctl status output -> {'pid', 'generation', 'uptime',
    'generations': [{'generation', 'state', 'uptime'}] (serving first),
    'children': [{'kind', 'slot', 'pid', 'state', 'restarts',
    'generation', 'connections'}]} (every generation's children)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError("empty status output")
    m = STATUS_HEAD.match(lines[0])
    if not m:
        raise ValueError(f"bad status head line: {lines[0]!r}")
    st = {"pid": int(m.group(1)), "generation": int(m.group(2)),
          "uptime": int(m.group(3)), "generations": [], "children": []}
    for ln in lines[1:]:
        g = STATUS_GEN.match(ln)
        if g:
            st["generations"].append({
                "generation": int(g.group(1)), "state": g.group(2),
                "uptime": int(g.group(3))})
            continue
        c = STATUS_CHILD.match(ln)
        if not c:
            raise ValueError(f"bad status line: {ln!r}")
        st["children"].append({
            "kind": c.group(1), "slot": int(c.group(2)),
            "pid": int(c.group(3)), "state": c.group(4),
            "restarts": int(c.group(5)),
            "generation": int(c.group(6)) if c.group(6) else None,
            "connections": int(c.group(7)) if c.group(7) else None})
    return st


# krxd refuses to keep its children root without user and keysvc_user
# (issue 9, finding 14); tests that run it as root say that it is meant.
ALLOW_ROOT = "allow_root = true;\n" if os.geteuid() == 0 else ""


class Krxd:
    """One krxd -g process with its own config, ports and log."""

    def __init__(self, workdir, upstream, workers=2, max_node_id=2,
                 max_frame_bytes=None, log_level="debug", name="test",
                 extra="", vc_extra="", upstream_extra="", host="127.0.0.1",
                 base_port=None, advertised_host=None, sni=False):
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.upstream = upstream
        self.workers = workers
        self.max_node_id = max_node_id
        self.max_frame_bytes = max_frame_bytes
        self.log_level = log_level
        self.name = name
        self.extra = extra          # top-level settings
        self.vc_extra = vc_extra    # settings inside the virtual cluster
        self.upstream_extra = upstream_extra    # ... inside its upstream
        self.host = host
        self.advertised_host = advertised_host or host
        self.sni = sni              # one port: no node ports to wait for
        base = base_port or free_port_range(max_node_id + 2, self.host)
        self.bootstrap_port = base
        self.node_start_port = base + 1
        self.config_path = os.path.join(self.dir, "krxd.conf")
        self.pid_file = os.path.join(self.dir, "krxd.pid")
        self.control_socket = os.path.join(self.dir, "control.sock")
        self.log_path = os.path.join(self.dir, "krxd.log")
        self.proc = None
        self.env = _sanitizer_env()
        self.stopped = False
        # pids a test kills on purpose; any other child that dies by a
        # signal or with a failure status fails the test at teardown
        self.expected_deaths = set()
        # extra subprocess.Popen arguments for krxd (e.g. user, group)
        self.popen_kwargs = {}

    # -- addresses ----------------------------------------------------
    @property
    def bootstrap(self):
        return f"{self.host}:{self.bootstrap_port}"

    def node_port(self, node_id):
        return self.node_start_port + node_id

    def node_address(self, node_id):
        return f"{self.host}:{self.node_port(node_id)}"

    @property
    def ports(self):
        if self.sni:
            return [self.bootstrap_port]
        return [self.bootstrap_port] + [self.node_port(i) for i in
                                        range(self.max_node_id + 1)]

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- config -------------------------------------------------------
    def config_text(self):
        mfb = (f"max_frame_bytes = {self.max_frame_bytes};\n"
               if self.max_frame_bytes else "")
        w = self.workers if isinstance(self.workers, int) \
            else f'"{self.workers}"'
        return (
            f"# krxd config written by tests/integration/conftest.py\n"
            f"workers = {w};\n"
            f'pid_file = "{self.pid_file}";\n'
            f'control_socket = "{self.control_socket}";\n'
            f"{mfb}"
            f'log = {{ level = "{self.log_level}"; }};\n'
            f"{ALLOW_ROOT}"
            f"{self.extra}"
            f"virtual_clusters = (\n"
            f"  {{ name = \"{self.name}\";\n"
            f'    bootstrap = "{self.bootstrap}";\n'
            f'    advertised_host = "{self.advertised_host}";\n'
            f"    node_start_port = {self.node_start_port};\n"
            f"    max_node_id = {self.max_node_id};\n"
            f'    upstream = {{ bootstrap = "{self.upstream}";'
            + (f"\n{self.upstream_extra}" if self.upstream_extra else "")
            + " };\n"
            f"{self.vc_extra}"
            f"  }} );\n")

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        return self.config_path

    # -- process ------------------------------------------------------
    def start(self, timeout=30):
        if not os.access(KRXD, os.X_OK):
            pytest.fail(f"krxd binary not found at {KRXD} (run make)")
        self.write_config()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [KRXD, "-g", "-c", self.config_path],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=self.env, cwd=self.dir,
                **self.popen_kwargs)
        finally:
            log.close()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout=30):
        """Until status shows every worker running and the bootstrap and
        node ports accept connections."""
        def ready():
            self.assert_running()
            st = self.status()
            ws = [c for c in st["children"] if c["kind"] == "worker"]
            if isinstance(self.workers, int) and len(ws) != self.workers:
                return False
            if not ws or any(c["state"] != "running"
                             for c in st["children"]):
                return False
            return all(tcp_accepts(self.host, p) for p in
                       ((self.bootstrap_port,) if self.sni else
                        (self.bootstrap_port, self.node_port(1))))
        try:
            wait_for(ready, timeout, "krxd workers running", interval=0.05)
        except TimeoutError as e:
            raise TimeoutError(f"{e}\nkrxd log:\n{self.log_text()[-4000:]}")

    def assert_running(self):
        if self.proc.poll() is not None:
            raise AssertionError(
                f"krxd exited with {self.proc.returncode}; log:\n"
                f"{self.log_text()[-4000:]}")

    def ctl(self, *args, check=True, timeout=20, via="socket"):
        """Run krx-ctl with -s SOCK (or -c CONFIG if via='config')."""
        sel = ["-s", self.control_socket] if via == "socket" else \
            ["-c", self.config_path]
        r = subprocess.run([KRXCTL] + sel + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           timeout=timeout, env=self.env)
        if check and r.returncode != 0:
            raise AssertionError(
                f"krx-ctl {' '.join(args)} exited {r.returncode}: "
                f"{r.stdout}{r.stderr}")
        return r

    def status(self):
        return parse_status(self.ctl("status").stdout)

    def workers_status(self):
        return [c for c in self.status()["children"]
                if c["kind"] == "worker"]

    def worker_pids(self):
        return [c["pid"] for c in self.workers_status()]

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait until the log (from byte start) matches regex pattern;
        returns the match."""
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log_text()[start:]), timeout,
                        f"krxd log to match {pattern!r}")

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def assert_served(self, kafka, node_id=1):
        """krxd's own log shows client connections accepted on node
        node_id's port and upstream connections to the broker (needs
        log level debug, the fixture's default)."""
        text = self.log_text()
        port = self.node_port(node_id)
        assert re.search(rf"accepted on port {port}\b", text), (
            f"krxd log has no 'accepted on port {port}' line:\n"
            f"{text[-3000:]}")
        assert re.search(rf"connected to broker {re.escape(kafka.bootstrap)}",
                         text), (f"krxd log has no 'connected to broker "
                                 f"{kafka.bootstrap}' line")

    def stop(self, timeout=20):
        """krx-ctl stop, wait for exit; SIGKILL after timeout. Returns the
        exit status (negative: signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.ctl("stop", check=False, timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(
                    f"krxd did not exit within {timeout}s of krx-ctl stop")
        self.stopped = True
        return self.proc.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        # Workers left behind by a killed master exit on channel EOF; any
        # that still hold our ports are killed here.
        for pid in self._orphans():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _orphans(self):
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if self.config_path.encode() in argv and int(d) != os.getpid():
                out.append(int(d))
        return out

    def problems(self):
        """Reasons this krxd run must fail a test: sanitizer reports, a
        child that died unexpectedly, the master's death by signal or a
        failure status after krx-ctl stop."""
        out = []
        text = self.log_text()
        for m in SANITIZER_MARKERS:
            if m in text:
                i = text.index(m)
                out.append(f"krxd log contains {m!r}:\n"
                           f"{text[max(0, i - 500):i + 3000]}")
        for m in re.finditer(r"(\w+ \d+) \(pid (\d+)\) (killed by signal "
                             r"\d+|exited with status \d+|broke the channel"
                             r"[^\n]*)", text):
            if int(m.group(2)) not in self.expected_deaths:
                out.append(f"krxd {m.group(1)} (pid {m.group(2)}) "
                           f"{m.group(3)} during the test")
        rc = self.proc.returncode if self.proc else None
        if rc is not None and rc < 0:
            out.append(f"krxd exited by signal {-rc}")
        elif rc and self.stopped:
            out.append(f"krxd exited with status {rc} (expected 0 after "
                       f"krx-ctl stop)")
        return out


class KrxdFactory:
    def __init__(self, tmp_path, upstream):
        self.tmp_path = tmp_path
        self.upstream = upstream
        self.instances = []

    def make(self, start=True, **opts):
        d = os.path.join(str(self.tmp_path), f"krxd{len(self.instances)}")
        k = Krxd(d, opts.pop("upstream", self.upstream), **opts)
        self.instances.append(k)
        if start:
            k.start()
        return k

    def finish(self):
        problems = []
        for k in self.instances:
            try:
                k.stop()
            except AssertionError as e:
                problems.append(str(e))
            finally:
                k.kill()
            problems += k.problems()
        return problems


def established_ports(pid):
    """Local and remote ports of pid's ESTABLISHED TCP sockets over
    loopback, as a list of (local_port, remote_port)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                t = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
    except OSError:
        return []
    out = []
    for tbl in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(tbl) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for r in rows:
            cols = r.split()
            if len(cols) < 10 or cols[3] != "01" or cols[9] not in inodes:
                continue
            lp = int(cols[1].rsplit(":", 1)[1], 16)
            rp = int(cols[2].rsplit(":", 1)[1], 16)
            out.append((lp, rp))
    return out


def raw_connect(port, host="127.0.0.1", timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_closed(sock, timeout=10):
    """True once the peer has closed sock (EOF or reset) within timeout;
    False if it stays open. Data the peer sends first is discarded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            b = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if b == b"":
            return True
    return False


def assert_only_krxd_addresses(krxd, addresses, kafka=None, what="client"):
    """Every host:port in addresses is one of krxd's listeners, and (if
    kafka is given) the broker's own port is not among them."""
    addresses = set(addresses)
    assert addresses, f"{what} reported no broker addresses"
    own = {f"{krxd.host}:{p}" for p in krxd.ports}
    stray = addresses - own
    assert not stray, (f"{what} dialled {sorted(stray)}, which are not "
                       f"krxd's listeners {sorted(own)}")
    if kafka is not None:
        assert kafka.bootstrap not in addresses


def console_records(lines):
    """Parse ConsoleConsumer lines printed with tools.DUMP_FORMAT into
    {partition: [(offset, timestamp, headers, key, value, raw line)]}."""
    out = {}
    for ln in lines:
        f = ln.split(b"\t")
        assert len(f) >= 6, f"unexpected console consumer line {ln!r}"
        ts, part, off = f[0], f[1], f[2]
        assert ts.startswith(b"CreateTime:"), ln
        assert part.startswith(b"Partition:") and off.startswith(b"Offset:")
        p = int(part.split(b":")[1])
        out.setdefault(p, []).append(
            (int(off.split(b":")[1]), int(ts.split(b":")[1]), f[3], f[4],
             b"\t".join(f[5:]), ln))
    for recs in out.values():
        recs.sort(key=lambda r: r[0])
    return out
