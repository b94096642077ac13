"""Issue 9, finding 4: Produce requests waiting for keys count against
worker_buffer_bytes.

A Produce request to an encrypted topic waits in the worker, copied out
of the client's input, while its KEK is resolved. Those copies belong to
the worker's budget: with keysvc stopped (SIGSTOP, so nothing resolves),
eight clients each send a 12 MiB Produce to a topic whose KEK the worker
has not resolved yet. With worker_buffer_bytes = 48 MiB the worker may
read about four of them; the others wait for room, unread. Before the
copies were charged, every request was read and held (96 MiB).

Measured by the bytes the worker read (/proc/PID/io rchar). keysvc is
then resumed and every client gets its answer.
"""

import os
import signal
import threading

import enctest
import krxtest
import tools

MiB = 1024 * 1024
CLIENTS = 8
REQUEST = 12 * MiB
BUDGET = 48 * MiB


def rchar(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError(f"no rchar for {pid}")


def test_issue9_session_held(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(
        krxd_factory, workers=1,
        extra=f"max_frame_bytes = {16 * MiB};\n"
              f"worker_buffer_bytes = {BUDGET};\n")
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    enctest.kek(krxd, "create", f"KEK-{topic_name}")
    worker = krxd.worker_pids()[0]
    keysvc = enctest.keysvc_pid(krxd)

    batch = enctest.encode_batch([(b"k", os.urandom(REQUEST - 4096), ())])
    conns = [enctest.KafkaConn(krxd.host, krxd.node_port(1), timeout=90)
             for _ in range(CLIENTS)]
    for c in conns:
        assert c.api_versions()[0] == 0
    answers, errors = [], []

    def produce(c):
        try:
            answers.append(c.produce({topic_name: {0: batch}}))
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    before = rchar(worker)
    os.kill(keysvc, signal.SIGSTOP)
    threads = [threading.Thread(target=produce, args=(c,)) for c in conns]
    try:
        for t in threads:
            t.start()
        # The worker reads until its budget is full, then nothing more.
        last = [-1]

        def settled():
            now = rchar(worker) - before
            done, last[0] = now == last[0], now
            return done and now > 2 * REQUEST
        krxtest.wait_for(settled, 30, "the worker to stop reading",
                         interval=0.5)
        read = rchar(worker) - before
        assert read < BUDGET + 2 * REQUEST, \
            f"the worker read {read >> 20} MiB with a {BUDGET >> 20} MiB " \
            f"budget"
    finally:
        try:
            os.kill(keysvc, signal.SIGCONT)
        except ProcessLookupError:
            pass    # the master's liveness check replaced it
    for t in threads:
        t.join(90)
    for c in conns:
        c.close()
    assert not errors, errors[:3]
    assert len(answers) == CLIENTS
    krxd.assert_running()
