"""Reload under load (issue 11): no record lost, none twice, no refused
connection.

An encrypting krxd (2 workers) carries, continuously, Kafka's
VerifiableProducer (the broker's jars; idempotent, acks=all, 250
records/s) and a confluent-kafka consumer group, while krxd is reloaded
five times, SIGHUP and krx-ctl reload alternating, each time waiting
until the new generation serves alone. A prober connects in a loop to
every krxd port (bootstrap and node ports) all along and counts refused
connections.

Checked: the producer ran through all five reloads and reports no send
error, every record sent acknowledged; the group consumed every
acknowledged value exactly once (none missing, none twice) and saw no
error other than a retriable disconnect; at the broker every record of
the topic carries the encryption header and decrypts (the test's own
code, LocalKms keystore) to an acknowledged value, each once; the prober
made connection attempts throughout and none was refused.
"""

import json
import socket
import subprocess
import threading

from confluent_kafka import Consumer, KafkaError

import enctest
import krxtest
import reloadtest
import tools

N = 12_000
RATE = 250
PREFIX = 7
RELOADS = 5
VERIFIABLE_PRODUCER = "org.apache.kafka.tools.VerifiableProducer"
PROPS = {"enable.idempotence": "true", "acks": "all", "linger.ms": 5,
         # VerifiableProducer sets retries=0, which idempotence refuses
         "retries": 2147483647, "delivery.timeout.ms": 120000,
         "request.timeout.ms": 30000}


class Prober(threading.Thread):
    """Connects to each port in turn until stopped; counts refusals."""

    def __init__(self, host, ports):
        super().__init__(daemon=True)
        self.host, self.ports = host, ports
        self.attempts = self.refused = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for p in self.ports:
                s = socket.socket()
                s.settimeout(5)
                try:
                    s.connect((self.host, p))
                except ConnectionRefusedError:
                    self.refused += 1
                except OSError:
                    pass
                finally:
                    s.close()
                self.attempts += 1
            self.stop.wait(0.005)


class GroupConsumer(threading.Thread):
    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": f"{topic}-group",
                           "auto.offset.reset": "earliest",
                           "enable.auto.commit": True, "log_level": 3})
        self.c.subscribe([topic])
        self.values = []
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            m = self.c.poll(0.2)
            if m is None:
                continue
            if m.error():
                self.errors.append(m.error())
            else:
                self.values.append(m.value())
        self.c.close()


def start_producer(bootstrap, topic, tmp_path):
    """VerifiableProducer, its JSON events and log into files."""
    conf = tmp_path / "producer.properties"
    conf.write_text("".join(f"{k}={v}\n" for k, v in PROPS.items()))
    cmd = tools.java_tool_cmd(
        VERIFIABLE_PRODUCER,
        ["--bootstrap-server", bootstrap, "--topic", topic,
         "--max-messages", N, "--throughput", RATE, "--acks", -1,
         "--value-prefix", PREFIX, "--producer.config", str(conf)])
    with open(tmp_path / "producer.out", "wb") as out, \
            open(tmp_path / "producer.err", "wb") as err:
        return subprocess.Popen(cmd, stdout=out, stderr=err)


def progress(what, cons, tmp_path):
    """What the clients say, for a failure message."""
    err = (tmp_path / "producer.err").read_bytes().decode(errors="replace")
    out = (tmp_path / "producer.out").read_bytes().split(b"\n")
    return (f"{what}: consumed {len(cons.values)}, consumer errors "
            f"{cons.errors[-5:]}; producer events {len(out)}, last "
            f"{out[-3:]!r}; producer stderr:\n{err[-3000:]}")


def producer_events(out):
    events = {}
    for ln in out.split(b"\n"):
        if ln.startswith(b"{"):
            ev = json.loads(ln)
            events.setdefault(ev["name"], []).append(ev)
    return events


def retriable(err):
    return err.code() in (KafkaError._TRANSPORT,
                          KafkaError._ALL_BROKERS_DOWN) or err.retriable()


def test_reload_under_load(kafka, krxd_factory, topic_name, tmp_path):
    krxd = enctest.enc_krxd(krxd_factory, workers=2, log_level="debug")
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    prober = Prober(krxd.host, krxd.ports)
    prober.start()
    cons = GroupConsumer(krxd.bootstrap, topic)
    cons.start()
    prod = start_producer(krxd.bootstrap, topic, tmp_path)
    try:
        krxtest.wait_for(lambda: len(cons.values) >= 200, 90,
                         "records consumed before the first reload")
        for i in range(RELOADS):
            seen = len(cons.values)
            gen = reloadtest.reload_ok(krxd, "hup" if i % 2 else "ctl")
            assert gen == i + 2
            assert prod.poll() is None, "the producer ended before " \
                f"reload {i + 1}: make N larger"
            try:
                krxtest.wait_for(lambda: len(cons.values) >= seen + 200,
                                 60, f"records consumed after reload {i + 1}")
            except TimeoutError as e:
                raise AssertionError(progress(str(e), cons, tmp_path))
        prod.wait(timeout=240)
    finally:
        if prod.poll() is None:
            prod.kill()
            prod.wait()
        prober.stop.set()
        prober.join(10)
    events = producer_events((tmp_path / "producer.out").read_bytes())
    stderr = (tmp_path / "producer.err").read_bytes().decode(errors="replace")
    assert not events.get("producer_send_error"), \
        f"send errors: {events['producer_send_error'][:3]}\n{stderr[-2000:]}"
    td = events.get("tool_data")
    assert td and td[-1]["sent"] == N and td[-1]["acked"] == N, \
        f"tool_data {td}; stderr:\n{stderr[-2000:]}"
    acked = {ev["value"].encode() for ev in events["producer_send_success"]}
    assert len(acked) == N

    try:
        krxtest.wait_for(lambda: len(set(cons.values)) >= N, 90,
                         "every acknowledged record consumed")
    finally:
        cons.stop.set()
        cons.join(30)
    assert set(cons.values) == acked
    assert len(cons.values) == N, \
        f"{len(cons.values) - N} records consumed twice"
    bad = [e for e in cons.errors if not retriable(e)]
    assert not bad, f"consumer errors: {bad[:5]}"

    dec = enctest.Decryptor(krxd.keystore)
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    plain = []
    for rec in direct:
        hdrs, val = rec[5], rec[4]
        assert hdrs and hdrs[0] == (enctest.ENC_HEADER, b"\x02"), \
            f"offset {rec[2]}: not encrypted at the broker"
        plain.append(dec.open(val)[0])
    assert sorted(plain) == sorted(acked), "broker records != acknowledged"

    assert prober.attempts > 100, prober.attempts
    assert prober.refused == 0, \
        f"{prober.refused} of {prober.attempts} connections refused"
    assert krxd.status()["generation"] == RELOADS + 1
