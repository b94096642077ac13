"""krxd behind a TCP load balancer (Debian's haproxy, on loopback).

PROXY protocol: haproxy sends a v2 header (and one on its health
checks) to a krxd whose virtual cluster has proxy_protocol = true; a
client connecting from 127.0.0.9 shows as 127.0.0.9 in krxd's
connection log line, not as haproxy's address, and clients work through
it. A connection without the header is refused with a log line.

Scale-out: two krxd instances with the same configuration (the same
ports, on 127.0.0.1 and 127.0.0.2; one LocalKms keystore; a DEK cache
each) behind haproxy on 127.0.0.3, which is what they advertise. An
idempotent producer writes through haproxy while each instance in turn
is killed with SIGKILL and started again: every acknowledged record is
read back once, decrypted, by a consumer that bootstraps from the
instance not killed last, and every record at the broker is encrypted.
"""

import os
import signal
import socket
import threading

import enctest
import haproxytest
import krxtest
import tools

LB = "127.0.0.3"


def ports(max_node_id=2):
    """Ports free on the balancer's and both instances' addresses."""
    return krxtest.free_port_range(max_node_id + 2, "127.0.0.1",
                                   also=(LB, "127.0.0.2"))


def connect_from(src, host, port):
    """A KafkaConn whose socket comes from address src."""
    s = socket.create_connection((host, port), timeout=20,
                                 source_address=(src, 0))
    c = enctest.KafkaConn.__new__(enctest.KafkaConn)
    c.sock = s
    c.corr = 0
    return c


def test_proxy_protocol_client_address(kafka, krxd_factory, tmp_path,
                                       topic_name):
    base = ports()
    k = krxd_factory.make(workers=2, base_port=base, advertised_host=LB,
                          vc_extra="    proxy_protocol = true;\n")
    lb = haproxytest.Haproxy(str(tmp_path / "lb"), LB, base, base + 3,
                             [("a", k.host)], send_proxy=True,
                             source="127.0.0.7").start()
    try:
        start = k.log_size()
        c = connect_from("127.0.0.9", LB, base)
        err, _ = c.api_versions()
        assert err == 0
        c.close()
        k.wait_log(r"client=127\.0\.0\.9:\d+: accepted on port %d" % base,
                   start=start)
        assert "client=127.0.0.7:" not in k.log_text()[start:]
        # clients work through it, on every port
        tools.create_topics(kafka.bootstrap, {topic_name: 1})
        vals = [b"pp-%d" % i for i in range(50)]
        assert enctest_produce(lb.bootstrap, topic_name, vals) == []
        got = tools.read_partitions(lb.bootstrap, topic_name, [0])[0]
        assert [r[4] for r in got] == vals
        # without the header: refused, and said so
        start = k.log_size()
        d = enctest.KafkaConn(k.host, base, timeout=10)
        try:
            d.api_versions()
            raise AssertionError("served without a PROXY header")
        except (ConnectionError, OSError):
            pass
        finally:
            d.close()
        k.wait_log(r"refused: no valid PROXY protocol header", start=start)
    finally:
        lb.stop()


def enctest_produce(bootstrap, topic, vals):
    from confluent_kafka import Producer
    errs = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": True, "log_level": 3})
    for v in vals:
        p.produce(topic, v, on_delivery=lambda e, m:
                  errs.append(e) if e else None)
    left = p.flush(60)
    return errs + ([f"{left} undelivered"] if left else [])


class SteadyProducer(threading.Thread):
    """An idempotent producer writing numbered values until stopped;
    .acked holds the values the broker acknowledged."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        from confluent_kafka import Producer
        self.p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                           "enable.idempotence": True, "linger.ms": 5,
                           "message.timeout.ms": 120000,
                           "reconnect.backoff.max.ms": 500,
                           "log_level": 0})
        self.topic = topic
        self.acked = []
        self.failed = []
        self.stop_ev = threading.Event()
        self.n = 0

    def _cb(self, err, msg):
        if err is None:
            self.acked.append(msg.value())
        else:
            self.failed.append(err)

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.p.produce(self.topic, b"v%08d" % self.n,
                               on_delivery=self._cb)
                self.n += 1
            except BufferError:
                pass
            self.p.poll(0.002)
        self.p.flush(120)


def test_two_instances_behind_haproxy(kafka, krxd_factory, tmp_path,
                                      topic_name):
    base = ports()
    keks = str(tmp_path / "keks")
    ks = []
    for i, host in enumerate(("127.0.0.1", "127.0.0.2")):
        ks.append(enctest.enc_krxd(
            krxd_factory, keystore=keks,
            cache=str(tmp_path / f"dekcache-{i}"), workers=2,
            base_port=base, host=host, advertised_host=LB))
    enctest.kek(ks[0], "create", f"KEK-{topic_name}")
    tools.create_topics(kafka.bootstrap, {topic_name: 3})
    lb = haproxytest.Haproxy(str(tmp_path / "lb"), LB, base, base + 3,
                             [("a", ks[0].host), ("b", ks[1].host)]).start()
    try:
        check_scaleout(kafka, ks, lb, keks, topic_name)
    finally:
        lb.stop()


def check_scaleout(kafka, ks, lb, keks, topic_name):
    prod = SteadyProducer(lb.bootstrap, topic_name)
    prod.start()
    try:
        for k in ks:
            before = len(prod.acked)
            krxtest.wait_for(lambda: len(prod.acked) > before + 500, 60,
                             "records acknowledged before the kill")
            os.kill(k.pid, signal.SIGKILL)
            k.kill()
            k.start()
            after = len(prod.acked)
            krxtest.wait_for(lambda: len(prod.acked) > after + 500, 90,
                             "records acknowledged after the restart")
    finally:
        prod.stop_ev.set()
        prod.join(180)
    assert not prod.failed, prod.failed[:5]
    print(f"scale-out: {len(prod.acked)} records acknowledged")
    acked = prod.acked
    # read back through the instance not killed last, decrypted (its
    # Metadata points at the balancer, as every instance's does)
    other = ks[0]
    got = []
    for part in tools.read_partitions(other.bootstrap, topic_name,
                                      [0, 1, 2]).values():
        got += [r[4] for r in part]
    assert len(got) == len(set(got)), "a record was written twice"
    assert set(acked) <= set(got), \
        f"{len(set(acked) - set(got))} acknowledged records lost"
    # every record at the broker is encrypted
    dec = enctest.Decryptor(keks)
    direct = tools.read_partitions(kafka.bootstrap, topic_name, [0, 1, 2])
    n = 0
    for part in direct.values():
        for rec in part:
            plain, _ = dec.open(rec[4])
            assert plain.startswith(b"v")
            n += 1
    assert n == len(got)
