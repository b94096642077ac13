"""Transactions with record encryption.

A transactional confluent-kafka producer connected to an encrypting krxd
commits one transaction, aborts one and commits another on a topic with
a KEK. Through krxd, a read_committed consumer sees exactly the committed
records, decrypted, in order; a read_uncommitted one sees all of them,
decrypted. At the broker every record (committed or aborted) is
ciphertext that the test's own code decrypts, and the transaction
markers (control batches) are where they belong: krxd kept the producer
id, epoch and transactional flag of every batch it rewrote.
"""

from confluent_kafka import Producer

import enctest
import krxtest
import tools

PARTITIONS = 2


def txn(p, topic, tag, n):
    p.begin_transaction()
    out = []
    for i in range(n):
        q = i % PARTITIONS
        k, v = f"{tag}-k{i}".encode(), f"{tag}-secret-{i}".encode() * 4
        h = (("tag", tag.encode()),)
        p.produce(topic, partition=q, key=k, value=v, headers=list(h))
        out.append((q, k, v, h))
    p.flush(30)
    return out


def test_enc_transactions(kafka, krxd_factory, topic_name, enc_kms):
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    p = Producer({"bootstrap.servers": krxd.bootstrap,
                  "transactional.id": f"tx-{topic_name}",
                  "transaction.timeout.ms": 30000, "log_level": 3})
    p.init_transactions(30)
    c1 = txn(p, topic, "c1", 20)
    p.commit_transaction(30)
    a1 = txn(p, topic, "a1", 14)
    p.abort_transaction(30)
    c2 = txn(p, topic, "c2", 10)
    p.commit_transaction(30)

    parts = list(range(PARTITIONS))
    # The last commit marker is written after commit_transaction returns.
    conn = enctest.KafkaConn(kafka.host, kafka.port)
    for q in parts:
        n = len([1 for pq, _, _, _ in c1 + a1 + c2 if pq == q]) + 3
        krxtest.wait_for(lambda: conn.fetch({topic: {q: 0}}, part_max=1)
                         [1][(topic, q)]["lso"] == n, 30,
                         f"the commit marker of {topic}[{q}]")
    rc = enctest.read_topics(krxd.bootstrap, [topic],
                             isolation="read_committed")[topic]
    ru = enctest.read_topics(krxd.bootstrap, [topic],
                             isolation="read_uncommitted")[topic]
    direct = enctest.read_topics(kafka.bootstrap, [topic],
                                 isolation="read_uncommitted")[topic]
    dec = enctest.decryptor(krxd)
    for q in parts:
        want_c = [(k, v, h) for pq, k, v, h in c1 + c2 if pq == q]
        want_all = [(k, v, h) for pq, k, v, h in c1 + a1 + c2 if pq == q]
        assert [(r[3], r[4], r[5]) for r in rc[q]] == want_c, \
            f"read_committed via krxd, partition {q}"
        assert [(r[3], r[4], r[5]) for r in ru[q]] == want_all, \
            f"read_uncommitted via krxd, partition {q}"
        assert [r[2] for r in ru[q]] == [r[2] for r in direct[q]]
        assert len(direct[q]) == len(want_all)
        for rec, (k, v, h) in zip(direct[q], want_all):
            dec.check(rec, k, v, h, what=f"{topic}[{q}]")

    # Raw batches at the broker: transactional data batches with the
    # producer id, then commit / abort / commit control batches.
    try:
        for q in parts:
            bs = enctest.fetch_all(conn, topic, q)
            data = [b for b in bs if not b["attributes"] & 0x20]
            ctrl = [b for b in bs if b["attributes"] & 0x20]
            assert data and all(b["attributes"] & 0x10 for b in data), \
                f"partition {q}: data batches lost the transactional flag"
            pids = {(b["producer_id"], b["producer_epoch"]) for b in bs}
            assert len(pids) == 1 and next(iter(pids))[0] >= 0, pids
            kinds = []
            for b in ctrl:
                assert b["records"] is not None and b["count"] == 1
                kinds.append(b["records"][0]["key"][2:4])
            assert kinds == [b"\x00\x01", b"\x00\x00", b"\x00\x01"], \
                f"partition {q}: control records {kinds}"
    finally:
        conn.close()
