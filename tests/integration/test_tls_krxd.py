"""krxd with TLS on both sides, in front of the session's TLS broker
(tls_kafka: SSL and SASL_SSL listeners, SCRAM users made with
kafka-configs, a CA made by the test).

Through an encrypting krxd that clients reach over TLS (krxd's own
certificate from the test's CA) and that reaches the broker over TLS
(upstream trust: that CA, the broker's name checked): confluent-kafka,
kcat and Kafka's Java console tools produce and consume over SSL and
over SASL_SSL with SCRAM-SHA-512, and every record at the broker is
encrypted. SASL passes through: krxd has no credentials. A krxd that
never saw the cluster's metadata serves a client that bootstraps from a
node port (its Metadata probe is refused before authentication, so the
node port goes through a bootstrap server). Mutual TLS: a client with a
certificate of the CA is served, one without is refused with a log line.
A broker certificate from another CA, or one that does not name the
host krxd connects to, is refused with a log line.
"""

import json
import os
import re
import subprocess
import sys

import pytest

import enctest
import krxtest
import tools

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kms"))
from tls_forward import TlsForward  # noqa: E402

N = 60


def vc_tls(tls_kafka, client_auth=None):
    """krxd's client-facing tls group: the test CA's server certificate
    (127.0.0.1 and localhost), clientAuth against the same CA."""
    pki = tls_kafka.pki
    trust = ""
    if client_auth:
        trust = (f'      trust = {{ storeFile = "{tls_kafka.ca_file}"; '
                 f'storeType = "PEM"; trustOptions = {{ clientAuth = '
                 f'"{client_auth}"; }}; }};\n')
    return ("    tls = {\n"
            f'      key = {{ privateKeyFile = "{pki["server_key"]}";\n'
            f'        certificateFile = "{pki["server_chain"]}"; }};\n'
            f"{trust}    }};\n")


def up_tls(ca):
    return (f'      tls = {{ trust = {{ storeFile = "{ca}"; '
            'storeType = "PEM"; }; };\n')


def tls_krxd(factory, tls_kafka, upstream, client_auth=None, ca=None,
             **opts):
    return enctest.enc_krxd(
        factory, upstream=upstream, log_level="debug",
        vc_extra=vc_tls(tls_kafka, client_auth),
        upstream_extra=up_tls(ca or tls_kafka.ca_file), **opts)


def values(tag):
    return [f"{tag}-{i}-".encode() + b"v" * (i % 40) for i in range(N)]


def produce(conf, topic, vals):
    from confluent_kafka import Producer
    errs = []
    p = Producer(dict(conf, **{"acks": "all", "enable.idempotence": True,
                               "log_level": 3}))
    for i, v in enumerate(vals):
        p.produce(topic, v, f"k{i}".encode(), on_delivery=lambda e, m:
                  errs.append(e) if e else None)
    assert p.flush(60) == 0 and not errs, errs


def at_broker_encrypted(tls_kafka, krxd, topic, vals):
    direct = tools.read_partitions(tls_kafka.bootstrap, topic, [0])[0]
    assert len(direct) == len(vals)
    dec = enctest.Decryptor(krxd.keystore)
    for i, (rec, v) in enumerate(zip(direct, vals)):
        dec.check(rec, f"k{i}".encode(), v, None, what=topic)


