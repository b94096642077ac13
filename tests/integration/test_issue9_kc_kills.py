"""Issue 9, finding 2: kills are not crashes.

The master used to count every death of a child toward its crash loop
("crashed 5 times in 60 seconds; giving up", exit 1). A worker the master
kills itself (keysvc reported it) or the OOM killer kills dies of SIGKILL,
and one bad record or client could so take the whole proxy down. Now a
SIGKILL death is respawned with backoff and never ends the master.

krxd runs one worker; the test kills it with kill -9 seven times in a
row, well within 60 s, each time waiting for its replacement to run. The
master stays up, logs no "giving up", and the last worker serves: a
produce and a read through krxd work.
"""

import os
import signal
import time

import pytest

import krxtest
import tools

KILLS = 7


@pytest.mark.krxd(workers=1)
def test_sigkill_loop_is_not_a_crash_loop(kafka, krxd, topic_name):
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    t0 = time.monotonic()
    pid = krxd.worker_pids()[0]
    for i in range(KILLS):
        krxd.expected_deaths.add(pid)
        os.kill(pid, signal.SIGKILL)

        def replaced(old=pid):
            ws = krxd.workers_status()
            if len(ws) == 1 and ws[0]["state"] == "running" and \
                    ws[0]["pid"] not in (0, old) and \
                    krxtest.pid_alive(ws[0]["pid"]):
                return ws[0]
            krxd.assert_running()
            return None
        w = krxtest.wait_for(replaced, 30, f"respawn after kill {i + 1}",
                             interval=0.05)
        assert w["restarts"] == i + 1, w
        pid = w["pid"]
    assert time.monotonic() - t0 < 60, "kills not within the crash window"
    krxd.assert_running()
    assert "giving up" not in krxd.log_text()

    p_vals = [b"after-kills-%d" % i for i in range(5)]
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    for v in p_vals:
        p.produce(topic_name, value=v, partition=0)
    assert p.flush(30) == 0
    got = tools.read_partitions(krxd.bootstrap, topic_name, [0])[0]
    assert [r[4] for r in got] == p_vals
