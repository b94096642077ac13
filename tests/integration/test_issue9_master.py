"""Issue 9 (hardening), master and worker process rules.

- Finding 11: every worker sets RLIMIT_CORE to 0 (/proc/PID/limits "Max
  core file size 0 0") and is undumpable after its privilege drop: run as
  the unprivileged user krx (so that no uid change resets the flag), a
  worker's /proc entries belong to root and krx cannot read its environ.
  The DEK cache key lives in the master's krx_secret (a MADV_DONTDUMP
  page in /proc/PID/smaps); its bytes occur nowhere in a worker's
  memory (/proc/PID/mem).
- Finding 14: the pid file is locked (a second krxd with the same pid
  file refuses to start and names the running pid), never followed
  through a symlink (the link's target is not truncated); a control
  socket path that names another kind of file is not removed; as root,
  `krxd -t` and start-up refuse a configuration without "user" (and
  "keysvc_user" when a cluster encrypts) unless allow_root is set.
- Finding 12: the master alone writes the node and topic maps; workers
  map them read-only (/proc/PID/maps: r--s) and report what they learn.
  With upstream.allowed_hosts, brokers the cluster's
  metadata names outside the list are refused and logged, never learned
  into the node map, and the client gets no broker address; a list that
  matches lets the same client through.
"""

import os
import re
import struct
import subprocess

import pytest

import keytest
import krxtest
import tools
from test_keysvc_privsep import open_dir, users  # noqa: F401

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (users, root-only checks)")


def krxd_run(k, *args):
    """krxd ARGS -c k's config, output (stdout and stderr) captured."""
    return subprocess.run([krxtest.KRXD, *args, "-c", k.config_path],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30,
                          env=krxtest._sanitizer_env())


def without_allow_root(k, extra=""):
    """Rewrite k's config without the test suite's allow_root."""
    text = k.config_text().replace(krxtest.ALLOW_ROOT, extra, 1)
    with open(k.config_path, "w") as f:
        f.write(text)


@pytest.fixture
def krx_user(users):
    return users["krx"]


def core_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        for ln in f:
            if ln.startswith("Max core file size"):
                return ln.split()[4:6]
    raise AssertionError(f"no core limit in /proc/{pid}/limits")


# -- finding 11 -------------------------------------------------------------
@needs_root
def test_workers_undumpable_no_core(kafka, krx_user, open_dir,
                                    krxd_factory):
    workdir = os.path.join(open_dir, "krxd")
    os.mkdir(workdir)
    os.chown(workdir, krx_user.pw_uid, krx_user.pw_gid)
    k = krxtest.Krxd(workdir, kafka.bootstrap, workers=2)
    krxd_factory.instances.append(k)
    k.popen_kwargs = {"user": krx_user.pw_uid, "group": krx_user.pw_gid,
                      "extra_groups": []}
    k.start()
    workers = k.worker_pids()
    assert len(workers) == 2
    # The master itself is dumpable: krx owns its /proc entries.
    assert os.stat(f"/proc/{k.pid}/status").st_uid == krx_user.pw_uid
    for w in workers:
        assert core_limit(w) == ["0", "0"], w
        assert os.stat(f"/proc/{w}/status").st_uid == 0, \
            f"worker {w} is dumpable"
        r = keytest.run_as("krx", ["cat", f"/proc/{w}/environ"])
        assert r.returncode != 0 and "Permission denied" in r.stderr, r


def writable_maps(pid, dontdump_only=False, max_kb=256 * 1024):
    """(start, end) of pid's writable mappings (only those marked
    MADV_DONTDUMP, "dd", if asked), from /proc/PID/smaps; sanitizer
    shadows are left out by size, the kernel's [vvar] as read-only."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for ln in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", ln)
            if m:
                cur = (int(m.group(1), 16), int(m.group(2), 16)) \
                    if "w" in m.group(3) else None
            elif ln.startswith("VmFlags:") and cur is not None:
                size_kb = (cur[1] - cur[0]) // 1024
                if size_kb <= max_kb and (" dd" in ln or
                                          not dontdump_only):
                    out.append(cur)
    return out


def memory_holds(pid, needle):
    """Whether needle occurs in pid's writable memory."""
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end in writable_maps(pid):
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            if data and needle in data:
                return True
    return False


