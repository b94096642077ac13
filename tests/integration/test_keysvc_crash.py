"""keysvc killed with SIGKILL: respawned, and requests in flight fail
with a retriable Kafka error, never a closed connection.

- Respawn: kill -9 keysvc; the master logs "keysvc 0 (pid P) killed by
  signal 9" and "respawning keysvc", krx-ctl status shows a new pid with
  restarts 1 while the workers keep their pids, the workers log that they
  lost the channel and get a new one, and the KEKs (in the keystore file)
  are all still there: kms check works, records produced before and after
  decrypt through krxd.
- Produce in flight: keysvc is stopped (SIGSTOP) and a producer sends to a
  new encrypted topic; once the worker's resolve request sits unread in
  keysvc's socket, keysvc is killed. The worker logs "lost the key service
  channel ... failing pending requests" and answers the Produce at once
  with a retriable error (REQUEST_TIMED_OUT; not NETWORK_EXCEPTION, which
  librdkafka takes as permanent in a ProduceResponse) that a producer
  without retries sees in its delivery report, on a connection that stays
  open; the same producer delivers once keysvc is back. An idempotent
  producer with retries delivers every record without an error. The
  broker holds every delivered record encrypted, and not the failed one.
- Produce pipelined (regression): an idempotent producer's
  first write to a new topic waits for the stopped keysvc with more
  requests pipelined behind it; keysvc dies while the worker is stopped,
  so the worker sees the loss and the new channel together. Every record
  reported delivered must be in the topic: krxd fails the batches
  pipelined behind the failed one until it is retried.
- Fetch in flight: with the DEK nowhere but in the records (keysvc and the
  workers restarted), keysvc is stopped while a consumer fetches, killed
  once the decrypt request is queued: the worker answers that partition
  with KAFKA_STORAGE_ERROR (56) and the consumer, retrying, gets every
  record decrypted from the respawned keysvc.
"""

import os
import re
import signal
import subprocess
import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             Producer, TopicPartition)

import keytest
import krxtest
import tools


