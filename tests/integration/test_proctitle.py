"""Process titles, as nginx has them (issue 11): ps tells krxd's
processes apart. An encrypting krxd with two workers: the master's
command line reads "krxd: master", each worker's "krxd: worker N
(generation 1)" and the key service's "krxd: keysvc", both in
/proc/PID/cmdline and in ps's args column; a respawned worker gets its
title again. The process name (comm) is "krxd" for all of them (the key
service, exec'd through /proc/self/exe, would be "exe"), so pidof and
killall find them."""

import os
import signal
import subprocess

import enctest
import keytest
import krxtest


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def ps_args(pid):
    r = subprocess.run(["ps", "-o", "args=", "-p", str(pid)],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def test_proctitle(krxd_factory):
    krxd = enctest.enc_krxd(krxd_factory, workers=2)
    keytest.wait_keysvc(krxd)
    want = {krxd.proc.pid: "krxd: master"}
    for c in krxd.status()["children"]:
        want[c["pid"]] = ("krxd: keysvc" if c["kind"] == "keysvc" else
                          f"krxd: worker {c['slot']} (generation 1)")
    assert sorted(want.values()) == ["krxd: keysvc", "krxd: master",
                                     "krxd: worker 0 (generation 1)",
                                     "krxd: worker 1 (generation 1)"], want
    for pid, title in want.items():
        assert cmdline(pid) == title, (pid, cmdline(pid), title)
        assert ps_args(pid) == title, (pid, ps_args(pid), title)
        assert comm(pid) == "krxd", (pid, comm(pid))

    old = [c for c in krxd.workers_status() if c["slot"] == 1][0]["pid"]
    krxd.expected_deaths.add(old)
    os.kill(old, signal.SIGKILL)

    def respawned():
        ws = [c for c in krxd.workers_status() if c["slot"] == 1]
        return ws and ws[0]["pid"] != old and ws[0]["state"] == "running" \
            and ws[0]["pid"]
    pid = krxtest.wait_for(respawned, 30, "worker 1 respawned")
    assert cmdline(pid) == "krxd: worker 1 (generation 1)"
