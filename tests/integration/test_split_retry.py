"""A split batch whose second piece is lost is retried without
duplicate or gap.

A private broker advertises its PLAINTEXT listener at a fault-injecting
TCP relay (splittest.FaultRelay), and krxd's upstream bootstrap is the
relay, so every connection krxd makes to the broker passes through it.
The topic's max.message.bytes is 65536 and krxd's splitCompression is
"none", so one client batch of 20,000 records with 7-byte values (an
idempotent confluent-kafka producer, linger.ms 2000, batch.size
1,000,000: everything in one batch), some 4 MB once encrypted, is sent
as dozens of pieces, consecutive Produce requests on one connection.

The relay breaks the first connection that carries a second Produce
request, once:

- drop-before: it closes both sides instead of forwarding that request
  (the broker has the first piece only);
- drop-after: it forwards it, waits for the broker's response and
  closes both sides without passing it on (the broker has two pieces,
  krxd does not know).

The producer retries. Checked: no delivery error, all 20,000
acknowledged at offsets 0..19,999; the relay acted as told; at the
broker (raw Fetch) exactly 20,000 records in batches of at most 65,536
bytes, one producer id and epoch whose batches' base sequences each
continue the previous batch's last sequence + 1 from 0 (no piece stored
twice, none missing), every record encrypted and decrypted by the
test's own code to its value, in order; through krxd each record comes
back exactly once, in order; krx-ctl cache stats counts split batches.

test_split_retry_pipelined: the same at a client that pipelines, which
the issue puts as "a client that pipelines five requests must not lose
exactly-once because krx turned them into fifteen". The client is
Kafka's VerifiableProducer (the broker's jars), idempotent, acks=all,
max.in.flight.requests.per.connection 5, linger.ms 1000 and batch.size
14,000, sending PIPE_N records "1000.0" .. at full speed to the one
partition: batches of some 820 records (the first a few more, its values
being shorter), each some 160 KB once encrypted, three pieces of at most
65,536 bytes. It sends up to five Produce requests without waiting for
an answer, while krxd forwards one client request's pieces at a time:
fifteen pieces for five client requests, three times the five batches
per producer and partition the broker remembers. (Not confluent-kafka:
librdkafka's idempotent producer lets a partition have another request
in flight only while fewer than five *messages* are, so it never
pipelines batches of more than four records, let alone ones big enough
to split.) The relay acts on the first connection's PIPE_AT-th (eighth)
Produce request, the second piece of the third client request, in both
modes. Checked as above (VerifiableProducer's JSON events: no
producer_send_error, every record acknowledged at the offset its number
says), and moreover: the producer's own log (NetworkClient and
RecordAccumulator at DEBUG) shows at least two Produce requests sent and
not yet answered at one time (pipelining took place) and gives the base
sequence of each client batch; the stored piece that the relay dropped
or whose answer it swallowed (stored batch PIPE_AT - 1, as the first
connection's earlier pieces are stored in order) starts strictly inside
the third client batch; every split client batch has from two to five
pieces (workers.split_pieces / workers.batches_split).
"""

import json
import re
import subprocess
import sys
import time

import pytest

import enctest
import splittest
import tools
from broker import Broker

N = 20_000
LIMIT = 65536
# The pipelined variant: VerifiableProducer's records ("1000.0" ..
# "1000.8199", 6 to 9 bytes), its producer's properties (batch.size in
# plain bytes: some 820 records, three pieces of at most LIMIT once
# encrypted), and the Produce request on krxd's upstream connection at
# which the relay acts (the 8th: the second piece of the third client
# request).
PIPE_N = 8200
PIPE_PREFIX = 1000
PIPE_PROPS = {"batch.size": 14000, "linger.ms": 1000,
              "enable.idempotence": "true", "acks": "all",
              "max.in.flight.requests.per.connection": 5,
              # VerifiableProducer sets retries=0, which idempotence
              # refuses
              "retries": 2147483647, "delivery.timeout.ms": 120000,
              "request.timeout.ms": 30000}
PIPE_AT = 8
VERIFIABLE_PRODUCER = "org.apache.kafka.tools.VerifiableProducer"


@pytest.fixture(scope="module")
def relayed():
    """(broker, relay): a private broker whose advertised listener is
    the relay's port."""
    relay = splittest.FaultRelay()
    b = Broker(heap="512M", extra_props={
        "advertised.listeners": f"PLAINTEXT://{relay.address}"})
    relay.start(lambda: (b.host, b.port))
    try:
        try:
            b.start(timeout=180)
        except BaseException:
            sys.stderr.write("private kafka failed to start; log tail:\n" +
                             b.log_text()[-6000:] + "\n")
            raise
        yield b, relay
    finally:
        relay.stop()
        b.stop()


