"""Batch splitting with Kafka's Java producer and big batches.

Kafka's VerifiableProducer (org.apache.kafka.tools, the broker's jars)
sends 200,000 records, values "1000.0" .. "1000.199999", at full speed
(--throughput -1) with batch.size 1048576, linger.ms 100,
enable.idempotence and acks=all through an encrypting krxd (default
splitCompression) to a one-partition topic. Its batches hold tens of
thousands of records, several MB once encrypted, far beyond the broker's
message.max.bytes (1,048,588), even compressed (each encrypted record
carries ~36 random bytes: IV, ciphertext and tag).

Checked: the tool reports no producer_send_error, 200,000 sent and
200,000 acked, and its log no MESSAGE_TOO_LARGE (on which the Java
producer would split the batch and retry on its own); through krxd a
consumer reads exactly 200,000 records whose values are each number
once, in order, at offsets 0..199,999; at the broker
there are exactly 200,000 records, each with the encryption header and
no value in clear (every 50th decrypted by the test's own code), no batch
over the limit, one producer id with sequence numbers running from 0
without gap or overlap; krx-ctl cache stats counts split batches.
"""

import json

import enctest
import splittest
import tools

N = 200_000
PREFIX = 1000       # --value-prefix takes an integer
PROPS = {"batch.size": 1048576, "linger.ms": 100,
         "enable.idempotence": "true", "acks": "all",
         # VerifiableProducer sets retries=0, which idempotence refuses
         "retries": 2147483647, "delivery.timeout.ms": 60000,
         "request.timeout.ms": 30000}
VERIFIABLE_PRODUCER = "org.apache.kafka.tools.VerifiableProducer"


def run_verifiable_producer(bootstrap, topic, tmp_path):
    conf = tmp_path / "producer.properties"
    conf.write_text("".join(f"{k}={v}\n" for k, v in PROPS.items()))
    r = tools.run_java_tool(
        VERIFIABLE_PRODUCER,
        ["--bootstrap-server", bootstrap, "--topic", topic,
         "--max-messages", N, "--throughput", -1, "--acks", -1,
         "--value-prefix", PREFIX, "--producer.config", str(conf)],
        timeout=200, check=False)
    events, acked = {}, []
    for ln in r.stdout.split(b"\n"):
        if not ln:
            continue
        ev = json.loads(ln)
        events.setdefault(ev["name"], []).append(ev)
        if ev["name"] == "producer_send_success":
            acked.append((ev["partition"], ev["offset"], ev["value"]))
    return r, events, acked


def test_split_java(kafka, krxd_factory, topic_name, tmp_path):
    krxd = splittest.split_krxd(krxd_factory)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    values = [f"{PREFIX}.{i}".encode() for i in range(N)]

    r, events, acked = run_verifiable_producer(krxd.bootstrap, topic,
                                               tmp_path)
    errs = events.get("producer_send_error", [])
    stderr = r.stderr.decode(errors="replace")
    too_large = stderr.count("MESSAGE_TOO_LARGE")
    assert not errs, f"{len(errs)} send errors, first {errs[:2]}; the " \
        f"producer saw MESSAGE_TOO_LARGE {too_large} times; stderr:\n" \
        f"{stderr[-2000:]}"
    # The Java producer splits a batch refused with MESSAGE_TOO_LARGE and
    # retries on its own: it must not have had to.
    assert too_large == 0, \
        f"the producer saw MESSAGE_TOO_LARGE {too_large} times"
    assert r.returncode == 0, \
        f"VerifiableProducer exited {r.returncode}:\n{stderr[-3000:]}"
    td = events.get("tool_data")
    assert td and td[-1]["sent"] == N and td[-1]["acked"] == N, \
        f"tool_data {td}; stderr:\n{stderr[-2000:]}"
    assert len(acked) == N
    assert sorted(acked) == [(0, i, v.decode())
                             for i, v in enumerate(values)], \
        "acknowledged offsets do not follow the values"

    want = {0: [(None, v) for v in values]}
    splittest.check_via_krxd(krxd.bootstrap, topic, want)

    bs = splittest.stored_batches(kafka.host, kafka.port, topic, [0])[0]
    assert sum(b["count"] for b in bs) == N
    assert max(len(b["raw"]) for b in bs) <= \
        splittest.BROKER_MESSAGE_MAX_BYTES
    splittest.check_sequences(bs, what=topic)
    splittest.check_stored(kafka.bootstrap, topic, want, krxd.keystore,
                           decrypt_every=50)
    splittest.assert_split(krxd, "Java producer")
