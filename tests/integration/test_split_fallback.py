"""Batch splitting when the cluster will not tell krxd a topic's limit.

krxd learns a topic's batch size limit (max.message.bytes) with a
DescribeConfigs on the client's own broker connection, so under the
client's ACLs. Here a real authorizer refuses it: a private broker with
org.apache.kafka.metadata.authorizer.StandardAuthorizer
(allow.everyone.if.no.acl.found, the broker's own PLAINTEXT and
CONTROLLER listeners used as the super user User:ANONYMOUS) and a
SASL_PLAINTEXT listener (PLAIN, user alice) for clients, which is
krxd's upstream bootstrap; krxd passes SASL through, so the client
authenticates to the broker as alice.

A topic with max.message.bytes = 65536 and, made as the super user,
ACLs for User:alice on it: ALLOW ALL and DENY DESCRIBE_CONFIGS (a DENY
wins; the ALLOW is there because once a topic has any ACL,
allow.everyone.if.no.acl.found no longer lets alice produce to it or
read it). The test first checks its premise directly against the
broker: alice's DescribeConfigs of the topic is refused with
TOPIC_AUTHORIZATION_FAILED, the super user's gives 65536.

Then through an encrypting krxd an idempotent confluent-kafka producer
authenticated as alice sends 2,000 records of 1 KiB random values in
large batches (batch.size 1,000,000, linger.ms 500, compression none).
krxd must fall back to Kafka's default 1048588 as a guessed limit,
learn from the broker's MESSAGE_TOO_LARGE answers (the client is told
REQUEST_TIMED_OUT and retries) and split the retries smaller.

Checked: no delivery error, all 2,000 acknowledged in order at offsets
0..1999; krxd logged that the broker refused an encrypted batch of the
topic as too large; krx-ctl cache stats counts limit lookups and split
batches; krxd closed no connection with a warning (the refused
DescribeConfigs must not cost the client its connection); at the broker
(raw Fetch, as the super user) every stored batch is at most 65,536
bytes, sequence numbers run from 0 without gap or overlap, every record
is encrypted and decrypted by the test's own code to what was sent;
read through krxd as alice every record comes back once, in order.
"""

import random
import re
import sys
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (AclBinding, AclOperation,
                                   AclPermissionType, ConfigResource,
                                   ResourcePatternType, ResourceType)

import enctest
import keytest
import krxtest
import splittest
import tools
from broker import Broker, free_port, wait_for

LIMIT = 65536
N = 2000
VALUE = 1024
USER = "alice"
PASSWORD = "alice-secret"
TOPIC_AUTHORIZATION_FAILED = 29
LIMIT_LOOKUPS = "workers.topic_limit_lookups"
SASL_LISTENER = "SASL_PLAINTEXT"


class SaslBroker(Broker):
    """A private broker with StandardAuthorizer and, beside its
    PLAINTEXT and CONTROLLER listeners (the super user ANONYMOUS), a
    SASL_PLAINTEXT listener with mechanism PLAIN and user alice."""

    def __init__(self):
        jaas = ("org.apache.kafka.common.security.plain.PlainLoginModule "
                f'required user_{USER}="{PASSWORD}";')
        lname = SASL_LISTENER.lower()
        super().__init__(heap="512M", extra_props={
            "authorizer.class.name":
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "true",
            "super.users": "User:ANONYMOUS",
            "sasl.enabled.mechanisms": "PLAIN",
            f"listener.name.{lname}.sasl.enabled.mechanisms": "PLAIN",
            f"listener.name.{lname}.plain.sasl.jaas.config": jaas,
        })
        self.sasl_port = None

    @property
    def sasl_bootstrap(self):
        return f"{self.host}:{self.sasl_port}"

    def _write_config(self):
        """Broker's config with a third listener, on a port of its own,
        advertised as itself (so krxd reaches the broker on it)."""
        super()._write_config()
        self.sasl_port = free_port(self.host)
        while self.sasl_port in (self.port, self.controller_port):
            self.sasl_port = free_port(self.host)
        h = self.host
        over = {
            "listeners": f"PLAINTEXT://{h}:{self.port},"
                         f"CONTROLLER://{h}:{self.controller_port},"
                         f"{SASL_LISTENER}://{h}:{self.sasl_port}",
            "advertised.listeners": f"PLAINTEXT://{h}:{self.port},"
                                    f"{SASL_LISTENER}://{h}:"
                                    f"{self.sasl_port}",
            "listener.security.protocol.map":
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                f"{SASL_LISTENER}:SASL_PLAINTEXT",
        }
        with open(self.props_path) as f:
            lines = f.read().splitlines()
        out = []
        for ln in lines:
            k = ln.split("=", 1)[0]
            if k in over:
                ln = f"{k}={over.pop(k)}"
            out.append(ln)
        out += [f"{k}={v}" for k, v in over.items()]
        with open(self.props_path, "w") as f:
            f.write("\n".join(out) + "\n")


