"""The tls_kafka fixture, proved without krxd.

The session's TLS broker (tests/kafka/tlsbroker.py) is reached directly:
its SSL and SASL_SSL listeners present a certificate from the test's CA
for 127.0.0.1, localhost and kafka.test; confluent-kafka, kcat and Kafka's
Java console tools produce and read back records over SSL and over
SASL_SSL with SCRAM-SHA-512 (confluent-kafka also SCRAM-SHA-256 and PLAIN,
kcat also PLAIN), and the records are the ones a PLAINTEXT reader sees. A
wrong password is refused with an authentication error and a client that
trusts another CA fails the TLS handshake, with every client. Files that
hold passwords are private (0600).
"""

import json
import os
import re
import socket
import ssl
import stat
import subprocess

import pytest

import tools

N = 200
TOPIC_TOOL = "org.apache.kafka.tools.TopicCommand"
# the TLS alert a client without a certificate gets from a broker that
# requires one (bad_certificate from Java's TLS 1.3 stack;
# certificate_required is the RFC 8446 one)
NO_CERT_ALERT = r"alert (bad certificate|certificate required)"


def records(tag):
    """N (key, value, headers) triples; the value names the path taken."""
    return [(f"k{i % 7}".encode(), f"{tag}-{i}-".encode() + b"x" * (i % 50),
             [("seq", str(i).encode()), ("via", tag.encode())])
            for i in range(N)]


def produce(conf, topic, recs):
    from confluent_kafka import Producer
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(err)
    p = Producer(dict(conf, **{"acks": "all", "log_level": 3}))
    for k, v, h in recs:
        p.produce(topic, v, k, headers=h, on_delivery=report)
    left = p.flush(60)
    assert left == 0 and not errors, f"{left} undelivered, errors {errors}"


def kv_headers(rows):
    return [(r[3], r[4], list(r[5])) for r in rows]


def handshake(port, cafile, server_hostname):
    """Peer certificate (dict) after a verified TLS handshake."""
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=server_hostname) as t:
            return t.getpeercert()


