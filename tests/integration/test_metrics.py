"""Metrics (issue 13): what krx counts, read with `krx-ctl metrics`.

An encrypting krxd (LocalKms, two workers, a metrics listen address in
its configuration) gets N_ENC records for a topic with a KEK and N_PLAIN
for a topic without one (PASSTHROUGH_UNENCRYPTED), from confluent-kafka.
The text of `krx-ctl metrics` parses with prometheus_client; the
encrypted-records counter of the first topic reads N_ENC and the
plain-records counter of the second N_PLAIN (and neither counts the
other's); the KMS attempt and outcome counters moved (generate_dek_pair,
resolve_alias SUCCESS); requests and responses on both sides and
latencies are counted per API key; krx_process_info lists exactly the pids krx-ctl status
shows. No label value carries key material (the keystore's KEK, as
base64 or hex) and every label value is printable. A worker killed with
SIGKILL (respawned) and then a reload do not make any counter go down,
and records produced afterwards add to the same series.
"""

import base64
import json
import os
import re
import signal

from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

import enctest
import krxtest
import reloadtest
import tools

N_ENC = 300
N_PLAIN = 200
VC = "test"
ENC = "kroxylicious_filter_record_encryption_encrypted_records"
PLAIN = "kroxylicious_filter_record_encryption_plain_records"


def scrape(krxd):
    """{(sample name, sorted labels): value}, and {family: type}."""
    text = krxd.ctl("metrics").stdout
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = s.value
    return text, samples, types


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def produce(bootstrap, topic, n, tag):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "linger.ms": 5, "log_level": 2})
    errors = []
    for i in range(n):
        p.produce(topic, key=f"{tag}-{i}".encode(),
                  value=f"{tag}-value-{i}".encode() * 3,
                  on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0
    assert not errors, errors


def counters(samples, types):
    """The samples of counter and histogram families."""
    out = {}
    for (name, labels), v in samples.items():
        for fam, t in types.items():
            if t in ("counter", "histogram") and name.startswith(fam):
                out[(name, labels)] = v
    return out


def assert_not_lower(before, after, what):
    for key, v in before.items():
        if key in after:
            assert after[key] >= v, f"{what}: {key} went {v} -> {after[key]}"


def assert_no_secrets(krxd, text, samples):
    keys = []
    with open(krxd.keystore) as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] == "kek":
                raw = base64.b64decode(parts[3])
                keys += [parts[3], raw.hex(), raw.hex().upper()]
    assert keys, "no KEK in the keystore"
    for k in keys:
        assert k not in text, "KEK material in the metrics text"
    for (_, labels), _v in samples.items():
        for _n, lv in labels:
            assert re.fullmatch(r"[\x20-\x7e]*", lv), repr(lv)


def assert_json_same(krxd, enc):
    """krx-ctl -j metrics: one JSON document with the same samples (the
    counters are not moving now)."""
    doc = json.loads(krxd.ctl("-j", "metrics").stdout)
    _, s, _ = scrape(krxd)
    js = {(x["name"], tuple(sorted(x["labels"].items()))): x["value"]
          for x in doc["samples"]}
    assert len(js) == len(s)
    key = (ENC + "_total", tuple(sorted({"virtual_cluster": VC,
                                         "topic_name": enc}.items())))
    assert js[key] == s[key] == N_ENC
    inf = [k for k in js if dict(k[1]).get("le") == "+Inf"]
    assert inf and all(js[k] == s[k] for k in inf)


