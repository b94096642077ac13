"""Share groups (KIP-932) read encrypted records through krxd.

Skipped, with the reason, unless the broker offers ShareGroupHeartbeat
and ShareFetch (the test broker is formatted with share.version=1) and
krxd passes ShareFetch on. Records with headers are produced through an
encrypting krxd; at the broker they are ciphertext. Kafka's
ConsoleShareConsumer (org.apache.kafka.tools.consumer.ConsoleShareConsumer,
share group with share.auto.offset.reset=earliest) reading through krxd
gets every record decrypted: keys, values and headers as produced, and
offsets and timestamps as the broker has them.
"""

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ResourceType)

import enctest
import krxtest
import tools

N = 60
SHARE_GROUP_HEARTBEAT = 76
SHARE_FETCH = 78
CONSOLE_SHARE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleShareConsumer"


def api_keys(host, port):
    c = enctest.KafkaConn(host, port)
    try:
        err, apis = c.api_versions()
        assert err == 0
        return apis
    finally:
        c.close()


def test_enc_share_group(kafka, krxd_factory, topic_name, enc_kms):
    apis = api_keys(kafka.host, kafka.port)
    if SHARE_GROUP_HEARTBEAT not in apis or SHARE_FETCH not in apis:
        pytest.skip("the broker does not offer share groups "
                    "(no ShareGroupHeartbeat/ShareFetch in ApiVersions)")
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms)
    if SHARE_FETCH not in api_keys(krxd.host, krxd.node_port(1)):
        pytest.skip("krxd does not offer ShareFetch")

    topic, group = topic_name, f"sg-{topic_name}"
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    a = tools.admin(kafka.bootstrap)
    res = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry("share.auto.offset.reset", "earliest",
                    incremental_operation=AlterConfigOpType.SET)])
    for f in a.incremental_alter_configs([res]).values():
        f.result(30)

    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    sent = []
    for i in range(N):
        k, v = f"sk{i}".encode(), f"shared secret {i} ".encode() * (i % 4 + 1)
        h = [("i", str(i).encode()), ("src", b"share")]
        p.produce(topic, partition=0, key=k, value=v, headers=h)
        sent.append((k, v, tuple(h)))
    assert p.flush(30) == 0

    dec = enctest.decryptor(krxd)
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    assert len(direct) == N
    for rec, (k, v, h) in zip(direct, sent):
        dec.check(rec, k, v, h, what=topic)

    args = ["--bootstrap-server", krxd.bootstrap, "--topic", topic,
            "--group", group, "--max-messages", str(N),
            "--timeout-ms", "60000"]
    for k, v in tools.DUMP_FORMAT.items():
        args += ["--property", f"{k}={v}"]
    r = tools.run_java_tool(CONSOLE_SHARE_CONSUMER, args, check=False)
    lines = [ln for ln in r.stdout.split(b"\n") if ln]
    assert len(lines) == N, f"ConsoleShareConsumer read {len(lines)} of " \
        f"{N}: {r.stderr.decode(errors='replace')[-3000:]}"
    got = krxtest.console_records(lines)
    assert list(got) == [0]
    got = got[0]
    assert [g[0] for g in got] == list(range(N)), "offsets"
    for (off, ts, hdrs, key, val, _), (k, v, h), d in zip(got, sent,
                                                          direct):
        assert (key, val) == (k, v), f"@{off}: {key!r} {val[:40]!r}"
        assert hdrs == b",".join(hk.encode() + b":" + hv for hk, hv in h)
        assert ts == d[7]
