"""CPU time and memory of a process tree, from /proc.

tree(pid) is pid and all its descendants; cpu_ticks() the utime+stime of
each; hwm_kib()/rss_kib() the summed VmHWM/VmRSS; reset_hwm() restarts the
peak-RSS count (clear_refs 5) so that VmHWM covers one scenario only.
"""

import os
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    # the command name (field 2) may hold spaces and parentheses
    return st[st.rfind(")") + 2:].split()


def tree(root):
    """[root] plus every live descendant of root."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """{pid: utime+stime in clock ticks} for the pids still alive."""
    out = {}
    for p in pids:
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        # fields after the name start at 3 (state): utime is 14, stime 15
        out[p] = int(f[11]) + int(f[12])
    return out


def cpu_seconds_between(before, after):
    """CPU seconds spent between two cpu_ticks() samples (a pid that
    appeared in between counts in full)."""
    return sum(t - before.get(p, 0) for p, t in after.items()) / CLK_TCK


def _status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pids):
    return sum(_status_kib(p, "VmRSS") for p in pids)


def hwm_kib(pids):
    return sum(_status_kib(p, "VmHWM") for p in pids)


def reset_hwm(pids):
    """Reset the peak RSS of each pid to its current RSS (Linux >= 4.0,
    needs the right to write /proc/PID/clear_refs). False if any failed."""
    ok = True
    for p in pids:
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok


class ProxyProcess:
    """What the bench's proxy processes (krxd, Kroxylicious, HAProxy) share:
    self.proc (a Popen, None before start) writing to self.log_path.
    stop() terminates it, then kills it after STOP_WAIT seconds."""

    STOP_WAIT = 10

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        return tree(self.proc.pid)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(self.STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
