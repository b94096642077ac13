"""A consumer group of two confluent-kafka members through krxd.

Both members join through krxd (FindCoordinator answered with krxd's
address, JoinGroup/SyncGroup or the KIP-848 heartbeat for the "consumer"
protocol), the rebalance gives each member partitions and together all of
them; they read every record once and commit a mid-point offset per
partition. A fresh member of the same group, again through krxd, starts
from the committed offsets and reads exactly the remainder. Run with the
classic and the consumer group protocols.
"""

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition, KafkaError

import krxtest
import tools

PARTITIONS = 4
PER_PARTITION = 100
COMMIT_AT = 60


def member(bootstrap, group, protocol, stats):
    conf = {"bootstrap.servers": bootstrap, "group.id": group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "group.protocol": protocol,
            "statistics.interval.ms": 200, "stats_cb": stats.append,
            "log_level": 3}
    if protocol == "classic":
        conf.update({"session.timeout.ms": 10000,
                     "heartbeat.interval.ms": 500,
                     "partition.assignment.strategy": "range"})
    return Consumer(conf)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_consumer_group(kafka, krxd, topic_name, protocol):
    topic = topic_name
    group = f"g-{topic_name}"
    tools.create_topics(kafka.bootstrap, {topic: PARTITIONS})
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    for q in range(PARTITIONS):
        for i in range(PER_PARTITION):
            p.produce(topic, partition=q, key=b"k%d" % i,
                      value=b"p%d-%d" % (q, i))
    assert p.flush(30) == 0

    stats = []
    a = member(krxd.bootstrap, group, protocol, stats)
    b = member(krxd.bootstrap, group, protocol, stats)
    a.subscribe([topic])
    b.subscribe([topic])
    got = {"a": [], "b": []}
    deadline = time.monotonic() + 90
    try:
        # Poll both until the group is balanced and all records are read.
        while True:
            assert time.monotonic() < deadline, (
                f"group did not settle: a={a.assignment()} "
                f"b={b.assignment()} read={len(got['a'])}+{len(got['b'])}")
            for name, c in (("a", a), ("b", b)):
                m = c.poll(0.1)
                if m is None:
                    continue
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, \
                        m.error()
                    continue
                got[name].append((m.partition(), m.offset(), m.value()))
            pa = {tp.partition for tp in a.assignment()}
            pb = {tp.partition for tp in b.assignment()}
            if (pa and pb and not (pa & pb)
                    and pa | pb == set(range(PARTITIONS))
                    and len({(q, o) for q, o, _ in got["a"] + got["b"]})
                    == PARTITIONS * PER_PARTITION):
                break
        # Together they read everything (a record may be read twice when
        # a partition moves during the first rebalance: nothing was
        # committed yet).
        allrecs = got["a"] + got["b"]
        assert {(q, o) for q, o, _ in allrecs} == \
            {(q, o) for q in range(PARTITIONS) for o in range(PER_PARTITION)}
        assert got["a"] and got["b"], "one member read nothing"
        for c, parts in ((a, pa), (b, pb)):
            c.commit(offsets=[TopicPartition(topic, q, COMMIT_AT)
                              for q in sorted(parts)], asynchronous=False)
        committed = a.committed([TopicPartition(topic, q)
                                 for q in range(PARTITIONS)], timeout=20)
        assert [tp.offset for tp in committed] == [COMMIT_AT] * PARTITIONS
        n = len(stats)
        krxtest.wait_for(lambda: (a.poll(0.1), b.poll(0.1)) and
                         len(stats) >= n + 2, 10, "client statistics")
    finally:
        a.close()
        b.close()

    # The client only ever talked to krxd (bootstrap, node, coordinator).
    seen = {}
    for st in stats:
        seen.update(tools.client_brokers(st))
    assert seen and set(seen.values()) == {krxd.node_address(1)}, seen

    # The coordinator krxd hands out is its own node address.
    adm = tools.admin(krxd.bootstrap)
    desc = adm.describe_consumer_groups([group])[group].result(30)
    assert f"{desc.coordinator.host}:{desc.coordinator.port}" == \
        krxd.node_address(1)

    # Restart: a new member resumes from the committed offsets.
    c = member(krxd.bootstrap, group, protocol, [])
    c.subscribe([topic])
    rest = []
    want = (PER_PARTITION - COMMIT_AT) * PARTITIONS
    deadline = time.monotonic() + 60
    try:
        while len(rest) < want:
            assert time.monotonic() < deadline, \
                f"restart read {len(rest)} of {want}"
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            rest.append((m.partition(), m.offset(), m.value()))
        # nothing more arrives
        end = time.monotonic() + 2
        while time.monotonic() < end:
            m = c.poll(0.2)
            assert m is None or m.error(), \
                f"read beyond the remainder: {m.partition()}@{m.offset()}"
    finally:
        c.close()
    assert sorted(rest) == [(q, o, b"p%d-%d" % (q, o))
                            for q in range(PARTITIONS)
                            for o in range(COMMIT_AT, PER_PARTITION)]
    krxd.assert_served(kafka)
