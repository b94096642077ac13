"""Transactions through krxd.

A transactional confluent-kafka producer, connected only to krxd, commits
one transaction, aborts one and commits another (InitProducerId,
AddPartitionsToTxn, EndTxn and the transaction coordinator lookup all go
through krxd). A read_committed consumer through krxd sees exactly the
committed records, in order; a read_uncommitted one also sees the aborted
ones; both agree with direct reads of the broker, control records (the
offset gaps) included.
"""

from confluent_kafka import Producer

import tools

PARTITIONS = 2


def txn(p, topic, tag, n):
    p.begin_transaction()
    out = []
    for i in range(n):
        q = i % PARTITIONS
        v = f"{tag}-{i}".encode()
        p.produce(topic, partition=q, key=tag.encode(), value=v)
        out.append((q, v))
    p.flush(30)
    return out


def test_transactions(kafka, krxd, topic_name):
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    stats = []
    p = Producer({"bootstrap.servers": krxd.bootstrap,
                  "transactional.id": f"tx-{topic_name}",
                  "transaction.timeout.ms": 30000,
                  "statistics.interval.ms": 200, "stats_cb": stats.append,
                  "log_level": 3})
    p.init_transactions(30)
    committed = txn(p, topic, "c1", 20)
    p.commit_transaction(30)
    aborted = txn(p, topic, "a1", 15)
    p.abort_transaction(30)
    committed += txn(p, topic, "c2", 10)
    p.commit_transaction(30)
    p.poll(0.5)

    seen = {}
    for st in stats:
        seen.update(tools.client_brokers(st))
    assert set(seen.values()) == {krxd.node_address(1)}, seen

    parts = list(range(PARTITIONS))
    rc = tools.read_partitions(krxd.bootstrap, topic, parts,
                               isolation="read_committed")
    ru = tools.read_partitions(krxd.bootstrap, topic, parts,
                               isolation="read_uncommitted")
    assert rc == tools.read_partitions(kafka.bootstrap, topic, parts,
                                       isolation="read_committed")
    assert ru == tools.read_partitions(kafka.bootstrap, topic, parts,
                                       isolation="read_uncommitted")
    for q in parts:
        want_c = [v for pq, v in committed if pq == q]
        want_all = [v for pq, v in committed[:len(committed) - 10]
                    + aborted + committed[-10:] if pq == q]
        assert [r[4] for r in rc[q]] == want_c, f"read_committed p{q}"
        assert [r[4] for r in ru[q]] == want_all, f"read_uncommitted p{q}"
        # control records (commit, abort) sit between the transactions:
        # the last data record follows both, the final commit marker ends
        # the log.
        assert ru[q][-1][2] == len(want_all) + 1
    wm = tools.watermarks(krxd.bootstrap, topic, parts)
    for q in parts:
        assert wm[q] == (0, ru[q][-1][2] + 2), f"watermarks p{q}: {wm[q]}"
    krxd.assert_served(kafka)
