"""A worker killed with SIGKILL is respawned and clients recover.

krxd runs two workers. While an idempotent confluent-kafka producer sends
records through krxd at a steady rate, the worker holding the producer's
connections is killed with kill -9. The master logs "worker S (pid P)
killed by signal 9" and "respawning worker", krx-ctl status shows a new pid
in that slot and two running workers again, the producer goes on and
finishes (at least N records) without a delivery error, and every record is
in the topic exactly once (read directly and through krxd).
"""

import os
import signal
import threading

import pytest
from confluent_kafka import Producer

import krxtest
import tools

N = 10000          # at least this many records in all
RATE_BATCH = 100   # records between pauses
PAUSE = 0.02       # seconds: about 5,000 records/s
PARTITIONS = 3


class ProducerThread(threading.Thread):
    """Produces values 0, 1, 2, ... at a steady rate until stop is set
    and at least N were produced."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.produced = 0
        self.delivered = 0
        self.errors = []
        self.left = None
        self.exc = None
        self.stop = threading.Event()

    def dr(self, err, msg):
        if err is not None:
            self.errors.append(err)
        else:
            self.delivered += 1

    def run(self):
        try:
            p = Producer({"bootstrap.servers": self.bootstrap,
                          "enable.idempotence": True, "acks": "all",
                          "retries": 1000000, "retry.backoff.ms": 100,
                          "message.timeout.ms": 120000,
                          "reconnect.backoff.ms": 50,
                          "reconnect.backoff.max.ms": 500,
                          "linger.ms": 5, "log_level": 2})
            i = 0
            while i < N or not self.stop.is_set():
                p.produce(self.topic, partition=i % PARTITIONS,
                          value=b"%08d" % i, on_delivery=self.dr)
                i += 1
                self.produced = i
                if i % RATE_BATCH == 0:
                    p.poll(0)
                    self.stop.wait(PAUSE)
                if i > 50 * N:
                    raise RuntimeError("told to stop too late")
            self.left = p.flush(150)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.exc = e


def client_sockets(krxd, pid):
    """Connections pid holds on krxd's listening ports (client side)."""
    return [lp for lp, rp in krxtest.established_ports(pid)
            if lp in krxd.ports]


@pytest.mark.krxd(workers=2)
def test_worker_respawn(kafka, krxd, topic_name):
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    before = krxd.workers_status()
    assert len(before) == 2 and all(w["state"] == "running" for w in before)

    t = ProducerThread(krxd.bootstrap, topic)
    t.start()
    try:
        krxtest.wait_for(lambda: t.delivered >= 1000 or t.exc, 60,
                         "the producer to get going through krxd")
        assert t.exc is None, t.exc

        pids = [w["pid"] for w in before]
        victim = max(pids, key=lambda pid: len(client_sockets(krxd, pid)))
        assert client_sockets(krxd, victim), \
            "no worker holds the producer's connection"
        slot = next(w["slot"] for w in before if w["pid"] == victim)
        log_at = krxd.log_size()
        krxd.expected_deaths.add(victim)
        os.kill(victim, signal.SIGKILL)

        krxd.wait_log(rf"worker {slot} \(pid {victim}\) killed by signal 9",
                      timeout=10, start=log_at)
        krxd.wait_log(r"respawning worker", timeout=10, start=log_at)

        def respawned():
            ws = krxd.workers_status()
            new = [w for w in ws if w["slot"] == slot]
            return (len(ws) == 2
                    and all(w["state"] == "running" for w in ws)
                    and new and new[0]["pid"] != victim
                    and new[0]["restarts"] >= 1 and new[0]["pid"])
        new_pid = krxtest.wait_for(respawned, 30, "worker respawn in status")
        assert krxtest.pid_alive(new_pid) and not krxtest.pid_alive(victim)
        other = [p for p in pids if p != victim][0]
        assert other in krxd.worker_pids(), "the other worker changed too"

        # The producer recovers: deliveries go on after the respawn.
        d0 = t.delivered
        krxtest.wait_for(lambda: t.delivered >= d0 + 2000 or t.exc
                         or t.errors, 90, "deliveries after the respawn")
    finally:
        t.stop.set()
        t.join(180)
    assert not t.is_alive(), "producer did not finish"
    assert t.exc is None, t.exc
    assert not t.errors, f"delivery errors: {t.errors[:5]}"
    assert t.left == 0 and t.delivered == t.produced >= N
    krxd.assert_running()
    total = t.produced

    parts = list(range(PARTITIONS))
    for bs in (kafka.bootstrap, krxd.bootstrap):
        recs = tools.read_partitions(bs, topic, parts)
        values = [r[4] for q in parts for r in recs[q]]
        assert len(values) == total, \
            f"{len(values)} records in the topic, {total} produced"
        assert sorted(values) == [b"%08d" % i for i in range(total)]
        for q in parts:  # per partition, in produce order
            vs = [int(r[4]) for r in recs[q]]
            assert vs == sorted(vs) and all(v % PARTITIONS == q for v in vs)