def kcat(tls_kafka, args, input=None):
    r = subprocess.run(["kcat"] + args, input=input, capture_output=True,
                       timeout=120, env=tls_kafka.kcat_env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("path", ["ssl", "sasl"])
def test_clients_through_tls_krxd(tls_kafka, krxd_factory, topic_name,
                                  path):
    up = tls_kafka.ssl_bootstrap if path == "ssl" else \
        tls_kafka.sasl_ssl_bootstrap
    k = tls_krxd(krxd_factory, tls_kafka, up)
    enctest.kek(k, "create", f"KEK-{topic_name}")
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    if path == "ssl":
        conf = tls_kafka.ssl_conf(bootstrap=k.bootstrap)
        kargs = tls_kafka.ssl_kcat(bootstrap=k.bootstrap)
        props = tls_kafka.ssl_properties
    else:
        conf = tls_kafka.sasl_conf("alice", bootstrap=k.bootstrap)
        kargs = tls_kafka.sasl_kcat("alice", bootstrap=k.bootstrap)
        props = tls_kafka.sasl_properties
    # confluent-kafka
    vals = values(f"{path}-confluent")
    produce(conf, topic_name, vals)
    got = tools.read_partitions(k.bootstrap, topic_name, [0], conf=conf)[0]
    assert [r[4] for r in got] == vals
    # kcat
    kv = [f"k{N + i}:{path}-kcat-{i}" for i in range(N)]
    kcat(tls_kafka, ["-P"] + kargs + ["-t", topic_name, "-K", ":"],
         input="\n".join(kv).encode() + b"\n")
    r = kcat(tls_kafka, ["-C"] + kargs + ["-t", topic_name, "-J", "-e",
                                          "-q", "-o", str(N)])
    assert [json.loads(ln)["payload"] for ln in r.stdout.decode().split()
            if ln] == [x.split(":", 1)[1] for x in kv]
    # Java console tools
    lines = [f"k{2 * N + i}\t{path}-java-{i}" for i in range(N)]
    tools.console_produce(k.bootstrap, topic_name, lines,
                          reader_props={"parse.key": "true"},
                          extra_args=["--producer.config", props])
    out, cr = tools.console_consume(
        k.bootstrap, topic_name, 3 * N,
        formatter_props={"print.timestamp": "false",
                         "print.partition": "false",
                         "print.offset": "false",
                         "print.headers": "false", "print.key": "false"},
        extra_args=["--consumer.config", props, "--from-beginning"])
    assert cr.returncode == 0, cr.stderr.decode(errors="replace")[-3000:]
    assert [ln.decode() for ln in out][2 * N:] == \
        [ln.split("\t", 1)[1] for ln in lines]
    # every record at the broker is encrypted
    allv = vals + [x.split(":", 1)[1].encode() for x in kv] + \
        [ln.split("\t", 1)[1].encode() for ln in lines]
    at_broker_encrypted(tls_kafka, k, topic_name, allv)
    log = k.log_text()
    for pw in tls_kafka.users.values():
        assert pw not in log, "a SASL password is in krxd's log"


def test_sasl_node_port_before_any_metadata(tls_kafka, krxd_factory,
                                            topic_name):
    """A krxd that has learned no broker (just started) and a client whose
    bootstrap is a node port: the probe is refused by the SASL_SSL
    listener, the port is served through a bootstrap server, and the
    client authenticates and works."""
    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.sasl_ssl_bootstrap)
    enctest.kek(k, "create", f"KEK-{topic_name}")
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    node = k.node_address(1)
    conf = tls_kafka.sasl_conf("bob", bootstrap=node)
    vals = values("probe")
    produce(conf, topic_name, vals)
    got = tools.read_partitions(node, topic_name, [0], conf=conf)[0]
    assert [r[4] for r in got] == vals
    at_broker_encrypted(tls_kafka, k, topic_name, vals)
    assert re.search(r"cannot ask for the address of broker 1 .*serving "
                     r"it through bootstrap server", k.log_text())


def test_mutual_tls(tls_kafka, krxd_factory, topic_name):
    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.ssl_bootstrap,
                 client_auth="REQUIRED")
    enctest.kek(k, "create", f"KEK-{topic_name}")
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    good = tls_kafka.ssl_conf(bootstrap=k.bootstrap, client_cert=True)
    produce(good, topic_name, values("mtls"))
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    start = k.log_size()
    bad = AdminClient(dict(tls_kafka.ssl_conf(bootstrap=k.bootstrap),
                           log_level=0))
    with pytest.raises(KafkaException):
        bad.list_topics(timeout=5)
    k.wait_log(r"client=127\.0\.0\.1:\d+: closing connection: client TLS "
               r"failed: .*certificate", start=start)
    # a TCP health check (connect, close) is no TLS failure
    assert "unexpected eof" not in k.log_text()


