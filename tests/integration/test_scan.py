"""krx-ctl scan: the lost-KEK recovery aid (guide 5.1.3).

test_scan_lost_kek: two producers interleave records into the first two
partitions of a 3-partition encrypted topic (LocalKms, one producer
gzip); then `krx-ctl kek delete` and `kek create` replace the topic's
KEK by a NEW key under the same name, and both producers go on, now
into all three partitions. The expected first_good of each partition is
computed independently: the test reads every record raw from the broker
and opens each EDEK with the old and the new key from the keystore
file (and checks it against the produce acks). `krx-ctl scan -j --out
DIR --group G` must report per partition earliest, latest, first_good,
one range [earliest, first_good - 1] under "KEK-T version 1" (invalid:
the new key of that name does not open it), and for the partition that
never held an old record first_good = earliest and no range. The
printed kafka-delete-records.sh and kafka-consumer-groups.sh commands
are then run (Kafka's own tools, from the broker's jars), and a
consumer of group G through krxd reads on from first_good with
auto.offset.reset=error, no error, and gets exactly the records
produced after the KEK was made again. The text form of a one-partition
scan prints the table and the commands.

test_scan_kms_unreachable: Vault (the double) answering 503 while a
fresh krxd (empty DEK cache) scans: the partition is reported as an
error, with no range, no first_good and no command. Vault hanging and
--timeout 2: the scan ends at its deadline with the partition
unscanned, no command. Once the double recovers, the same scan reports
first_good = earliest, with one Vault decrypt call for its 20 records
(one DEK). A missing topic or partition is an error.
"""

import json
import os
import shlex
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import tools
from test_kms_vault import make_krxd, start_double

DELETE_RECORDS = "org.apache.kafka.tools.DeleteRecordsCommand"
CONSUMER_GROUPS = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


class Producers:
    """Two producers through krxd; every delivery (partition, offset,
    value) kept."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acks = []
        self.errors = []
        self.p = [Producer({"bootstrap.servers": bootstrap,
                            "log_level": 3, "linger.ms": 5}),
                  Producer({"bootstrap.servers": bootstrap,
                            "log_level": 3, "linger.ms": 5,
                            "compression.type": "gzip"})]

    def _cb(self, err, m):
        if err is not None:
            self.errors.append(err)
        else:
            self.acks.append((m.partition(), m.offset(), m.value()))

    def rounds(self, tag, n, partitions):
        start = len(self.acks)
        for i in range(n):
            for j, p in enumerate(self.p):
                for part in partitions:
                    p.produce(self.topic, value=f"{tag}-{j}-{i}".encode(),
                              partition=part, on_delivery=self._cb)
                p.poll(0)
        for p in self.p:
            assert p.flush(60) == 0
        assert not self.errors, self.errors
        return self.acks[start:]


def raw_records(kafka, topic, part):
    """Every record of topic-part at the broker: [(offset, value, hdrs)]."""
    conn = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        out = []
        for b in enctest.fetch_all(conn, topic, part):
            assert b["records"] is not None, "codec the test cannot read"
            out += [(r["offset"], r["value"], r["headers"])
                    for r in b["records"]]
        return out
    finally:
        conn.close()


def opens(key, edek):
    e = enctest.parse_edek(edek)
    try:
        AESGCM(key).decrypt(e["iv"], e["ct"], e["aad"])
        return True
    except Exception:
        return False


def expected_first_good(records, old_key, new_key):
    """(first_good, number of records the new key cannot open), from the
    raw records: plain records and new-key EDEKs are good."""
    last_bad, bad = None, 0
    for off, value, hdrs in records:
        if not hdrs or hdrs[0][0] != enctest.ENC_HEADER:
            continue
        edek = enctest.parse_wrapper(value)["edek"]
        if opens(new_key, edek):
            continue
        assert opens(old_key, edek), f"offset {off}: neither key opens it"
        last_bad, bad = off, bad + 1
    return (records[0][0] if last_bad is None else last_bad + 1), bad


def run_command(cmd):
    """A printed kafka-*.sh command, run with the broker's jars."""
    argv = shlex.split(cmd)
    main = {"kafka-delete-records.sh": DELETE_RECORDS,
            "kafka-consumer-groups.sh": CONSUMER_GROUPS}[argv[0]]
    return tools.run_java_tool(main, argv[1:])