@pytest.mark.parametrize("mode", ["drop-before", "drop-after"])
def test_split_retry(relayed, krxd_factory, topic_name, mode):
    broker, relay = relayed
    relay.disarm()
    krxd = splittest.split_krxd(krxd_factory, split_compression="none",
                                upstream=relay.address)
    topic = topic_name
    tools.create_topics(broker.bootstrap, {topic: 1},
                        config={"max.message.bytes": str(LIMIT)})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    want = {0: [(None, b"r%06d" % i) for i in range(N)]}
    assert all(len(v) == 7 for _, v in want[0])

    relay.arm(mode)
    dr = splittest.Deliveries()
    with splittest.producer({"bootstrap.servers": krxd.bootstrap,
                             "enable.idempotence": True, "acks": "all",
                             "linger.ms": 2000, "batch.size": 1_000_000,
                             "batch.num.messages": 1_000_000,
                             "message.timeout.ms": 120000,
                             "log_level": 0}) as p:
        splittest.produce(p, topic, want, dr)
        left = p.flush(150)
    relay.disarm()
    assert left == 0, f"{left} undelivered; " + dr.error_summary()
    acted = relay.acted
    assert acted is not None, \
        f"the relay never saw a second Produce request on a connection " \
        f"(Produce requests per connection: {relay.produce_counts()}); " \
        + dr.error_summary()
    assert acted["mode"] == mode, acted
    if mode == "drop-after":
        assert acted["response_swallowed"], acted
    dr.assert_clean(want)

    check_broker(broker, krxd, topic, want)
    # Through krxd (and the relay, now passive): each record once.
    splittest.check_via_krxd(krxd.bootstrap, topic, want)
    split, pieces = splittest.assert_split(krxd, mode)
    assert pieces >= 20, f"only {pieces} pieces for {N} records"


def check_broker(broker, krxd, topic, want):
    """At the broker, partition 0 of topic holds want[0] exactly: no
    piece twice, none missing, all encrypted, uncompressed batches of at
    most LIMIT bytes from one producer id and epoch whose sequence
    numbers run from 0 without gap or overlap. Returns the batches."""
    n = len(want[0])
    bs = splittest.stored_batches(broker.host, broker.port, topic, [0])[0]
    seqs = [(b["base_sequence"], b["count"]) for b in bs]
    sizes = [len(b["raw"]) for b in bs]
    assert max(sizes) <= LIMIT, f"batch sizes {sizes}"
    assert all(b["attributes"] & 7 == 0 for b in bs), \
        "compressed batches despite splitCompression none"
    recs = [r for b in bs for r in b["records"]]
    assert len(recs) == n, \
        f"{len(recs)} records at the broker, {n} sent; batches " \
        f"(base sequence, count): {seqs}"
    assert [r["offset"] for r in recs] == list(range(n))
    epochs = splittest.check_sequences(bs, what=topic)
    assert epochs == {bs[0]["producer_epoch"]: n}, \
        f"sequence numbers per epoch end at {epochs}; batches " \
        f"(base sequence, count): {seqs}"
    dec = enctest.Decryptor(krxd.keystore)
    for r, (k, v) in zip(recs, want[0]):
        assert r["key"] == k
        assert r["headers"] == [(enctest.ENC_HEADER, b"\x02")], \
            f"@{r['offset']}: headers {r['headers']}"
        plain, _ = dec.open(r["value"])
        assert plain == v, f"@{r['offset']}: {plain!r} != {v!r}"
    return bs


_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.kafka.clients.NetworkClient" level="debug">
      <Filters>
        <ThresholdFilter level="warn" onMatch="ACCEPT" onMismatch="NEUTRAL"/>
        <RegexFilter onMatch="ACCEPT" onMismatch="DENY"
          regex="(?s).*(Sending|Received|Cancelled in-flight) PRODUCE .*"/>
      </Filters>
    </Logger>
    <Logger level="debug"
      name="org.apache.kafka.clients.producer.internals.RecordAccumulator">
      <Filters>
        <ThresholdFilter level="warn" onMatch="ACCEPT" onMismatch="NEUTRAL"/>
        <RegexFilter regex="(?s).*Assigned producerId.*"
                     onMatch="ACCEPT" onMismatch="DENY"/>
      </Filters>
    </Logger>
    <Root level="warn"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