def test_upstream_wrong_ca_or_name(tls_kafka, krxd_factory, tmp_path):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.ssl_bootstrap,
                 ca=tls_kafka.other_ca_file)
    a = AdminClient(dict(tls_kafka.ssl_conf(bootstrap=k.bootstrap),
                         log_level=0))
    with pytest.raises(KafkaException):
        a.list_topics(timeout=5)
    k.wait_log(r"broker 127\.0\.0\.1:\d+: TLS failed: .*certificate "
               r"verify failed")
    # the CA is right but the certificate names another host
    pki = tls_kafka.pki
    fwd = TlsForward(("127.0.0.1", tls_kafka.port), pki["wronghost"],
                     pki["wronghost_key"])
    fwd.start()
    try:
        k2 = tls_krxd(krxd_factory, tls_kafka, f"127.0.0.1:{fwd.port}")
        a = AdminClient(dict(tls_kafka.ssl_conf(bootstrap=k2.bootstrap),
                             log_level=0))
        with pytest.raises(KafkaException):
            a.list_topics(timeout=5)
        k2.wait_log(r"TLS failed: .*(hostname mismatch|IP address "
                    r"mismatch)")
    finally:
        fwd.stop()


def test_certificate_reloaded(tls_kafka, krxd_factory, topic_name):
    """krx-ctl reload reads the certificate files again: after a reload
    onto a certificate of another CA, a client trusting the first CA is
    refused and one trusting the other is served."""
    import reloadtest
    from confluent_kafka.admin import AdminClient
    k = tls_krxd(krxd_factory, tls_kafka, tls_kafka.ssl_bootstrap)

    def served(ca):
        a = AdminClient(dict(tls_kafka.ssl_conf(bootstrap=k.bootstrap,
                                                ca=ca), log_level=0))
        try:
            return len(a.list_topics(timeout=5).brokers) == 1
        except Exception:
            return False
    assert served(tls_kafka.ca_file)
    pki = tls_kafka.pki
    k.vc_extra = k.vc_extra.replace(pki["server_key"],
                                    pki["other_server_key"]).replace(
        pki["server_chain"], pki["other_server"])
    k.write_config()
    assert reloadtest.reload_ok(k) == 2
    assert served(tls_kafka.other_ca_file)
    assert not served(tls_kafka.ca_file)


def test_upstream_client_certificate(krxd_factory, tmp_path, topic_name):
    """A broker that requires client certificates (a broker of its own):
    krxd with the upstream key is served (records encrypted at the
    broker); without it the broker refuses krxd, and krxd says so."""
    from tlsbroker import TlsBroker
    b = TlsBroker(workdir=str(tmp_path / "kafka"), client_auth="required",
                  heap="384M")
    try:
        b.start(timeout=240)
        key = (f'      tls = {{ trust = {{ storeFile = "{b.ca_file}"; '
               'storeType = "PEM"; };\n'
               f'        key = {{ privateKeyFile = "{b.client_key}"; '
               f'certificateFile = "{b.client_cert}"; }}; }};\n')
        k = enctest.enc_krxd(krxd_factory, upstream=b.ssl_bootstrap,
                             vc_extra=vc_tls(b), upstream_extra=key,
                             log_level="debug")
        enctest.kek(k, "create", f"KEK-{topic_name}")
        tools.create_topics(b.bootstrap, {topic_name: 1})
        vals = values("upstream-mtls")
        produce(b.ssl_conf(bootstrap=k.bootstrap), topic_name, vals)
        at_broker_encrypted(b, k, topic_name, vals)
        # the same krxd without the key: refused by the broker
        k2 = tls_krxd(krxd_factory, b, b.ssl_bootstrap)
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient
        a = AdminClient(dict(b.ssl_conf(bootstrap=k2.bootstrap),
                             log_level=0))
        with pytest.raises(KafkaException):
            a.list_topics(timeout=5)
        k2.wait_log(r"broker 127\.0\.0\.1:\d+: (TLS failed: .*(certificate"
                    r"|alert)|broker closed the connection)")
    finally:
        b.stop(remove="always")
