"""Broker addresses are rewritten to krxd's.

After bootstrapping through krxd, every broker address a client learns
(Metadata via confluent AdminClient.list_topics and kcat -L, DescribeCluster,
FindCoordinator via describe_consumer_groups, the Java client's
BrokerApiVersionsCommand) is krxd's advertised_host:node_start_port+node_id,
never the broker's own port; the cluster id and controller come through
unchanged. kcat then produces and consumes given only krxd's bootstrap.
"""

import re
import subprocess

from confluent_kafka import Consumer

import krxtest
import tools


def test_metadata_rewrite(kafka, krxd, topic_name):
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 2})
    node1 = krxd.node_address(1)
    assert krxd.node_port(1) == krxd.node_start_port + 1

    a = tools.admin(krxd.bootstrap)
    md = a.list_topics(timeout=20)
    assert {i: (b.host, b.port) for i, b in md.brokers.items()} == \
        {1: (krxd.host, krxd.node_port(1))}
    dmd = tools.admin(kafka.bootstrap).list_topics(timeout=20)
    assert md.cluster_id == dmd.cluster_id
    assert md.controller_id == dmd.controller_id
    assert sorted(md.topics[topic].partitions) == [0, 1]

    dc = a.describe_cluster(request_timeout=20).result(30)
    assert [(n.id, n.host, n.port) for n in dc.nodes] == \
        [(1, krxd.host, krxd.node_port(1))]

    # FindCoordinator (group): make a group exist, then describe it.
    group = f"g-{topic_name}"
    c = Consumer({"bootstrap.servers": krxd.bootstrap, "group.id": group,
                  "log_level": 3})
    c.subscribe([topic])
    krxtest.wait_for(lambda: (c.poll(0.2), c.assignment())[1], 30,
                     "group assignment")
    desc = a.describe_consumer_groups([group])[group].result(30)
    c.close()
    assert f"{desc.coordinator.host}:{desc.coordinator.port}" == node1

    # kcat -L through krxd
    r = subprocess.run(["kcat", "-L", "-b", krxd.bootstrap, "-t", topic],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    brokers = re.findall(r"broker (\d+) at (\S+)", r.stdout)
    assert brokers == [("1", node1)], r.stdout
    assert kafka.bootstrap not in r.stdout

    # The Java client's view (ApiVersions per node, via rewritten Metadata)
    r = tools.run_java_tool("org.apache.kafka.tools.BrokerApiVersionsCommand",
                            ["--bootstrap-server", krxd.bootstrap],
                            timeout=120)
    out = r.stdout.decode()
    assert re.findall(r"^(\S+) \(id: (\d+)", out, re.M) == [(node1, "1")], \
        out[:500]
    assert kafka.bootstrap not in out

    # kcat produce and consume with nothing but krxd's bootstrap.
    payload = "".join(f"key{i}:value {i}\n" for i in range(50))
    r = subprocess.run(["kcat", "-P", "-b", krxd.bootstrap, "-t", topic,
                        "-p", "1", "-K", ":"], input=payload, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["kcat", "-C", "-b", krxd.bootstrap, "-t", topic,
                        "-p", "1", "-o", "beginning", "-e", "-q",
                        "-f", "%k:%s\n"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == payload
    krxd.assert_served(kafka)