def client_errors(conf, code):
    """The errors a confluent AdminClient with conf reports (error_cb)
    while failing to get Metadata, once one of them has code (a
    KafkaError constant); at most 20 seconds."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient
    seen = []
    a = AdminClient(dict(conf, **{"log_level": 0,
                                  "error_cb": seen.append}))
    with pytest.raises(KafkaException):
        a.list_topics(timeout=2)
    try:
        tools.wait_for(lambda: a.poll(0.2) is not None and
                       any(e.code() == code for e in seen), 20,
                       f"error {code} from the client")
    except TimeoutError:
        pass  # the caller's assertion shows what was seen
    return seen


def kcat(tls, args, input=None, check=True, timeout=120):
    r = subprocess.run(["kcat"] + args, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout,
                       env=tls.kcat_env)
    if check:
        assert r.returncode == 0, \
            f"kcat exited {r.returncode}: {r.stderr[-3000:]!r}"
    return r


def test_certificate_names_and_trust(tls_kafka):
    for port in (tls_kafka.ssl_port, tls_kafka.sasl_ssl_port):
        for name in ("kafka.test", "localhost", "127.0.0.1"):
            cert = handshake(port, tls_kafka.ca_file, name)
        san = set(cert["subjectAltName"])
        assert {("DNS", "kafka.test"), ("DNS", "localhost"),
                ("IP Address", "127.0.0.1")} <= san, san
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(port, tls_kafka.other_ca_file, "localhost")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(port, tls_kafka.ca_file, "wrong.invalid")


def test_secret_files_are_private(tls_kafka):
    for p in (tls_kafka.props_path, tls_kafka.sasl_properties,
              tls_kafka.ssl_properties, tls_kafka.keystore):
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, p
    with open(tls_kafka.sasl_properties) as f:
        text = f.read()
    assert "security.protocol=SASL_SSL" in text
    assert "sasl.mechanism=SCRAM-SHA-512" in text


CONFLUENT_PATHS = {
    "ssl": lambda t: t.ssl_conf(),
    "scram512-alice": lambda t: t.sasl_conf("alice"),
    "scram512-bob": lambda t: t.sasl_conf("bob"),
    "scram256": lambda t: t.sasl_conf("alice", "SCRAM-SHA-256"),
    "plain": lambda t: t.sasl_conf("bob", "PLAIN"),
}


@pytest.mark.parametrize("path", sorted(CONFLUENT_PATHS))
def test_confluent_roundtrip(tls_kafka, topic_name, path):
    conf = CONFLUENT_PATHS[path](tls_kafka)
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    sent = records(path)
    produce(conf, topic_name, sent)
    got = tools.read_partitions(conf["bootstrap.servers"], topic_name, [0],
                                conf=conf)[0]
    assert kv_headers(got) == [(k, v, h) for k, v, h in sent]
    plain = tools.read_partitions(tls_kafka.bootstrap, topic_name, [0])[0]
    assert plain == got


KCAT_PATHS = {
    "ssl": lambda t: t.ssl_kcat(),
    "scram512": lambda t: t.sasl_kcat("alice"),
    "plain": lambda t: t.sasl_kcat("bob", "PLAIN"),
}


@pytest.mark.parametrize("path", sorted(KCAT_PATHS))
def test_kcat_roundtrip(tls_kafka, topic_name, path):
    args = KCAT_PATHS[path](tls_kafka)
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    lines = [(f"k{i % 5}", f"{path}-{i}") for i in range(N)]
    kcat(tls_kafka, ["-P"] + args + ["-t", topic_name, "-K", ":",
                                     "-H", f"via={path}"],
         input="".join(f"{k}:{v}\n" for k, v in lines).encode())
    r = kcat(tls_kafka, ["-C"] + args + ["-t", topic_name, "-J", "-e",
                                         "-q", "-o", "beginning"])
    got = [json.loads(ln) for ln in r.stdout.decode().splitlines() if ln]
    assert [(m["key"], m["payload"]) for m in got] == lines
    assert all(m["headers"] == ["via", path] for m in got)
    plain = tools.read_partitions(tls_kafka.bootstrap, topic_name, [0])[0]
    assert [(r[3].decode(), r[4].decode()) for r in plain] == lines


@pytest.mark.parametrize("path", ["ssl", "sasl"])
def test_java_console_roundtrip(tls_kafka, topic_name, path):
    props = tls_kafka.ssl_properties if path == "ssl" \
        else tls_kafka.sasl_properties
    bootstrap = tls_kafka.ssl_bootstrap if path == "ssl" \
        else tls_kafka.sasl_ssl_bootstrap
    tools.create_topics(tls_kafka.bootstrap, {topic_name: 1})
    lines = [f"k{i % 3}\t{path}-{i}" for i in range(N)]
    tools.console_produce(bootstrap, topic_name, lines,
                          reader_props={"parse.key": "true"},
                          extra_args=["--producer.config", props])
    out, r = tools.console_consume(
        bootstrap, topic_name, N,
        formatter_props={"print.timestamp": "false",
                         "print.partition": "false",
                         "print.offset": "false",
                         "print.headers": "false"},
        extra_args=["--consumer.config", props])
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    assert [ln.decode() for ln in out] == lines
    plain = tools.read_partitions(tls_kafka.bootstrap, topic_name, [0])[0]
    assert [f"{r[3].decode()}\t{r[4].decode()}" for r in plain] == lines


def java_list_topics(bootstrap, props):
    return tools.run_java_tool(
        TOPIC_TOOL, ["--bootstrap-server", bootstrap, "--list",
                     "--command-config", props], check=False, timeout=120)


def test_wrong_password_is_refused(tls_kafka, tmp_path):
    from confluent_kafka import KafkaError
    for mech in ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"):
        errs = client_errors(tls_kafka.sasl_conf("alice", mech, "wrong"),
                             KafkaError._AUTHENTICATION)
        assert any(e.code() == KafkaError._AUTHENTICATION and
                   "invalid" in e.str().lower() for e in errs), \
            (mech, [e.str() for e in errs])
    # a known user with another user's password, and an unknown user
    other = tls_kafka.users["bob"]
    errs = client_errors(tls_kafka.sasl_conf("alice", password=other),
                         KafkaError._AUTHENTICATION)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs)
    errs = client_errors(tls_kafka.sasl_conf("mallory", password=other),
                         KafkaError._AUTHENTICATION)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errs)

    r = kcat(tls_kafka, ["-L", "-m", "3"] +
             tls_kafka.sasl_kcat("alice", password="wrong"), check=False)
    assert r.returncode != 0
    assert b"invalid credentials with SASL mechanism SCRAM-SHA-512" \
        in r.stderr, r.stderr[-2000:]

    bad = tls_kafka.java_properties(str(tmp_path / "bad.properties"),
                                    "SASL_SSL", "alice", password="wrong")
    r = java_list_topics(tls_kafka.sasl_ssl_bootstrap, bad)
    err = r.stderr.decode(errors="replace")
    assert r.returncode != 0
    assert "SaslAuthenticationException" in err, err[-3000:]
    assert "wrong" not in tls_kafka.users.values()


def test_other_ca_fails_handshake(tls_kafka, tmp_path):
    from confluent_kafka import KafkaError
    other = tls_kafka.other_ca_file
    for conf in (tls_kafka.ssl_conf(ca=other),
                 tls_kafka.sasl_conf("alice", ca=other)):
        errs = client_errors(conf, KafkaError._SSL)
        assert any(e.code() == KafkaError._SSL and
                   "certificate verify failed" in e.str() for e in errs), \
            [e.str() for e in errs]

    for args in (tls_kafka.ssl_kcat(ca=other),
                 tls_kafka.sasl_kcat("alice", ca=other)):
        r = kcat(tls_kafka, ["-L", "-m", "3"] + args, check=False)
        assert r.returncode != 0
        assert b"certificate verify failed" in r.stderr, r.stderr[-2000:]

    bad = tls_kafka.java_properties(str(tmp_path / "other-ca.properties"),
                                    "SSL", ca=other)
    r = java_list_topics(tls_kafka.ssl_bootstrap, bad)
    err = r.stderr.decode(errors="replace")
    assert r.returncode != 0
    assert "SslAuthenticationException" in err or \
        "SSLHandshakeException" in err, err[-3000:]


def test_client_auth_required(tmp_path):
    """client_auth="required" (a broker of its own, small heap): a client
    with the CA's client certificate is served, one without is refused,
    over confluent-kafka, kcat and a Java tool."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient
    from tlsbroker import TlsBroker
    b = TlsBroker(workdir=str(tmp_path / "kafka"), client_auth="required",
                  heap="384M")
    try:
        b.start(timeout=240)
        md = AdminClient(dict(b.ssl_conf(client_cert=True),
                              log_level=3)).list_topics(timeout=30)
        assert list(md.brokers) == [1]
        errs = client_errors(b.ssl_conf(), KafkaError._TRANSPORT)
        assert any(re.search(NO_CERT_ALERT, e.str()) for e in errs), \
            [e.str() for e in errs]

        kcat(b, ["-L", "-m", "30"] + b.ssl_kcat(client_cert=True))
        r = kcat(b, ["-L", "-m", "3"] + b.ssl_kcat(), check=False)
        assert r.returncode != 0
        assert re.search(NO_CERT_ALERT, r.stderr.decode()), r.stderr[-2000:]

        r = java_list_topics(b.ssl_bootstrap, b.ssl_properties)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
        nocert = b.java_properties(str(tmp_path / "nocert.properties"),
                                   "SSL")
        r = java_list_topics(b.ssl_bootstrap, nocert)
        err = r.stderr.decode(errors="replace")
        assert r.returncode != 0
        assert "SslAuthenticationException" in err or \
            "SSLHandshakeException" in err, err[-3000:]
    finally:
        b.stop(remove="always")
