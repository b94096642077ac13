"""The key service dies (kill -9) while a producer is encrypting.

krxd runs with maxEncryptionsPerDek = 50, so its workers ask keysvc for a
new DEK every 50 records. An idempotent confluent-kafka producer sends N
records through krxd while the test kills keysvc with SIGKILL twice (the
master respawns it). Afterwards:
- some Produce requests could not get a DEK and were answered with the
  retriable REQUEST_TIMED_OUT (7) (more kills follow if none was), and
  the producer delivered every record without a single delivery error;
- krxd never closed a client connection over it (no closing-connection
  warning, no worker restarted);
- at the broker there are exactly the N records, in produce order, none
  lost or duplicated, and every one is encrypted (the test's own code
  decrypts it); none went up in clear.
"""

import os
import re
import signal

from confluent_kafka import Producer

import enctest
import krxtest
import tools

N = 6000
KILLS = (1500, 3500)        # kill keysvc after this many records queued


def test_enc_keysvc_killed(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory,
                            experimental={"maxEncryptionsPerDek": 50})
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 2})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    p = Producer({"bootstrap.servers": krxd.bootstrap,
                  "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "retry.backoff.ms": 50,
                  "message.timeout.ms": 120000, "log_level": 3})
    errors, delivered = [], [0]

    def dr(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered[0] += 1

    sent = {0: [], 1: []}
    killed = []

    def kill_keysvc():
        # the previous victim's successor must be up first
        pid = krxtest.wait_for(
            lambda: (lambda x: x if x > 0 and x not in killed
                     else None)(enctest.keysvc_pid(krxd)),
            30, "keysvc running")
        krxd.expected_deaths.add(pid)
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    def stream(n, kill_at=()):
        for j in range(n):
            i = sum(len(x) for x in sent.values())
            q = i % 2
            v = f"value-{i:05d}".encode()
            p.produce(topic, partition=q, key=f"k{i % 10}".encode(),
                      value=v, on_delivery=dr)
            sent[q].append(v)
            if j % 20 == 0:
                p.poll(0.01)    # a steady stream over a few seconds
            if j in kill_at:
                kill_keysvc()

    def retriable_answers():
        return re.findall(r"Produce answered with error (\d+)",
                          krxd.log_text())

    stream(N, KILLS)
    # Both kills may have fallen between DEK requests: kill again (the
    # master gives up after 5 crashes a minute) until one was felt.
    while not retriable_answers() and len(killed) < 4:
        stream(1500, (300,))
    assert p.flush(120) == 0, "records left undelivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    n = sum(len(x) for x in sent.values())
    assert delivered[0] == n

    log = krxd.log_text()
    for pid in killed:
        assert re.search(rf"keysvc \d+ \(pid {pid}\) killed by signal 9",
                         log), f"master did not see keysvc {pid} die"
    closed = re.findall(r".*broker=\S+: closing connection.*", log)
    assert not closed, f"krxd closed client connections: {closed[:5]}"
    assert all(w["restarts"] == 0 for w in krxd.workers_status())
    st = [c for c in krxd.status()["children"] if c["kind"] == "keysvc"]
    assert st and st[0]["state"] == "running"

    dec = enctest.Decryptor(krxd.keystore)
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic]
    for q in (0, 1):
        got = []
        for r in direct[q]:
            assert r[5] and r[5][0] == (enctest.ENC_HEADER, b"\x02"), \
                f"{topic}[{q}]@{r[2]} stored without encryption: {r[4]!r}"
            got.append(dec.open(r[4])[0])
        assert len(got) == len(set(got)), f"partition {q}: duplicates"
        assert got == sent[q], f"partition {q}: lost or reordered records"
    via = enctest.read_topics(krxd.bootstrap, [topic])[topic]
    for q in (0, 1):
        assert [r[4] for r in via[q]] == sent[q]
    # what the producer met meanwhile (for the report; timing-dependent)
    retried = retriable_answers()
    assert retried, "no Produce request ever waited for the dead keysvc"
    assert set(retried) == {"7"}, f"answers other than REQUEST_TIMED_OUT: " \
        f"{set(retried)}"
    print(f"keysvc killed {len(killed)} times; {len(retried)} Produce "
          f"requests answered REQUEST_TIMED_OUT and retried")
