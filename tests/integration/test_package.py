"""
test_package.py: `make deb`, lintian, the unit, the man pages.

The package is built once per session from the build directory under test
(KRX_BUILD, else build/) with `make deb`; a sanitizer build is not packaged
(it is not what ships), so under `make check-asan` these tests skip. Then:
the .deb's files, modes and control data (Depends computed, conffiles);
lintian exits 0 at every severity with the overrides the package ships,
and uses every override; the krxd of the unpacked package reports
GNUmakefile's VERSION and passes `krxd -t` on the packaged
/etc/krx/krxd.conf as it is (krxd -t checks no path exists, so nothing is
rewritten); sysusers.d and tmpfiles.d, applied to a scratch root
(systemd-sysusers/-tmpfiles --root), create the keystore's directory for
the config's keysvc_user; `systemd-analyze verify --root` passes on the
unit in a scratch root (the package plus the host's units), silently;
`make lint-man` is clean, and the man pages name every configuration key
conf/*.c accepts and every krx-ctl command; the postinst, run under
DPKG_ROOT with stubbed init-system-helpers, creates the users and
directories and enables the unit only when the admin had. No Kafka broker
is needed.
"""
import gzip
import os
import re
import shutil
import subprocess

import pytest

from krxtest import TOP

BUILD = os.environ.get("KRX_BUILD") or os.path.join(TOP, "build")
OVERRIDES = os.path.join(TOP, "packaging", "deb", "lintian-overrides")
# Variables a parent make (make check-asan) exports to its children.
MAKE_ENV = {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def run(*argv, **kw):
    kw.setdefault("env", MAKE_ENV)
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def make_var(name):
    with open(os.path.join(TOP, "GNUmakefile")) as f:
        m = re.search(rf"^{name}\s*:?=\s*(\S+)", f.read(), re.M)
    return m.group(1)


VERSION = make_var("VERSION")
DEB_VERSION = VERSION + "-" + make_var("DEB_REVISION")


@pytest.fixture(scope="session")
def deb():
    with open(os.path.join(BUILD, "krxd"), "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("sanitizer build: package tests run in make test")
    r = run("make", "-s", "deb", "BUILD=" + BUILD, cwd=TOP)
    assert r.returncode == 0, r.stdout + r.stderr
    arch = run("dpkg", "--print-architecture").stdout.strip()
    path = os.path.join(BUILD, f"krx_{DEB_VERSION}_{arch}.deb")
    assert os.path.isfile(path), r.stdout
    return path


@pytest.fixture(scope="session")
def unpacked(deb, tmp_path_factory):
    root = tmp_path_factory.mktemp("debroot")
    r = run("dpkg-deb", "-x", deb, str(root))
    assert r.returncode == 0, r.stderr
    return str(root)


def deb_field(deb, field):
    r = run("dpkg-deb", "-f", deb, field)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_deb_files_and_control(deb, tmp_path):
    listing = run("dpkg-deb", "-c", deb).stdout.splitlines()
    files = {}
    for line in listing:
        mode, owner, _size, _d, _t, path = line.split(None, 5)
        files[path.removeprefix(".").split(" -> ")[0]] = (mode, owner)
    assert all(o == "root/root" for _m, o in files.values()), listing
    for path, mode in (("/usr/sbin/krxd", "-rwxr-xr-x"),
                       ("/usr/bin/krx-ctl", "-rwxr-xr-x"),
                       ("/etc/krx/krxd.conf", "-rw-r--r--"),
                       ("/usr/lib/systemd/system/krxd.service", "-rw-r--r--"),
                       ("/usr/lib/sysusers.d/krx.conf", "-rw-r--r--"),
                       ("/usr/lib/tmpfiles.d/krx.conf", "-rw-r--r--"),
                       ("/usr/share/man/man8/krxd.8.gz", "-rw-r--r--"),
                       ("/usr/share/man/man8/krx-ctl.8.gz", "-rw-r--r--"),
                       ("/usr/share/man/man5/krxd.conf.5.gz", "-rw-r--r--"),
                       ("/usr/share/doc/krx/copyright", "-rw-r--r--"),
                       ("/usr/share/doc/krx/changelog.Debian.gz",
                        "-rw-r--r--")):
        assert files.get(path, ("missing",))[0] == mode, path
    assert deb_field(deb, "Package") == "krx"
    assert deb_field(deb, "Version") == DEB_VERSION
    depends = deb_field(deb, "Depends")
    # dpkg-shlibdeps' result: the libraries krxd links, with versions.
    for lib in ("libc6 (>=", "libssl3", "libevent-2.1-7", "libconfig9",
                "liblmdb0", "libcurl4", "libzstd1"):
        assert lib in depends, depends
    ctrl = str(tmp_path / "DEBIAN")
    r = run("dpkg-deb", "-e", deb, ctrl)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(ctrl, "conffiles")) as f:
        assert f.read().split() == ["/etc/krx/krxd.conf"]
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(os.path.join(ctrl, script), os.X_OK), script
    with open(os.path.join(ctrl, "postinst")) as f:
        postinst = f.read()
    assert "systemd-sysusers" in postinst and "systemd-tmpfiles" in postinst


def test_manpages_gzipped_reproducibly(unpacked):
    """gzip -9n: no name, no timestamp in the header (lintian checks the
    level only, reproducible builds the rest)."""
    for sec, name in ((8, "krxd.8"), (8, "krx-ctl.8"), (5, "krxd.conf.5")):
        p = os.path.join(unpacked, f"usr/share/man/man{sec}/{name}.gz")
        with open(p, "rb") as f:
            head = f.read(10)
        assert head[3] & 0x08 == 0, f"{name}: file name stored"
        assert head[4:8] == b"\0\0\0\0", f"{name}: mtime stored"
        with gzip.open(p, "rt") as f, \
                open(os.path.join(TOP, "man", name)) as src:
            assert f.read() == src.read()


def test_lintian_clean(deb):
    r = run("lintian", "--display-info", "--pedantic",
            "--fail-on", "error,warning,info,pedantic", deb)
    assert r.returncode == 0, r.stdout + r.stderr
    tags = [l for l in r.stdout.splitlines() if l[:2] in
            ("E:", "W:", "I:", "P:", "X:")]
    assert tags == [], r.stdout
    # Every override in the file is used (and so justified in STATUS).
    r = run("lintian", "--display-info", "--pedantic", "--show-overrides",
            deb)
    with open(OVERRIDES) as f:
        overrides = [l.split()[1] for l in f
                     if l.strip() and not l.startswith("#")]
    used = [l.split()[2] for l in r.stdout.splitlines() if l[:2] == "O:"]
    assert sorted(used) == sorted(overrides), r.stdout


def test_packaged_krxd_checks_packaged_config(unpacked):
    krxd = os.path.join(unpacked, "usr/sbin/krxd")
    conf = os.path.join(unpacked, "etc/krx/krxd.conf")
    r = run(krxd, "-V")
    assert r.returncode == 0 and r.stdout.strip() == f"krxd {VERSION}"
    r = run(krxd, "-t", "-c", conf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "is valid" in r.stdout
    # The packaged krx-ctl runs too (its usage goes to stderr, exit 2).
    r = run(os.path.join(unpacked, "usr/bin/krx-ctl"), "no-such-command")
    assert r.returncode == 2 and "usage: krx-ctl" in r.stderr


def conf_string(path, key):
    with open(path) as f:
        m = re.search(rf'(?:^|[{{;]\s*){key}\s*=\s*"([^"]+)"', f.read(), re.M)
    return m.group(1)


def test_sysusers_tmpfiles_make_the_keystore_directory(unpacked, tmp_path):
    """Applied to an empty root, the package's sysusers.d and tmpfiles.d
    entries create the users the config names and the directory of its
    LocalKms keystore, owned by keysvc_user and private to it."""
    conf = os.path.join(unpacked, "etc/krx/krxd.conf")
    keystore = conf_string(conf, "keystore")
    user, keysvc = conf_string(conf, "user"), conf_string(conf, "keysvc_user")
    root = str(tmp_path / "root")
    for d in ("etc", "usr/lib"):
        os.makedirs(os.path.join(root, d))
    shutil.copytree(os.path.join(unpacked, "usr/lib/sysusers.d"),
                    os.path.join(root, "usr/lib/sysusers.d"))
    shutil.copytree(os.path.join(unpacked, "usr/lib/tmpfiles.d"),
                    os.path.join(root, "usr/lib/tmpfiles.d"))
    r = run("systemd-sysusers", "--root=" + root, "krx.conf")
    assert r.returncode == 0, r.stderr
    with open(os.path.join(root, "etc/passwd")) as f:
        uids = {l.split(":")[0]: int(l.split(":")[2]) for l in f}
    assert user in uids and keysvc in uids and user != keysvc
    r = run("systemd-tmpfiles", "--root=" + root, "--create", "krx.conf")
    assert r.returncode == 0, r.stderr
    st = os.stat(os.path.join(root, os.path.dirname(keystore).lstrip("/")))
    assert st.st_uid == uids[keysvc] and st.st_mode & 0o777 == 0o700
    # Its parent, the unit's StateDirectory, stays root's (krx.tmpfiles).
    st = os.stat(os.path.join(root, "var/lib/krx"))
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o711


def test_unit_verifies_in_scratch_root(unpacked, tmp_path):
    root = str(tmp_path / "root")
    shutil.copytree(unpacked, root, symlinks=True)
    units = os.path.join(root, "usr/lib/systemd/system")
    host = "/usr/lib/systemd/system"
    for name in os.listdir(host):  # the targets krxd.service refers to
        if not os.path.exists(os.path.join(units, name)):
            src = os.path.join(host, name)
            if os.path.isfile(src) or os.path.islink(src):
                shutil.copy2(src, units, follow_symlinks=False)
    env = dict(MAKE_ENV, MANPATH=os.path.join(root, "usr/share/man"))
    r = run("systemd-analyze", "verify", "--root=" + root, "krxd.service",
            env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stderr
    with open(os.path.join(units, "krxd.service")) as f:
        unit = f.read()
    for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30s",
                 "ExecStartPre=/usr/sbin/krxd -t -c /etc/krx/krxd.conf",
                 "ExecReload=/usr/bin/krx-ctl -c /etc/krx/krxd.conf reload",
                 "KillMode=mixed", "RuntimeDirectory=krx",
                 "StateDirectory=krx"):
        assert re.search(rf"^{re.escape(line)}$", unit, re.M), line


def test_man_lint():
    r = run("make", "-s", "lint-man", cwd=TOP)
    assert r.returncode == 0, r.stdout + r.stderr


def conf_keys():
    """Every key of every `*_keys[]` table in conf/*.c."""
    keys = set()
    for name in os.listdir(os.path.join(TOP, "conf")):
        if not name.endswith(".c"):
            continue
        with open(os.path.join(TOP, "conf", name)) as f:
            src = f.read()
        for m in re.finditer(r"_keys\[\]\s*=\s*\{(.*?)\};", src, re.S):
            keys.update(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', m.group(1)))
    return keys


def test_man_pages_document_every_key_and_command():
    with open(os.path.join(TOP, "man", "krxd.conf.5")) as f:
        page = f.read()
    keys = conf_keys()
    assert len(keys) > 60 and {"workers", "keystore", "kmsConfig"} <= keys
    missing = sorted(k for k in keys
                     if not re.search(rf"\bIc {re.escape(k)}\b", page))
    assert missing == [], "krxd.conf(5) lacks .Ic for: " + " ".join(missing)
    with open(os.path.join(TOP, "ctl", "krx-ctl.c")) as f:
        words = re.findall(r'^\s*\{ "([a-z-]+)", cmd_', f.read(), re.M)
    with open(os.path.join(TOP, "man", "krx-ctl.8")) as f:
        page = f.read()
    assert "status" in words and "reload" in words
    missing = [w for w in words if not re.search(
        rf"^\.It (Nm |Ic )?(Cm )?{re.escape(w)}\b", page, re.M)]
    assert missing == [], "krx-ctl(8) lacks: " + " ".join(missing)


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >>"{log}"
case "$(basename "$0") $*" in
*was-enabled*) exit {was_enabled} ;;
*debian-installed*) exit {installed} ;;
esac
exit 0
"""


def run_postinst(deb, tmp_path, *args, was_enabled=1, installed=1):
    """The package's postinst under DPKG_ROOT (systemd-sysusers and
    systemd-tmpfiles really run, on the scratch root), with the
    init-system-helpers and systemctl replaced by stubs that log their
    arguments. Returns (root, calls)."""
    root = str(tmp_path / "root")
    r = run("dpkg-deb", "-R", deb, root)
    assert r.returncode == 0, r.stderr
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    log.touch()
    for name in ("deb-systemd-helper", "deb-systemd-invoke", "systemctl"):
        p = bin_dir / name
        p.write_text(STUB.format(log=log, was_enabled=was_enabled,
                                 installed=installed))
        p.chmod(0o755)
    env = dict(MAKE_ENV, DPKG_ROOT=root,
               PATH=f"{bin_dir}:{os.environ['PATH']}")
    r = run("sh", "-e", os.path.join(root, "DEBIAN", "postinst"), *args,
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    return root, log.read_text().splitlines()


def test_postinst_fresh_install_does_not_enable(deb, tmp_path):
    root, calls = run_postinst(deb, tmp_path, "configure", "")
    with open(os.path.join(root, "etc/passwd")) as f:
        users = {l.split(":")[0] for l in f}
    assert {"krx", "krx-keys"} <= users
    assert os.path.isdir(os.path.join(root, "var/lib/krx/keys"))
    assert "deb-systemd-helper update-state krxd.service" in calls
    assert not any(" enable " in c for c in calls), calls


def test_postinst_keeps_an_admins_enable(deb, tmp_path):
    _root, calls = run_postinst(deb, tmp_path, "configure", "0.0.9-1",
                                was_enabled=0, installed=0)
    assert "deb-systemd-helper enable krxd.service" in calls, calls