"""


def run_pipelining_producer(bootstrap, topic, n, tmp_path):
    """Kafka's VerifiableProducer sends n records ("1000.0" ..), as
    PIPE_PROPS say, to partition 0 of topic; returns (process, events
    {name: [event]}, acked [(partition, offset, value)], its stderr: WARN
    and above, and the DEBUG lines of its Produce requests and batches)."""
    conf = tmp_path / "pipe-producer.properties"
    conf.write_text("".join(f"{k}={v}\n" for k, v in PIPE_PROPS.items()))
    log4j = tmp_path / "pipe-log4j2.xml"
    log4j.write_text(_LOG4J2)
    cmd = tools.java_tool_cmd(
        VERIFIABLE_PRODUCER,
        ["--bootstrap-server", bootstrap, "--topic", topic,
         "--max-messages", n, "--throughput", -1, "--acks", -1,
         "--value-prefix", PIPE_PREFIX, "--producer.config", str(conf)])
    cmd = [f"-Dlog4j2.configurationFile={log4j}"
           if a.startswith("-Dlog4j2.configurationFile=") else a
           for a in cmd]
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=200)
    events, acked = {}, []
    for ln in r.stdout.split(b"\n"):
        if not ln:
            continue
        ev = json.loads(ln)
        events.setdefault(ev["name"], []).append(ev)
        if ev["name"] == "producer_send_success":
            acked.append((ev["partition"], ev["offset"], ev["value"]))
    return r, events, acked, r.stderr.decode(errors="replace")


def produce_log(stderr):
    """From the Java producer's log: (base sequences of its batches in
    the order it first sent them, the most Produce requests it had sent
    and not yet seen answered or cancelled at one time, correlation ids
    of the Produce requests sent)."""
    bases, sent, out, depth = [], [], set(), 0
    for ln in stderr.splitlines():
        m = re.search(r"Assigned producerId \d+ and producerEpoch \d+ to "
                      r"batch with base sequence (\d+)", ln)
        if m:
            bases.append(int(m.group(1)))
            continue
        m = re.search(r"Sending PRODUCE request with header .*?"
                      r"correlationId=(\d+)", ln)
        if m:
            out.add(int(m.group(1)))
            sent.append(int(m.group(1)))
            depth = max(depth, len(out))
            continue
        m = re.search(r"Received PRODUCE response .*?correlationId=(\d+)", ln)
        if m is None:
            m = re.search(r"Cancelled in-flight PRODUCE request with "
                          r"correlation id (\d+)", ln)
        if m:
            out.discard(int(m.group(1)))
    return bases, depth, sent


@pytest.mark.parametrize("mode", ["drop-before", "drop-after"])
def test_split_retry_pipelined(relayed, krxd_factory, topic_name, tmp_path,
                               mode):
    broker, relay = relayed
    relay.disarm()
    krxd = splittest.split_krxd(krxd_factory, split_compression="none",
                                upstream=relay.address)
    topic = topic_name
    tools.create_topics(broker.bootstrap, {topic: 1},
                        config={"max.message.bytes": str(LIMIT)})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    n = PIPE_N
    values = [f"{PIPE_PREFIX}.{i}" for i in range(n)]
    want = {0: [(None, v.encode()) for v in values]}

    relay.arm(mode, at=PIPE_AT)
    t0 = time.monotonic()
    r, events, acked, stderr = run_pipelining_producer(
        krxd.bootstrap, topic, n, tmp_path)
    took = time.monotonic() - t0
    relay.disarm()
    bases, depth, sent = produce_log(stderr)
    errs = events.get("producer_send_error", [])
    what = f"producer stderr (last 4000 chars):\n{stderr[-4000:]}"
    assert not errs, f"{len(errs)} send errors, first {errs[:2]}; {what}"
    assert r.returncode == 0, f"VerifiableProducer exited " \
        f"{r.returncode}; {what}"
    td = events.get("tool_data")
    assert td and td[-1]["sent"] == n and td[-1]["acked"] == n, \
        f"tool_data {td}; {what}"
    assert sorted(acked) == [(0, i, v) for i, v in enumerate(values)], \
        "acknowledged offsets do not follow the values"
    acted = relay.acted
    assert acted is not None, \
        f"the relay never saw a Produce request number {PIPE_AT} on a " \
        f"connection (Produce requests per connection: " \
        f"{relay.produce_counts()}); {what}"
    assert acted["mode"] == mode, acted
    assert acted["produce_request"] == PIPE_AT, acted
    if mode == "drop-after":
        assert acted["response_swallowed"], acted

    # The client batches: consecutive from 0, several, and pipelined.
    assert bases and bases[0] == 0 and bases == sorted(bases), \
        f"client batches' base sequences {bases}"
    assert len(bases) >= 5, f"only {len(bases)} client batches: {bases}"
    assert depth >= 2, \
        f"the producer never had two Produce requests in flight (sent " \
        f"{sent}): not pipelined; {what}"

    bs = check_broker(broker, krxd, topic, want)
    seqs = [(b["base_sequence"], b["count"]) for b in bs]
    # The first connection's pieces up to the one the relay acted on are
    # stored in order (that one, dropped, once the retry brought it), so
    # that piece is stored batch PIPE_AT - 1: not the first piece of its
    # client batch, and in the third client batch.
    assert len(bs) >= PIPE_AT, seqs
    hit = bs[PIPE_AT - 1]["base_sequence"]
    assert bases[2] < hit < bases[3], \
        f"the relay acted on the piece at sequence {hit}, not in the " \
        f"middle of the third client batch; client batches at {bases}, " \
        f"stored (base sequence, count): {seqs}"

    splittest.check_via_krxd(krxd.bootstrap, topic, want)
    split, pieces = splittest.assert_split(krxd, mode)
    assert split >= len(bases), \
        f"{split} batches split, {len(bases)} client batches sent"
    assert 2 * split <= pieces <= 5 * split, \
        f"{pieces} pieces for {split} split batches (2 to 5 each wanted)"
    sys.stderr.write(
        f"{mode}: {n} records in {took:.1f}s; client batches at {bases}, "
        f"at most {depth} Produce requests in flight; {split} batches "
        f"split into {pieces} pieces; relay {acted}; stored (base "
        f"sequence, count) {seqs}\n")
