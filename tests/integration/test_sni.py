"""SNI routing: a virtual cluster served on one TLS port, brokers told
apart by the server name each client sends (sni = { bootstrap; broker =
"broker-$(nodeId).kafka.test"; }).

The clients resolve bootstrap.kafka.test and broker-N.kafka.test to
127.0.0.1 through a hosts file bind-mounted over /etc/hosts in a private
mount namespace (unshare -m), the way DNS would point every name at the
proxy. confluent-kafka, kcat and Kafka's Java console tools produce and
consume through an encrypting krxd, the consumers in a group over a
topic of 3 partitions; every record at the broker is encrypted; a name
that is neither the bootstrap's nor a broker's is refused with a log
line. krxd's certificate (from the test's CA) names *.kafka.test.
"""

import json
import os
import socket
import ssl
import subprocess
import sys

import enctest
import tools

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kms"))
import tlsca  # noqa: E402

N = 90
NS = ["unshare", "-m", "sh", "-c",
      'mount --bind "$0" /etc/hosts && exec "$@"']

PY_CLIENT = r"""
import json, sys
from confluent_kafka import Consumer, Producer
a = json.loads(sys.argv[1])
conf = {"bootstrap.servers": a["bootstrap"], "security.protocol": "SSL",
        "ssl.ca.location": a["ca"], "log_level": 3}
p = Producer(dict(conf, **{"acks": "all", "enable.idempotence": True}))
errs = []
for i in range(a["n"]):
    p.produce(a["topic"], ("py-%d" % i).encode(), ("k%d" % i).encode(),
              on_delivery=lambda e, m: errs.append(str(e)) if e else None)
left = p.flush(60)
c = Consumer(dict(conf, **{"group.id": a["group"],
                           "auto.offset.reset": "earliest"}))
c.subscribe([a["topic"]])
got = []
for _ in range(600):
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        got.append(m.value().decode())
    if len(got) >= a["want"]:
        break
parts = sorted({tp.partition for tp in c.assignment()})
c.commit(asynchronous=False)
c.close()
print(json.dumps({"left": left, "errs": errs, "got": got, "parts": parts}))
"""


def ns_run(hosts, cmd, **kw):
    return subprocess.run(NS + [hosts] + cmd, capture_output=True,
                          timeout=kw.pop("timeout", 240), **kw)


def sni_krxd(factory, tmp_path):
    pki = tlsca.write_pki(str(tmp_path / "pki"),
                          dns=["*.kafka.test", "bootstrap.kafka.test"])
    vc = ("    tls = { key = { "
          f'privateKeyFile = "{pki["server_key"]}"; '
          f'certificateFile = "{pki["server_chain"]}"; }}; }};\n'
          '    sni = { bootstrap = "bootstrap.kafka.test"; '
          'broker = "broker-$(nodeId).kafka.test"; };\n')
    k = enctest.enc_krxd(factory, sni=True, vc_extra=vc, log_level="debug")
    hosts = str(tmp_path / "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n127.0.0.1 bootstrap.kafka.test " +
                " ".join(f"broker-{i}.kafka.test" for i in range(3)) + "\n")
    return k, pki["ca"], hosts


def test_sni_routing_every_client(kafka, krxd_factory, tmp_path,
                                  topic_name):
    k, ca, hosts = sni_krxd(krxd_factory, tmp_path)
    enctest.kek(k, "create", f"KEK-{topic_name}")
    tools.create_topics(kafka.bootstrap, {topic_name: 3})
    boot = f"bootstrap.kafka.test:{k.bootstrap_port}"
    # confluent-kafka: produce, then a consumer group over 3 partitions
    args = {"bootstrap": boot, "ca": ca, "topic": topic_name, "n": N,
            "want": N, "group": "sni-py"}
    r = ns_run(hosts, [sys.executable, "-c", PY_CLIENT, json.dumps(args)])
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert out["left"] == 0 and not out["errs"], out["errs"]
    assert sorted(out["got"]) == sorted(f"py-{i}" for i in range(N))
    assert out["parts"] == [0, 1, 2]
    # kcat
    kc = ["-b", boot, "-X", "security.protocol=ssl", "-X",
          f"ssl.ca.location={ca}"]
    r = ns_run(hosts, ["kcat", "-P", "-t", topic_name] + kc,
               input="\n".join(f"kcat-{i}" for i in range(N)).encode())
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    # Java console tools, the consumer in a group
    props = str(tmp_path / "client.properties")
    with open(props, "w") as f:
        f.write("security.protocol=SSL\nssl.truststore.type=PEM\n"
                f"ssl.truststore.location={ca}\n")
    lines = [f"java-{i}" for i in range(N)]
    r = ns_run(hosts, tools.java_tool_cmd(tools.CONSOLE_PRODUCER, [
        "--bootstrap-server", boot, "--topic", topic_name,
        "--producer.config", props]),
        input=("\n".join(lines) + "\n").encode())
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    r = ns_run(hosts, tools.java_tool_cmd(tools.CONSOLE_CONSUMER, [
        "--bootstrap-server", boot, "--topic", topic_name, "--group",
        "sni-java", "--from-beginning", "--max-messages", str(3 * N),
        "--timeout-ms", "60000", "--consumer.config", props]))
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    got = r.stdout.decode().split()
    assert sorted(got) == sorted([f"py-{i}" for i in range(N)] +
                                 [f"kcat-{i}" for i in range(N)] + lines)
    # at the broker: every record encrypted
    dec = enctest.Decryptor(k.keystore)
    n = 0
    for part in tools.read_partitions(kafka.bootstrap, topic_name,
                                      [0, 1, 2]).values():
        for rec in part:
            plain, _ = dec.open(rec[4])
            assert plain.split(b"-")[0] in (b"py", b"kcat", b"java")
            n += 1
    assert n == 3 * N
    log = k.log_text()
    assert "TLS server name broker-1.kafka.test: broker 1" in log
    assert "advertised as broker-1.kafka.test:%d" % k.bootstrap_port in log


def test_sni_unknown_name_refused(kafka, krxd_factory, tmp_path):
    k, ca, _ = sni_krxd(krxd_factory, tmp_path)
    start = k.log_size()
    ctx = ssl.create_default_context(cafile=ca)
    for name in ("nobody.kafka.test", "broker-7.kafka.test"):
        with socket.create_connection(("127.0.0.1", k.bootstrap_port),
                                      timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=name) as t:
                t.sendall(b"\0\0\0\0")
                assert t.recv(1) == b""  # closed by krxd
        k.wait_log(r"TLS server name %s is neither bootstrap\.kafka\.test "
                   r"nor broker-<node id>\.kafka\.test \(0-2\)" %
                   name.replace(".", r"\."), start=start)