@pytest.fixture(scope="module")
def sasl_broker():
    b = SaslBroker()
    try:
        try:
            b.start(timeout=180)
        except BaseException:
            sys.stderr.write("private kafka failed to start; log tail:\n" +
                             b.log_text()[-6000:] + "\n")
            raise
        yield b
    finally:
        b.stop()


@pytest.fixture
def sasl_krxd_factory(sasl_broker, tmp_path):
    """conftest's krxd_factory, with the private broker's SASL listener
    as the upstream bootstrap (and no shared broker)."""
    f = krxtest.KrxdFactory(tmp_path, sasl_broker.sasl_bootstrap)
    yield f
    problems = f.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def as_alice(conf):
    """conf for a confluent-kafka client authenticating as alice."""
    c = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
         "sasl.username": USER, "sasl.password": PASSWORD}
    c.update(conf)
    return c


def describe_limit(admin, topic):
    """max.message.bytes of topic as admin may describe it, or the
    KafkaError that refuses it."""
    fs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)],
                                request_timeout=15)
    try:
        (cfg,) = [f.result(20) for f in fs.values()]
    except KafkaException as e:
        return e.args[0]
    return cfg["max.message.bytes"].value


def set_acls(broker, topic):
    """As the super user: ALLOW ALL and DENY DESCRIBE_CONFIGS for alice
    on topic."""
    a = tools.admin(broker.bootstrap)
    acls = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                       f"User:{USER}", "*", op, perm)
            for op, perm in ((AclOperation.ALL, AclPermissionType.ALLOW),
                             (AclOperation.DESCRIBE_CONFIGS,
                              AclPermissionType.DENY))]
    for f in a.create_acls(acls, request_timeout=30).values():
        f.result(30)


def denials(broker, topic):
    """How many DescribeConfigs of topic by alice the broker's
    authorizer has denied (kafka.authorizer.logger, at INFO)."""
    rx = re.compile(rf"Principal = User:{USER} is Denied operation = "
                    rf"DESCRIBE_CONFIGS [^\n]* on resource = Topic:LITERAL:"
                    rf"{re.escape(topic)} for request = DescribeConfigs\b")
    return len(rx.findall(broker.log_text()))