def commit_zero(bootstrap, topic, group, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log_level": 3})
    try:
        c.commit(offsets=[TopicPartition(topic, p, 0) for p in partitions],
                 asynchronous=False)
    finally:
        c.close()


def consume_group(bootstrap, topic, group, ends, timeout=90):
    """Records of group through bootstrap until every partition reaches
    ends[p]: {p: [(offset, value)]}; any consumer error fails."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log_level": 3,
                  "auto.offset.reset": "error",
                  "enable.partition.eof": True})
    out = {p: [] for p in ends}
    pos = {}
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while any(pos.get(p, -1) < ends[p] for p in ends):
            assert time.monotonic() < deadline, f"positions {pos} {ends}"
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:    # _PARTITION_EOF
                    pos[m.partition()] = m.offset()
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            out[m.partition()].append((m.offset(), m.value()))
            pos[m.partition()] = m.offset() + 1
        return out
    finally:
        c.close()


def scan_json(krxd, *args, check=True):
    r = krxd.ctl("scan", *args, "-j", check=check, timeout=180)
    return r, json.loads(r.stdout)


def test_scan_lost_kek(kafka, krxd_factory, topic_name, tmp_path):
    krxd = enctest.enc_krxd(krxd_factory)
    topic, kek, group = topic_name, f"KEK-{topic_name}", f"g-{topic_name}"
    tools.create_topics(kafka.bootstrap, {topic: 3})
    enctest.kek(krxd, "create", kek)
    prod = Producers(krxd.bootstrap, topic)
    before = prod.rounds("old", 25, [0, 1])
    old_key = enctest.read_keystore(krxd.keystore)[(kek, 1)]

    assert "delete done" in enctest.kek(krxd, "delete", kek)
    enctest.kek(krxd, "create", kek)
    new_key = enctest.read_keystore(krxd.keystore)[(kek, 1)]
    assert new_key != old_key
    after = prod.rounds("new", 15, [0, 1, 2])

    wm = tools.watermarks(kafka.bootstrap, topic, range(3))
    expect = {}
    for p in range(3):
        recs = raw_records(kafka, topic, p)
        assert [r[0] for r in recs] == list(range(wm[p][0], wm[p][1]))
        expect[p] = expected_first_good(recs, old_key, new_key)
        acked_old = [o for (q, o, _) in before if q == p]
        acked_new = [o for (q, o, _) in after if q == p]
        # the acks agree: every old record before every new one
        assert expect[p][0] == (max(acked_old) + 1 if acked_old else 0)
        assert expect[p][0] == min(acked_new)
    assert expect[0][1] == 50 and expect[2] == (0, 0)

    out = tmp_path / "scan-out"
    out.mkdir()
    commit_zero(kafka.bootstrap, topic, group, range(3))
    r, j = scan_json(krxd, "--topic", topic, "--group", group,
                     "--out", str(out))
    assert j["error"] is None and j["topic"] == topic
    assert j["bootstrap"] == kafka.bootstrap
    parts = {x["partition"]: x for x in j["partitions"]}
    assert sorted(parts) == [0, 1, 2]
    for p in range(3):
        x = parts[p]
        assert x["status"] == "ok" and x["error"] is None, x
        assert (x["earliest"], x["latest"]) == wm[p], x
        assert x["first_good"] == expect[p][0], (p, x, expect[p])
        assert x["undecryptable"] == expect[p][1], (p, x)
        assert x["records"] == wm[p][1] - wm[p][0]
        if expect[p][1]:
            assert x["ranges"] == [{"from": wm[p][0],
                                    "to": expect[p][0] - 1,
                                    "reason": "invalid",
                                    "kek": f"{kek} version 1"}], x
        else:
            assert x["ranges"] == [] and x["first_good"] == x["earliest"]
    want_file = {"partitions": [{"topic": topic, "partition": p,
                                 "offset": expect[p][0]} for p in (0, 1)],
                 "version": 1}
    assert j["delete_records"] == want_file
    with open(j["delete_records_file"]) as f:
        assert json.load(f) == want_file
    cmds = j["commands"]
    assert len(cmds) == 3 and cmds[0].startswith("kafka-delete-records.sh")
    assert f"--topic {topic}:1 --to-offset {expect[1][0]} " in cmds[2]

    # the text form, one partition
    t = krxd.ctl("scan", "--topic", topic, "--partition", "1",
                 timeout=180).stdout
    assert f"delete-records-{topic}.json" in t and \
        "kafka-consumer-groups.sh" in t, t
    assert f"--topic {topic}:1 --to-offset {expect[1][0]} --execute" in t
    assert f"--topic {topic}:0 " not in t, t

    # what cannot be scanned says so
    r = krxd.ctl("scan", "--topic", f"{topic}-nope", check=False)
    assert r.returncode == 1 and "no such topic" in r.stderr, r
    assert "kafka-" not in r.stdout, r
    r = krxd.ctl("scan", "--topic", topic, "--partition", "7", "-j",
                 check=False)
    assert r.returncode == 1 and "has no partition 7" in \
        json.loads(r.stdout)["error"], r

    for cmd in cmds:
        run_command(cmd)
    wm2 = tools.watermarks(kafka.bootstrap, topic, range(3))
    for p in range(3):
        assert wm2[p] == (expect[p][0], wm[p][1]), (p, wm2[p])

    got = consume_group(krxd.bootstrap, topic, group,
                        {p: wm[p][1] for p in range(3)})
    for p in range(3):
        want = sorted((o, v) for (q, o, v) in after if q == p)
        assert got[p] == want, (p, got[p][:3], want[:3])
    assert "cannot decrypt" not in krxd.log_text()


def test_scan_kms_unreachable(kafka, krxd_factory, topic_name, tmp_path):
    v = start_double(tmp_path)
    try:
        k = make_krxd(krxd_factory, tmp_path, v, name="a", workers=1)
        tools.create_topics(kafka.bootstrap, {topic_name: 1})
        v.create_key(f"KEK-{topic_name}")
        p = Producer({"bootstrap.servers": k.bootstrap, "log_level": 3})
        for i in range(20):
            p.produce(topic_name, value=f"v{i}".encode(), partition=0)
        assert p.flush(60) == 0
        del p
        k.stop()
        k = make_krxd(krxd_factory, tmp_path, v, name="b", workers=1)
        # a KMS that hangs: the scan's own deadline ends it, unscanned
        v.outage("hang")
        r, j = scan_json(k, "--topic", topic_name, "--timeout", "2",
                         check=False)
        assert r.returncode != 0 and "deadline" in (j["error"] or ""), j
        x = j["partitions"][0]
        assert x["status"] == "unscanned" and x["first_good"] is None, x
        assert j["commands"] == []
        v.recover()
        v.outage("503")
        r, j = scan_json(k, "--topic", topic_name, check=False)
        assert r.returncode != 0
        x = j["partitions"][0]
        assert x["status"] == "error" and "unavailable" in x["error"], x
        assert x["first_good"] is None and x["ranges"] == [], x
        assert j["delete_records"]["partitions"] == [] and \
            j["commands"] == []
        v.recover()
        deadline = time.monotonic() + 90
        while True:
            v.reset_stats()
            r, j = scan_json(k, "--topic", topic_name, check=False)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
        assert r.returncode == 0, r.stdout + r.stderr
        x = j["partitions"][0]
        assert (x["earliest"], x["latest"], x["first_good"]) == (0, 20, 0)
        assert x["ranges"] == [] and x["encrypted"] == 20, x
        # 20 records under one DEK (one worker): one KMS call, not 20
        assert v.calls("decrypt") == 1, v.stats()["calls"]
    finally:
        v.stop()


def test_scan_tls_and_sasl(krxd_factory, tls_kafka, topic_name):
    """The scan's own connections use the virtual cluster's upstream TLS:
    through the TLS broker's SSL listener a topic of plain records scans
    whole (plain records decrypt, first_good = earliest). Through its
    SASL_SSL listener the broker closes the unauthenticated connection,
    and the scan says so (krx has no credentials of its own)."""
    from test_tls_krxd import tls_krxd
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    p = Producer({"bootstrap.servers": tls_kafka.bootstrap, "log_level": 3})
    for i in range(10):
        p.produce(topic_name, value=f"plain-{i}".encode(), partition=0)
    assert p.flush(60) == 0
    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.ssl_bootstrap)
    r, j = scan_json(k, "--topic", topic_name)
    assert j["bootstrap"] == tls_kafka.ssl_bootstrap
    x = j["partitions"][0]
    assert (x["earliest"], x["latest"], x["first_good"]) == (0, 10, 0), x
    assert (x["records"], x["encrypted"], x["ranges"]) == (10, 0, []), x
    assert j["commands"] == []
    k.stop()

    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.sasl_ssl_bootstrap)
    r, j = scan_json(k, "--topic", topic_name, check=False)
    assert r.returncode == 1 and "SASL" in (j["error"] or ""), j
    assert j["partitions"] == [] and j["commands"] == []