def keysvc_queued(pid):
    """Bytes waiting unread in keysvc's worker channels (its sockets
    other than fd 3, the master channel), from ss's Recv-Q."""
    out = subprocess.run(["ss", "-xpn"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True,
                         timeout=10).stdout
    n = 0
    for ln in out.splitlines():
        m = re.search(rf"pid={pid},fd=(\d+)\)", ln)
        if m and m.group(1) != "3":
            n += int(ln.split()[2])
    return n


def kill_keysvc(krxd):
    """kill -9 keysvc; returns (old pid, new status entry)."""
    old = keytest.keysvc_status(krxd)["pid"]
    at = krxd.log_size()
    krxd.expected_deaths.add(old)
    os.kill(old, signal.SIGKILL)
    krxd.wait_log(rf"keysvc 0 \(pid {old}\) killed by signal 9", start=at)
    return old, keytest.wait_keysvc(krxd, not_pid=old)


def client_ports(krxd):
    """Our own TCP connections to krxd's listeners (local ports)."""
    return {lp for lp, rp in krxtest.established_ports(os.getpid())
            if rp in krxd.ports}


def test_keysvc_respawn(kafka, krxd_factory, tmp_path, topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    t1, t2 = topic_name + "-a", topic_name + "-b"
    keytest.kek_create(krxd, f"KEK-{t1}")
    v1 = [b"a-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, t1, v1)
    workers = sorted(krxd.worker_pids())
    before = keytest.keysvc_status(krxd)
    assert before["restarts"] == 0

    at = krxd.log_size()
    old, now = kill_keysvc(krxd)
    assert now["pid"] != old and now["restarts"] == 1
    assert not krxtest.pid_alive(old)
    krxd.wait_log(r"respawning keysvc", start=at)
    assert sorted(krxd.worker_pids()) == workers, \
        "a keysvc crash must not take the workers with it"
    krxd.wait_log(r"lost the key service channel", start=at)
    # Each worker is handed a channel to the new keysvc.
    krxtest.wait_for(lambda: len(re.findall(
        r"worker\[\d\]: connected to the key service",
        krxd.log_text()[at:])) >= 2, 10, "workers reconnected to keysvc")

    assert f"KEK-{t1}" in keytest.kek_list(krxd)
    r = keytest.ctl(krxd, "kms", "check", f"KEK-{t1}")
    assert (r.returncode, r.stdout) == (0, "Ok\n"), r.stderr
    keytest.kek_create(krxd, f"KEK-{t2}")
    v2 = [b"b-%03d" % i for i in range(50)]
    keytest.produce(krxd.bootstrap, t2, v2)

    for t, v in ((t1, v1), (t2, v2)):
        keytest.check_encrypted(keytest.records(kafka.bootstrap, t),
                                f"KEK-{t}", v)
        assert [r[4] for r in keytest.records(krxd.bootstrap, t)] == v
    assert keytest.keysvc_status(krxd)["pid"] == now["pid"]


# Produce errors both librdkafka and the Java client retry. Not
# NETWORK_EXCEPTION (13): retriable for Java, permanent for librdkafka.
RETRIABLE = {KafkaError.REQUEST_TIMED_OUT: 7,
             KafkaError.KAFKA_STORAGE_ERROR: 56}


def producer(krxd, **conf):
    c = {"bootstrap.servers": krxd.bootstrap, "acks": "all",
         "linger.ms": 0, "log_level": 2, "reconnect.backoff.ms": 50,
         "reconnect.backoff.max.ms": 500}
    c.update(conf)
    return Producer(c)


def warm_up(p, kafka, topic):
    """Connections and metadata through krxd before keysvc is stopped:
    one record to a topic without a KEK (passed through in clear), and
    the metadata of topic (needs no keysvc)."""
    errs = []
    warm = topic + "-warm"
    tools.create_topics(kafka.bootstrap, {warm: 1, topic: 1})
    p.produce(warm, value=b"warm", partition=0,
              on_delivery=lambda e, m: errs.append(e))
    assert p.flush(30) == 0 and errs == [None], errs
    p.list_topics(topic, timeout=10)


def stall_keysvc(krxd, pump, what):
    """SIGSTOP keysvc, then call pump() (which sends the client's
    request) until a worker's key request waits unread in keysvc's
    socket; returns keysvc's pid, still stopped: the caller kills it.
    Its death is expected."""
    ks = keytest.keysvc_status(krxd)["pid"]
    krxd.expected_deaths.add(ks)
    os.kill(ks, signal.SIGSTOP)
    try:
        def queued():
            pump()
            return keysvc_queued(ks) > 0
        krxtest.wait_for(queued, 30, what)
    except BaseException:
        os.kill(ks, signal.SIGKILL)
        raise
    return ks


def test_produce_in_flight(kafka, krxd_factory, tmp_path, topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    topic = topic_name
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    reports = []

    def dr(err, msg):
        reports.append((err, msg.value()))
    # No retries: the delivery report carries krxd's answer.
    p = producer(krxd, **{"enable.idempotence": False, "retries": 0,
                          "message.timeout.ms": 60000})
    warm_up(p, kafka, topic)

    def pump():
        if not pump.sent:
            p.produce(topic, value=b"lost", partition=0, on_delivery=dr)
            pump.sent = True
        p.poll(0.05)
    pump.sent = False
    at = krxd.log_size()
    ks = stall_keysvc(krxd, pump, "the worker's key request to wait in "
                      "keysvc")
    try:
        p.poll(0.5)
        assert reports == [], "answered while keysvc was stopped"
        conns = client_ports(krxd)
        assert conns
    finally:
        os.kill(ks, signal.SIGKILL)
    t_kill = time.monotonic()
    assert p.flush(20) == 0
    assert time.monotonic() - t_kill < 15, \
        "the Produce was answered by the deadline, not by the channel loss"
    assert len(reports) == 1 and reports[0][1] == b"lost"
    err = reports[0][0]
    assert err is not None and err.code() in RETRIABLE, \
        f"delivery report: {err!r}, want one of {sorted(RETRIABLE)}"
    krxd.wait_log(r"lost the key service channel \([^)]*\); failing "
                  r"pending requests", start=at)
    krxd.wait_log(rf"Produce answered with error {RETRIABLE[err.code()]}\b",
                  start=at)
    # The client's connections survived: an error answer, not a close.
    assert conns <= client_ports(krxd), "krxd closed a client connection"

    now = keytest.wait_keysvc(krxd, not_pid=ks)
    assert now["restarts"] == 1
    values = [b"p-%04d" % i for i in range(50)]
    for v in values:
        p.produce(topic, value=v, partition=0, on_delivery=dr)
    assert p.flush(60) == 0
    errs = [(e, v) for e, v in reports[1:] if e]
    assert not errs, f"delivery errors after keysvc came back: {errs[:3]}"
    assert conns <= client_ports(krxd)

    # Every delivered record is encrypted at the broker; the failed one
    # was never forwarded.
    raw = keytest.records(kafka.bootstrap, topic)
    keytest.check_encrypted(raw, kek, values + [b"lost"])
    got = [r[4] for r in keytest.records(krxd.bootstrap, topic)]
    assert got == values


def test_produce_in_flight_retried(kafka, krxd_factory, tmp_path,
                                   topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    topic = topic_name
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    reports = []

    def dr(err, msg):
        reports.append((err, msg.value()))
    # An idempotent producer with retries rides out the keysvc crash.
    # One request in flight: with more, see test_produce_pipelined.
    p = producer(krxd, **{"enable.idempotence": True, "retries": 1000000,
                          "retry.backoff.ms": 200,
                          "max.in.flight.requests.per.connection": 1,
                          "message.timeout.ms": 120000})
    warm_up(p, kafka, topic)
    values = [b"r-%04d" % i for i in range(200)]

    def pump():
        if not reports and len(values) > pump.sent:
            for v in values[pump.sent:pump.sent + 20]:
                p.produce(topic, value=v, partition=0, on_delivery=dr)
            pump.sent += 20
        p.poll(0.05)
    pump.sent = 0
    at = krxd.log_size()
    ks = stall_keysvc(krxd, pump, "the worker's key request to wait "
                      "in keysvc")
    try:
        for v in values[pump.sent:]:
            p.produce(topic, value=v, partition=0, on_delivery=dr)
        p.poll(0.2)
        assert reports == [], "answered while keysvc was stopped"
    finally:
        os.kill(ks, signal.SIGKILL)
    krxd.wait_log(r"lost the key service channel \([^)]*\); failing "
                  r"pending requests", start=at)
    assert p.flush(150) == 0
    errs = [(e, v) for e, v in reports if e]
    assert not errs, f"{len(errs)} delivery errors: {errs[:3]}"
    assert sorted(v for _, v in reports) == values
    assert keytest.wait_keysvc(krxd, not_pid=ks)["restarts"] == 1

    raw = keytest.records(kafka.bootstrap, topic)
    keytest.check_encrypted(raw, kek, values)
    got = [r[4] for r in keytest.records(krxd.bootstrap, topic)]
    assert (len(raw), len(got)) == (len(values), len(values)), \
        f"{len(raw)} records at the broker, {len(got)} through krxd, " \
        f"{len(values)} delivered; missing through krxd: " \
        f"{sorted(set(values) - set(got))[:5]}, offsets at the broker: " \
        f"{[r[2] for r in raw][:5]}"
    assert got == values


def test_produce_pipelined(kafka, krxd_factory, tmp_path, topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=1)
    topic = topic_name
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    reports = []

    def dr(err, msg):
        reports.append((err, msg.value()))
    p = producer(krxd, **{"enable.idempotence": True, "retries": 1000000,
                          "retry.backoff.ms": 200,
                          "message.timeout.ms": 60000})
    warm_up(p, kafka, topic)
    values = [b"q-%04d" % i for i in range(50)]

    def pump():
        if not pump.sent:
            p.produce(topic, value=values[0], partition=0, on_delivery=dr)
            pump.sent = True
        p.poll(0.05)
    pump.sent = False
    # The first request waits for keysvc; the others queue behind it on
    # the same connection.
    ks = stall_keysvc(krxd, pump, "the worker's key request to wait in "
                      "keysvc")
    try:
        for v in values[1:]:
            p.produce(topic, value=v, partition=0, on_delivery=dr)
            p.poll(0.01)
        p.poll(0.5)
        assert reports == []
        # The worker sees keysvc's end and the new channel together.
        worker = krxd.worker_pids()[0]
        os.kill(worker, signal.SIGSTOP)
    finally:
        os.kill(ks, signal.SIGKILL)
    try:
        keytest.wait_keysvc(krxd, not_pid=ks)
        time.sleep(0.2)
    finally:
        os.kill(worker, signal.SIGCONT)
    assert p.flush(90) == 0
    delivered = {v for e, v in reports if e is None}
    failed = [(e, v) for e, v in reports if e is not None]
    got = [r[4] for r in keytest.records(krxd.bootstrap, topic)]
    lost = sorted(delivered - set(got))
    assert not lost, f"reported delivered but not in the topic: {lost}"
    assert not failed and got == values, (failed[:3], len(got))


def test_fetch_in_flight(kafka, krxd_factory, tmp_path, topic_name):
    krxd, _, _ = keytest.make_encrypting(krxd_factory, tmp_path, workers=2)
    topic = topic_name
    kek = f"KEK-{topic}"
    keytest.kek_create(krxd, kek)
    values = [b"f-%04d" % i for i in range(100)]
    keytest.produce(krxd.bootstrap, topic, values)
    keytest.check_encrypted(keytest.records(kafka.bootstrap, topic), kek,
                            values)
    # Forget the DEK everywhere but in the records: a new keysvc starts
    # an empty DEK cache, new workers have nothing in memory.
    kill_keysvc(krxd)
    keytest.kill_workers(krxd)
    assert keytest.cache_stats(krxd)["keysvc.decrypt_edeks"] == 0

    c = Consumer({"bootstrap.servers": krxd.bootstrap,
                  "group.id": "krx-inflight", "enable.auto.commit": False,
                  "log_level": 2, "fetch.error.backoff.ms": 200,
                  "reconnect.backoff.ms": 50,
                  "reconnect.backoff.max.ms": 500})
    got, errors = [], []

    def poll(t):
        m = c.poll(t)
        if m is None:
            return
        if m.error():
            errors.append(m.error())
        else:
            got.append(m.value())

    ks = keytest.keysvc_status(krxd)["pid"]
    krxd.expected_deaths.add(ks)
    at = krxd.log_size()
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        poll(0.1)    # connect before keysvc stops
        os.kill(ks, signal.SIGSTOP)

        def queued():
            poll(0.05)
            return keysvc_queued(ks) > 0
        krxtest.wait_for(queued, 30, "the decrypt request to wait in keysvc")
        assert got == [], "records decrypted while keysvc was stopped"
        conns = client_ports(krxd)
    finally:
        os.kill(ks, signal.SIGKILL)
    try:
        krxd.wait_log(r"lost the key service channel \([^)]*\); failing "
                      r"pending requests", start=at)
        krxd.wait_log(rf"cannot decrypt records of {re.escape(topic)}-0 "
                      rf"\(KEK {re.escape(kek)} version 1\): key service or "
                      r"KMS unavailable; answering error 56", start=at)
        deadline = time.monotonic() + 60
        while len(got) < len(values) and time.monotonic() < deadline:
            poll(0.2)
        assert conns <= client_ports(krxd), \
            "krxd closed the consumer's connection"
    finally:
        c.close()
    assert got == values, f"{len(got)} of {len(values)} records"
    assert all(e.code() == KafkaError.KAFKA_STORAGE_ERROR for e in errors), \
        errors
    now = keytest.wait_keysvc(krxd, not_pid=ks)
    assert now["restarts"] == 2
    assert keytest.cache_stats(krxd)["keysvc.decrypt_edeks"] >= 1
