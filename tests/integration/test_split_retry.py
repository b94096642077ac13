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
"""

import sys

import pytest

import enctest
import splittest
import tools
from broker import Broker

N = 20_000
LIMIT = 65536


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

    # At the broker: no piece twice, none missing, all encrypted.
    bs = splittest.stored_batches(broker.host, broker.port, topic, [0])[0]
    sizes = [len(b["raw"]) for b in bs]
    assert max(sizes) <= LIMIT, f"batch sizes {sizes}"
    assert all(b["attributes"] & 7 == 0 for b in bs), \
        "compressed batches despite splitCompression none"
    recs = [r for b in bs for r in b["records"]]
    assert len(recs) == N, f"{len(recs)} records at the broker, {N} sent"
    assert [r["offset"] for r in recs] == list(range(N))
    epochs = splittest.check_sequences(bs, what=topic)
    assert epochs == {bs[0]["producer_epoch"]: N}, \
        f"sequence numbers per epoch end at {epochs}"
    dec = enctest.Decryptor(krxd.keystore)
    for r, (k, v) in zip(recs, want[0]):
        assert r["key"] == k
        assert r["headers"] == [(enctest.ENC_HEADER, b"\x02")], \
            f"@{r['offset']}: headers {r['headers']}"
        plain, _ = dec.open(r["value"])
        assert plain == v, f"@{r['offset']}: {plain!r} != {v!r}"

    # Through krxd (and the relay, now passive): each record once.
    splittest.check_via_krxd(krxd.bootstrap, topic, want)
    split, pieces = splittest.assert_split(krxd, mode)
    assert pieces >= 20, f"only {pieces} pieces for {N} records"