def test_metrics(kafka, krxd_factory, topic_name):
    port = krxtest.free_port_range(1, "127.0.0.1")
    krxd = enctest.enc_krxd(
        krxd_factory, workers=2,
        extra=f'metrics = {{ listen = "127.0.0.1:{port}"; }};\n')
    enc, clear = f"{topic_name}-enc", f"{topic_name}-clear"
    tools.create_topics(kafka.bootstrap, {enc: 2, clear: 2})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    # Counted is what krx encrypted and sent: a Produce a new topic's
    # broker refuses (NOT_LEADER) is counted again when the client
    # retries it, as Kroxylicious counts it. Warm the topics up directly.
    for t in (enc, clear):
        produce(kafka.bootstrap, t, 20, "warm")

    produce(krxd.bootstrap, enc, N_ENC, "a")
    produce(krxd.bootstrap, clear, N_PLAIN, "b")

    text, s, types = scrape(krxd)
    assert val(s, ENC + "_total", virtual_cluster=VC, topic_name=enc) == \
        N_ENC, krxd.ctl("cache", "stats").stdout
    assert val(s, PLAIN + "_total", virtual_cluster=VC,
               topic_name=clear) == N_PLAIN
    assert not val(s, PLAIN + "_total", virtual_cluster=VC,
                   topic_name=enc)
    assert not val(s, ENC + "_total", virtual_cluster=VC, topic_name=clear)
    assert types[ENC] == "counter" and types[PLAIN] == "counter"

    a = "kroxylicious_kms_operation_attempt_total"
    o = "kroxylicious_kms_operation_outcome_total"
    assert val(s, a, operation="generate_dek_pair") >= 1
    assert val(s, a, operation="resolve_alias") >= 2     # enc and clear
    assert val(s, o, operation="generate_dek_pair", outcome="SUCCESS") >= 1
    assert val(s, o, operation="resolve_alias", outcome="SUCCESS") >= 1
    assert val(s, o, operation="resolve_alias", outcome="NOT_FOUND") >= 1
    assert val(s, "krx_kms_latency_seconds_count",
               operation="generate_dek_pair") >= 1
    assert types["krx_kms_latency_seconds"] == "histogram"

    assert val(s, "kroxylicious_client_to_proxy_request_total",
               virtual_cluster=VC, api_key="PRODUCE") >= 2
    assert val(s, "kroxylicious_proxy_to_client_response_total",
               virtual_cluster=VC, api_key="PRODUCE") >= 2
    assert val(s, "krx_request_latency_seconds_count", virtual_cluster=VC,
               api_key="PRODUCE") >= 2
    for name in ("kroxylicious_proxy_to_server_request_total",
                 "kroxylicious_server_to_proxy_response_total"):
        for api in ("PRODUCE", "METADATA"):
            assert val(s, name, virtual_cluster=VC, api_key=api) >= 2, \
                (name, api)
    assert val(s, "kroxylicious_client_to_proxy_connections_total",
               virtual_cluster=VC) >= 2
    assert val(s, "kroxylicious_proxy_to_server_connections_total",
               virtual_cluster=VC) >= 2
    assert val(s, "krx_client_bytes_total", virtual_cluster=VC,
               direction="in") > N_ENC * 10
    assert val(s, "krx_client_bytes_total", virtual_cluster=VC,
               direction="out") > 0
    assert val(s, "krx_generation") == 1
    assert val(s, "krx_reloads_total", outcome="ok") == 0

    st = krxd.status()
    want = sorted(c["pid"] for c in st["children"])
    got = sorted(int(dict(lb)["pid"]) for (n, lb), v in s.items()
                 if n == "krx_process_info" and v == 1)
    assert got == want, (got, want)
    assert_no_secrets(krxd, text, s)
    assert_json_same(krxd, enc)

    # A worker killed: respawned; nothing counted goes down.
    before = counters(s, types)
    victim = krxd.worker_pids()[0]
    krxd.expected_deaths.add(victim)
    os.kill(victim, signal.SIGKILL)
    krxtest.wait_for(lambda: victim not in krxd.worker_pids() and
                     len(krxd.worker_pids()) == 2 and
                     all(w["state"] == "running"
                         for w in krxd.workers_status()),
                     30, "worker respawned")
    _, s2, types2 = scrape(krxd)
    after = counters(s2, types2)
    assert_not_lower(before, after, "after SIGKILL")
    assert val(s2, ENC + "_total", virtual_cluster=VC, topic_name=enc) == \
        N_ENC
    assert val(s2, "krx_process_restarts_total", kind="worker",
               slot=str([c["slot"] for c in st["children"]
                         if c["pid"] == victim][0]), generation="1") == 1
    produce(krxd.bootstrap, enc, 50, "c")
    _, s3, types3 = scrape(krxd)
    assert val(s3, ENC + "_total", virtual_cluster=VC, topic_name=enc) == \
        N_ENC + 50

    # A reload: a new generation on the other rows; nothing goes down.
    before = counters(s3, types3)
    assert reloadtest.reload_ok(krxd) == 2
    _, s4, types4 = scrape(krxd)
    assert_not_lower(before, counters(s4, types4), "after reload")
    assert val(s4, "krx_generation") == 2
    assert val(s4, "krx_reloads_total", outcome="ok") == 1
    produce(krxd.bootstrap, enc, 40, "d")
    produce(krxd.bootstrap, clear, 10, "e")
    _, s5, _ = scrape(krxd)
    assert val(s5, ENC + "_total", virtual_cluster=VC, topic_name=enc) == \
        N_ENC + 50 + 40
    assert val(s5, PLAIN + "_total", virtual_cluster=VC,
               topic_name=clear) == N_PLAIN + 10
