"""Batch splitting inside transactions.

A transactional confluent-kafka producer (linger.ms 200, batch.size
1,000,000, so batches of up to 10,000 records, near 2 MB once
encrypted) writes through an encrypting krxd (splitCompression "none",
so oversized batches can only be split) to a topic with 2 partitions:
a committed transaction of 30,000 records with 7-byte values, an
aborted one of 10,000 and a committed one of 20,000.

Checked: no delivery error; through krxd a read_committed consumer
sees exactly the 50,000 committed records, once each, decrypted, in
produce order per partition, and a read_uncommitted one all 60,000; at
the broker every one of the 60,000 records is encrypted (the test's own
code decrypts each), every data batch carries the transactional flag
and one producer id, sequence numbers continue across the pieces
without gap or overlap, no batch exceeds the broker's limit, and the
control records are commit, abort, commit; krx-ctl cache stats counts
split batches.
"""

import enctest
import krxtest
import splittest
import tools

PARTITIONS = 2
TXNS = (("A", 30_000, True), ("B", 10_000, False), ("C", 20_000, True))


def txn_records(tag, n):
    """{partition: [(None, 7-byte value)]}, record i to partition i % 2."""
    want = {q: [] for q in range(PARTITIONS)}
    for i in range(n):
        want[i % PARTITIONS].append((None, b"%s%06d" % (tag.encode(), i)))
    return want


def test_split_txn(kafka, krxd_factory, topic_name):
    krxd = splittest.split_krxd(krxd_factory, split_compression="none")
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    committed = {q: [] for q in range(PARTITIONS)}
    everything = {q: [] for q in range(PARTITIONS)}
    with splittest.producer({"bootstrap.servers": krxd.bootstrap,
                             "transactional.id": f"tx-{topic}",
                             "transaction.timeout.ms": 60000,
                             "linger.ms": 200, "batch.size": 1_000_000,
                             "log_level": 3}) as p:
        p.init_transactions(30)
        for tag, n, commit in TXNS:
            want = txn_records(tag, n)
            dr = splittest.Deliveries()
            p.begin_transaction()
            splittest.produce(p, topic, want, dr)
            left = p.flush(90)
            assert left == 0, \
                f"txn {tag}: {left} undelivered; " + dr.error_summary()
            assert not dr.errors, f"txn {tag}: " + dr.error_summary()
            assert dr.count() == n
            if commit:
                p.commit_transaction(60)
            else:
                p.abort_transaction(60)
            for q in range(PARTITIONS):
                everything[q] += want[q]
                if commit:
                    committed[q] += want[q]

    # The last commit marker is written after commit_transaction returns.
    conn = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        for q in range(PARTITIONS):
            end = len(everything[q]) + len(TXNS)
            krxtest.wait_for(lambda: conn.fetch({topic: {q: 0}}, part_max=1)
                             [1][(topic, q)]["lso"] == end, 30,
                             f"the last commit marker of {topic}[{q}]")
    finally:
        conn.close()

    # Through krxd: committed only, and everything.
    splittest.check_via_krxd(krxd.bootstrap, topic, committed,
                             isolation="read_committed", dense=False,
                             what="read_committed via krxd")
    splittest.check_via_krxd(krxd.bootstrap, topic, everything,
                             dense=False, what="read_uncommitted via krxd")

    # At the broker: all 60,000 encrypted; batches and markers.
    splittest.check_stored(kafka.bootstrap, topic, everything,
                           krxd.keystore)
    batches = splittest.stored_batches(kafka.host, kafka.port, topic,
                                       range(PARTITIONS))
    for q, bs in batches.items():
        what = f"{topic}[{q}]"
        for b in bs:
            assert len(b["raw"]) <= splittest.BROKER_MESSAGE_MAX_BYTES
        data = [b for b in bs if not b["attributes"] & 0x20]
        assert sum(b["count"] for b in data) == len(everything[q]), what
        splittest.check_sequences(bs, transactional=True, what=what)
        ctrl = [b for b in bs if b["attributes"] & 0x20]
        kinds = []
        for b in ctrl:
            assert b["records"] is not None and b["count"] == 1
            kinds.append(b["records"][0]["key"][2:4])
        assert kinds == [b"\x00\x01", b"\x00\x00", b"\x00\x01"], \
            f"{what}: control records {kinds}"
    splittest.assert_split(krxd, "transactions")