def test_split_fallback(sasl_broker, sasl_krxd_factory, topic_name):
    broker = sasl_broker
    topic = topic_name
    tools.create_topics(broker.bootstrap, {topic: 1},
                        config={"max.message.bytes": str(LIMIT)})
    set_acls(broker, topic)

    # The premise: alice may not describe the topic's configs, the super
    # user may; alice may see the topic.
    su = tools.admin(broker.bootstrap)
    assert describe_limit(su, topic) == str(LIMIT)
    alice = tools.admin(broker.sasl_bootstrap, **as_alice({}))

    def refused():
        r = describe_limit(alice, topic)
        return r if isinstance(r, KafkaError) else None
    err = wait_for(refused, 30, f"DescribeConfigs of {topic} as {USER} to "
                   f"be refused (ACL applied)", interval=0.2)
    assert err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, \
        f"DescribeConfigs of {topic} as {USER}: {err} (want " \
        f"TOPIC_AUTHORIZATION_FAILED)"
    assert err.code() == TOPIC_AUTHORIZATION_FAILED
    md = alice.list_topics(topic, timeout=20).topics[topic]
    assert md.error is None and len(md.partitions) == 1, \
        f"{USER} cannot see {topic}: {md.error}"

    denied_before = denials(broker, topic)
    assert denied_before > 0, "the broker's log has no DescribeConfigs " \
        f"of {topic} denied to {USER}"

    krxd = splittest.split_krxd(sasl_krxd_factory)
    enctest.kek(krxd, "create", f"KEK-{topic}")
    rnd = random.Random(14)
    want = {0: [(b"k-%05d" % i, rnd.randbytes(VALUE)) for i in range(N)]}

    t0 = time.monotonic()
    dr = splittest.Deliveries()
    client_errors = []
    with splittest.producer(as_alice({
            "bootstrap.servers": krxd.bootstrap,
            "enable.idempotence": True, "acks": "all",
            "batch.size": 1_000_000, "linger.ms": 500,
            "compression.type": "none", "message.timeout.ms": 60000,
            "error_cb": client_errors.append, "log_level": 4})) as p:
        splittest.produce(p, topic, want, dr)
        left = p.flush(75)
    took = time.monotonic() - t0
    log = krxd.log_text()
    warned = [ln for ln in log.splitlines() if "closing connection" in ln
              and "conn=" in ln and "broker=" in ln]
    assert left == 0, \
        f"{left} undelivered after {took:.0f}s; {dr.error_summary()}; " \
        f"client errors {[str(e) for e in client_errors[:5]]}; krxd " \
        f"closed {warned[:5]}"
    assert not dr.errors, \
        f"{dr.error_summary()}; client errors " \
        f"{[str(e) for e in client_errors[:5]]}; krxd closed {warned[:5]}"
    dr.assert_clean(want)

    # krxd reached the broker on the SASL listener only, and asked for
    # the limit as alice: the authorizer denied it.
    assert re.search(rf"connected to broker "
                     rf"{re.escape(broker.sasl_bootstrap)}\b", log), \
        f"krxd log has no 'connected to broker {broker.sasl_bootstrap}'"
    assert not re.search(rf"connected to broker "
                         rf"{re.escape(broker.bootstrap)}\b", log), \
        "krxd connected to the broker's PLAINTEXT listener"
    assert denials(broker, topic) > denied_before, \
        f"the broker denied no DescribeConfigs of {topic} to {USER} " \
        f"while krxd served the producer"

    # krxd kept alice's connections (a refused DescribeConfigs is an
    # answer, not a reason to close) and learned from MESSAGE_TOO_LARGE.
    assert not warned, "krxd closed connections with a warning:\n" + \
        "\n".join(warned[:10])
    assert not re.search(r"closing connection[^\n]*(DescribeConfigs|"
                         r"api key 32\b)", log)
    refusal = re.compile(
        rf"topic {re.escape(topic)}: the broker refused an encrypted batch "
        rf"of (\d+) bytes as too large; batches of this topic are split "
        rf"smaller from now on")
    sizes = [int(m.group(1)) for m in refusal.finditer(log)]
    assert sizes, "krxd never logged that the broker refused a batch of " \
        f"{topic} as too large:\n" + "\n".join(
            ln for ln in log.splitlines() if topic in ln)[-3000:]
    assert all(s > LIMIT for s in sizes), \
        f"krxd says the broker refused batches of {sizes} bytes"
    # The connections that saw the refusals ended only when the client
    # closed them.
    for conn in {m.group(1) for m in re.finditer(
            rf"conn=(\d+): topic {re.escape(topic)}: the broker refused",
            log)}:
        ends = re.findall(rf"conn={conn}\b[^\n]*closing connection: "
                          rf"([^\n]*)", log)
        assert all(e == "client closed" for e in ends), \
            f"conn={conn} closed: {ends}"
    st = keytest.cache_stats(krxd)
    assert st.get(LIMIT_LOOKUPS, 0) > 0, \
        f"{LIMIT_LOOKUPS} is {st.get(LIMIT_LOOKUPS)}: {st}"
    splittest.assert_split(krxd, "limit not describable")

    # At the broker, read as the super user.
    bs = splittest.stored_batches(broker.host, broker.port, topic, [0])[0]
    sizes = [len(b["raw"]) for b in bs]
    assert max(sizes) <= LIMIT, f"stored batch sizes {sizes}"
    assert sum(b["count"] for b in bs) == N
    splittest.check_sequences(bs, what=topic)
    splittest.check_stored(broker.bootstrap, topic, want, krxd.keystore)

    # Through krxd, as alice: each record once, in order, decrypted.
    got = enctest.read_topics(krxd.bootstrap, [topic], timeout=60,
                              conf=as_alice({}))[topic][0]
    assert [r[2] for r in got] == list(range(N)), \
        f"via krxd: {len(got)} records, offsets not 0..{N - 1}"
    assert [(r[3], r[4]) for r in got] == want[0], \
        "via krxd: records differ from those sent"
    assert not any(r[5] for r in got), "via krxd: headers on records"