def test_cache_key_only_in_master(krxd_factory):
    """The master keeps the DEK cache key in a krx_secret (a page left
    out of core dumps, the key at its start); its bytes occur nowhere in
    a worker's memory: each worker erases its inherited copy."""
    k = krxd_factory.make(workers=2)
    pages = [p for p in writable_maps(k.pid, dontdump_only=True)
             if p[1] - p[0] == 4096]
    assert len(pages) == 1, pages
    with open(f"/proc/{k.pid}/mem", "rb", buffering=0) as mem:
        mem.seek(pages[0][0])
        key = mem.read(32)
    assert len(key) == 32 and key != bytes(32)
    found = memory_holds(k.pid, key)    # the scan finds what is there
    assert found
    for w in k.worker_pids():
        found = memory_holds(w, key)    # (no key bytes in the report)
        assert not found, f"worker {w} has the cache key"


# -- finding 14 -------------------------------------------------------------
def test_pid_file_locked(krxd_factory):
    first = krxd_factory.make(workers=1)
    second = krxd_factory.make(start=False, workers=1)
    second.pid_file = first.pid_file
    second.write_config()
    r = krxd_run(second, "-g")
    assert r.returncode != 0, r.stdout
    assert re.search(rf"pid file {re.escape(first.pid_file)} is locked by "
                     rf"a running krxd \(pid {first.pid}\)", r.stdout), \
        r.stdout
    with open(first.pid_file) as f:
        assert f.read() == f"{first.pid}\n"
    first.assert_running()
    # The first one's ports were not touched: it still serves.
    assert krxtest.tcp_accepts(first.host, first.bootstrap_port)


