"""Malformed client input closes that connection, never the service.

For each bad input (a length above max_frame_bytes, a negative length, a
frame too short for a request header, an unknown api key, HTTP and TLS
bytes sent to the Kafka port) a raw socket to krxd's bootstrap port and to
a node port gets closed by krxd, the log says "closing connection" with the
reason, krxd and both its workers keep running with the same pids, and a
confluent-kafka produce/consume loop started beforehand through krxd keeps
working without an error.
"""

import struct
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

import krxtest
import tools

MAX_FRAME = 1048576

CASES = {
    "oversized": (struct.pack(">i", MAX_FRAME + 1) + b"\0" * 64,
                  "exceeds max_frame_bytes"),
    "negative": (struct.pack(">i", -5) + b"\0" * 16,
                 "negative frame size"),
    "truncated_header": (struct.pack(">i", 3) + b"\x00\x03\x00",
                         "truncated request header"),
    "unknown_api_key": (struct.pack(">ihhih", 10, 9999, 0, 7, -1),
                        "unknown api key"),
    "garbage_http": (b"GET / HTTP/1.1\r\nHost: krx\r\n\r\n",
                     "exceeds max_frame_bytes"),
    "garbage_tls": (bytes.fromhex("16030100c4010000c00303") + bytes(range(
        180)), "exceeds max_frame_bytes"),
}


class Background(threading.Thread):
    """Produce one record, consume it back, repeat, through krxd."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.rounds = 0
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "log_level": 3,
                      "linger.ms": 0})
        c = Consumer({"bootstrap.servers": self.bootstrap,
                      "group.id": f"bg-{self.topic}", "log_level": 3,
                      "enable.auto.commit": False})
        c.assign([TopicPartition(self.topic, 0, 0)])
        i = 0
        try:
            while not self.stop.is_set():
                v = b"bg-%d" % i
                p.produce(self.topic, partition=0, value=v)
                if p.flush(10) != 0:
                    self.errors.append(f"round {i}: not delivered")
                    break
                deadline = time.monotonic() + 10
                while True:
                    m = c.poll(0.2)
                    if m is not None and not m.error():
                        if m.value() != v:
                            self.errors.append(
                                f"round {i}: got {m.value()!r}")
                        break
                    if m is not None and m.error():
                        self.errors.append(f"round {i}: {m.error()}")
                    if time.monotonic() > deadline:
                        self.errors.append(f"round {i}: nothing consumed")
                        return
                self.rounds += 1
                i += 1
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))
        finally:
            c.close()


@pytest.mark.krxd(workers=2, max_frame_bytes=MAX_FRAME)
@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed(kafka, krxd, topic_name, case):
    data, reason = CASES[case]
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    before = krxd.workers_status()

    bg = Background(krxd.bootstrap, topic)
    bg.start()
    try:
        krxtest.wait_for(lambda: bg.rounds >= 3 or bg.errors, 60,
                         "background client round trips")
        assert not bg.errors, bg.errors

        log_at = krxd.log_size()
        for port in (krxd.bootstrap_port, krxd.node_port(1)):
            s = krxtest.raw_connect(port)
            try:
                try:
                    s.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                assert krxtest.wait_closed(s, timeout=10), \
                    f"krxd kept the connection on port {port} open"
            finally:
                s.close()
        text = krxd.wait_log(rf"closing connection.*{reason}|"
                             rf"{reason}.*closing connection",
                             timeout=10, start=log_at)
        assert text
        new = krxd.log_text()[log_at:]
        assert len([ln for ln in new.splitlines()
                    if reason in ln]) >= 2, new[-2000:]

        # The service, its workers and the other client are unaffected.
        krxd.assert_running()
        after = krxd.workers_status()
        assert [(w["slot"], w["pid"], w["state"], w["restarts"])
                for w in after] == \
            [(w["slot"], w["pid"], w["state"], w["restarts"])
             for w in before]
        r0 = bg.rounds
        krxtest.wait_for(lambda: bg.rounds >= r0 + 3 or bg.errors, 30,
                         "background client to go on")
        assert not bg.errors, bg.errors
    finally:
        bg.stop.set()
        bg.join(30)
    assert not bg.errors, bg.errors
