"""Reload (issue 11): the old generation drains, it is not cut off.

A raw client (enctest.KafkaConn) sends a Fetch with max_wait 5 s for an
empty partition through krxd's node port; once krxd has forwarded it
(its log shows the broker connection made for it), krx-ctl reload runs.
The reload answers while the old worker is still alive (draining, with
that request in flight); the Fetch then gets its answer (error 0, after
most of max_wait, i.e. the broker's, not a cut connection); after it
the old worker closes the connection (at the request boundary) and
exits. ps shows the new worker as "krxd: worker 0 (generation 2)" and,
while it drains, the old one as "... (generation 1)". A second reload
while generation 1 drains is refused (exit 1): never three generations.
"""

import re
import threading
import time

import enctest
import krxtest
import reloadtest
import tools

MAX_WAIT_MS = 5000


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().rstrip(b"\0").replace(b"\0", b" ").decode()


def test_reload_lets_a_slow_fetch_finish(kafka, krxd_factory, topic_name):
    krxd = krxd_factory.make(workers=1, log_level="debug")
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    old = krxd.worker_pids()
    assert len(old) == 1 and cmdline(old[0]) == \
        "krxd: worker 0 (generation 1)"
    start = krxd.log_size()
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1), timeout=60)
    out = {}

    def slow_fetch():
        t0 = time.monotonic()
        try:
            _, res = conn.fetch({topic_name: {0: 0}},
                                max_wait_ms=MAX_WAIT_MS)
            out["res"] = res
        except Exception as e:      # noqa: BLE001 (reported below)
            out["error"] = e
        out["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=slow_fetch)
    th.start()
    try:
        krxd.wait_log(r"connected to broker", start=start)
        r = reloadtest.ctl_reload(krxd)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "generation 2 serving" in r.stdout
        assert "elapsed" not in out, f"the Fetch ended early: {out}"
        st = krxd.status()
        assert [g["state"] for g in st["generations"]] == \
            ["serving", "draining"], st
        assert krxtest.pid_alive(old[0])
        assert cmdline(old[0]) == "krxd: worker 0 (generation 1)"
        # Never more than two generations: no reload while one drains.
        r2 = reloadtest.ctl_reload(krxd)
        assert r2.returncode == 1 and "generation 1 is still draining" \
            in r2.stderr, r2.stdout + r2.stderr
        new = [c["pid"] for c in st["children"]
               if c["generation"] == 2 and c["kind"] == "worker"]
        assert len(new) == 1
        assert cmdline(new[0]) == "krxd: worker 0 (generation 2)"
    finally:
        th.join(30)
    assert "error" not in out, f"the Fetch was cut: {out['error']!r}"
    assert out["res"][(topic_name, 0)]["error"] == 0
    assert out["elapsed"] > MAX_WAIT_MS / 1000 * 0.5, out
    # Closed at the request boundary, then the old worker exits.
    try:
        conn.api_versions()
        assert False, "the draining worker kept the connection open"
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()
    krxtest.wait_for(lambda: not krxtest.pid_alive(old[0]), 30,
                     "old worker gone")
    reloadtest.wait_serving(krxd, 2)
    assert re.search(r"generation 1: worker 0, pid %d, ended \(status 0\)"
                     % old[0], krxd.log_text())