def test_pid_file_symlink_refused(krxd_factory, tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    k = krxd_factory.make(start=False, workers=1)
    os.symlink(str(target), k.pid_file)
    k.write_config()
    r = krxd_run(k, "-g")
    assert r.returncode != 0, r.stdout
    assert "is a symbolic link: refusing" in r.stdout, r.stdout
    assert target.read_text() == "keep me\n"
    assert not krxtest.tcp_accepts(k.host, k.bootstrap_port)


def test_pid_file_hard_link_refused(krxd_factory, tmp_path):
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    k = krxd_factory.make(start=False, workers=1)
    os.makedirs(k.dir, exist_ok=True)
    os.link(str(target), k.pid_file)
    k.write_config()
    r = krxd_run(k, "-g")
    assert r.returncode != 0, r.stdout
    assert "is not a plain file with one link: refusing" in r.stdout, \
        r.stdout
    assert target.read_text() == "keep me\n"


def test_control_socket_not_a_socket(krxd_factory):
    k = krxd_factory.make(start=False, workers=1)
    os.makedirs(k.dir, exist_ok=True)
    with open(k.control_socket, "w") as f:
        f.write("not a socket\n")
    k.write_config()
    r = krxd_run(k, "-g")
    assert r.returncode != 0, r.stdout
    assert "exists and is not a socket: refusing to remove it" in r.stdout, \
        r.stdout
    with open(k.control_socket) as f:
        assert f.read() == "not a socket\n"


@needs_root
def test_root_without_users_refused(krxd_factory, tmp_path):
    k = krxd_factory.make(start=False, workers=1,
                          vc_extra=keytest.encryption_conf(
                              str(tmp_path / "keks")))
    k.write_config()
    without_allow_root(k)
    r = krxd_run(k, "-t")
    assert r.returncode == 78, r.stdout
    assert re.search(r':0: running as root needs "user" for the workers',
                     r.stdout), r.stdout
    assert 'needs "keysvc_user" for the key service' in r.stdout, r.stdout
    r = krxd_run(k, "-g")
    assert r.returncode == 78, r.stdout
    assert "running as root needs" in r.stdout, r.stdout
    assert not krxtest.tcp_accepts(k.host, k.bootstrap_port)

    without_allow_root(k, 'user = "nobody";\nkeysvc_user = "daemon";\n')
    r = krxd_run(k, "-t")
    assert r.returncode == 0, r.stdout
    without_allow_root(k, "allow_root = true;\n")
    r = krxd_run(k, "-t")
    assert r.returncode == 0, r.stdout


# -- finding 12 -------------------------------------------------------------
def shared_maps(pid):
    """{name: permissions} of pid's krx-nodemap and krx-topicmap
    mappings, from /proc/PID/maps ("/memfd:krx-nodemap (deleted)")."""
    out = {}
    with open(f"/proc/{pid}/maps") as f:
        for ln in f:
            m = re.search(r"/memfd:(krx-\w+)", ln)
            if m:
                out.setdefault(m.group(1), set()).add(ln.split()[1])
    return out


def test_workers_map_shared_maps_read_only(kafka, krxd_factory, topic_name):
    """Only the master writes the node and topic maps: each worker maps
    them read-only, and what a worker learns (Metadata through krxd)
    reaches every worker through the master."""
    k = krxd_factory.make(workers=2)
    # Issue 13: the master's status region (it alone writes it) and the
    # key services' metrics rows (keysvc alone writes them).
    assert shared_maps(k.pid) == {"krx-nodemap": {"rw-s"},
                                  "krx-topicmap": {"rw-s"},
                                  "krx-mstatus": {"rw-s"},
                                  "krx-kmstats": {"r--s"}}
    for w in k.worker_pids():
        assert shared_maps(w) == {"krx-nodemap": {"r--s"},
                                  "krx-topicmap": {"r--s"},
                                  "krx-mstatus": {"r--s"},
                                  "krx-kmstats": {"r--s"}}, w
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    md = tools.admin(k.bootstrap).list_topics(timeout=20)
    assert md.brokers[1].port == k.node_port(1)
    # Connections to node 1 (on either worker) reach the broker.
    for _ in range(6):
        s = krxtest.raw_connect(k.node_port(1))
        cid = b"krx-test"
        body = struct.pack(">hhih", 18, 0, 5, len(cid)) + cid
        s.sendall(struct.pack(">i", len(body)) + body)  # ApiVersions v0
        s.settimeout(10)
        hdr = s.recv(8)
        assert len(hdr) == 8 and struct.unpack(">ii", hdr)[1] == 5
        s.close()
    assert "broke the channel contract" not in k.log_text()


class AllowListKrxd(krxtest.Krxd):
    def __init__(self, *a, allowed=(), **kw):
        super().__init__(*a, **kw)
        self.allowed = allowed

    def config_text(self):
        up = f'upstream = {{ bootstrap = "{self.upstream}"; }}'
        lst = ", ".join(f'"{h}"' for h in self.allowed)
        text = super().config_text()
        assert up in text
        return text.replace(up, f'upstream = {{ bootstrap = '
                            f'"{self.upstream}"; allowed_hosts = ( {lst} ); }}')


def allow_list_krxd(krxd_factory, kafka, allowed):
    d = os.path.join(str(krxd_factory.tmp_path),
                     f"krxd{len(krxd_factory.instances)}")
    k = AllowListKrxd(d, kafka.bootstrap, workers=1, allowed=allowed)
    krxd_factory.instances.append(k)
    return k.start()


def test_upstream_allowed_hosts_refuses(kafka, krxd_factory, topic_name):
    broker_host, broker_port = kafka.bootstrap.rsplit(":", 1)
    k = allow_list_krxd(krxd_factory, kafka, ("nothing.invalid",))
    start = k.log_size()
    r = subprocess.run(["kcat", "-L", "-b", k.bootstrap, "-m", "5"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert f"{k.host}:{k.node_port(1)}" not in r.stdout, r.stdout
    assert broker_port not in r.stdout, r.stdout
    k.wait_log(rf"refusing broker 1 at {re.escape(broker_host)}:"
               rf"{broker_port}: host not in upstream allowed_hosts",
               start=start)
    k.wait_log(r"response names a broker outside upstream allowed_hosts",
               start=start)
    # Never learned: the node map stays empty.
    assert "broker 1 is at" not in k.log_text()
    # A client that goes straight to the node port is not relayed either
    # (the probe meets the same refusal).
    s = krxtest.raw_connect(k.node_port(1))
    cid = b"krx-test"
    body = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + \
        struct.pack(">ib", -1, 0)           # Metadata v4: all topics
    s.sendall(struct.pack(">i", len(body)) + body)
    assert krxtest.wait_closed(s, timeout=20), "node port relayed"
    s.close()
    assert "broker 1 is at" not in k.log_text()


def test_upstream_allowed_hosts_matches(kafka, krxd_factory, topic_name):
    broker_host = kafka.bootstrap.rsplit(":", 1)[0]
    glob = broker_host.rsplit(".", 1)[0] + ".*"
    k = allow_list_krxd(krxd_factory, kafka, ("nothing.invalid", glob))
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    md = tools.admin(k.bootstrap).list_topics(timeout=20)
    assert {i: (b.host, b.port) for i, b in md.brokers.items()} == \
        {1: (k.host, k.node_port(1))}
    k.wait_log(r"broker 1 is at ")
    assert "refusing broker" not in k.log_text()
