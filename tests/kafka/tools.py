"""Helpers for krx's tests: Kafka's Java tools and confluent-kafka clients.

Java tools run from the same jars as the broker (see broker.py) with a
log4j2 configuration that sends WARN and above to stderr, so that a tool's
stdout holds only its data. NetworkClient's DEBUG lines ("Initiating
connection to node ...") can be switched on to see which addresses a Java
client really dialled.
"""

import os
import subprocess
import tempfile
import time

from broker import classpath, java_bin, wait_for

CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"

_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Logger name="org.apache.kafka.clients.NetworkClient" level="{net}">
      <Filters>
        <ThresholdFilter level="warn" onMatch="ACCEPT" onMismatch="NEUTRAL"/>
        <RegexFilter regex=".*Initiating connection to node.*"
                     onMatch="ACCEPT" onMismatch="DENY"/>
      </Filters>
    </Logger>
    <Root level="warn"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
"""

_log4j_files = {}


def _log4j_config(trace_connections):
    key = bool(trace_connections)
    p = _log4j_files.get(key)
    if p is None or not os.path.exists(p):
        fd, p = tempfile.mkstemp(prefix="krx-tools-log4j2-", suffix=".xml")
        with os.fdopen(fd, "w") as f:
            f.write(_LOG4J2.format(net="debug" if key else "warn"))
        _log4j_files[key] = p
    return p


def java_tool_cmd(main, args, trace_connections=False, heap="512M"):
    """The argv that runs Kafka tool class main with args."""
    return [java_bin(), f"-Xmx{heap}", "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
            "-Dlog4j2.configurationFile=" + _log4j_config(trace_connections),
            "-cp", classpath(), main] + [str(a) for a in args]


def run_java_tool(main, args, input=None, timeout=180, check=True,
                  trace_connections=False):
    """Run a Kafka Java tool to completion; returns CompletedProcess with
    bytes stdout/stderr. Raises on timeout, and on failure if check."""
    cmd = java_tool_cmd(main, args, trace_connections)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(
            f"{main} exited {r.returncode}\nargv: {cmd}\nstderr:\n"
            f"{r.stderr.decode(errors='replace')[-6000:]}")
    return r


def _props(flag, d):
    out = []
    for k, v in (d or {}).items():
        out += [flag, f"{k}={v}"]
    return out


def console_produce(bootstrap, topic, lines, reader_props=None,
                    producer_props=None, timeout=180, trace_connections=False,
                    extra_args=()):
    """Feed lines (str or bytes, without newlines) to ConsoleProducer."""
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n"
                    for ln in lines)
    pp = {"acks": "all", "linger.ms": "5"}
    pp.update(producer_props or {})
    args = ["--bootstrap-server", bootstrap, "--topic", topic,
            "--request-timeout-ms", "30000", "--max-block-ms", "60000"]
    args += _props("--property", reader_props)
    args += _props("--producer-property", pp)
    args += list(extra_args)
    return run_java_tool(CONSOLE_PRODUCER, args, input=data, timeout=timeout,
                         trace_connections=trace_connections)


DUMP_FORMAT = {
    "print.timestamp": "true",
    "print.partition": "true",
    "print.offset": "true",
    "print.headers": "true",
    "print.key": "true",
    "print.value": "true",
    "null.literal": "<null>",
}


def console_consume(bootstrap, topic, max_messages, formatter_props=None,
                    consumer_props=None, timeout_ms=30000, group=None,
                    isolation_level=None, trace_connections=False,
                    timeout=240, extra_args=()):
    """Read max_messages records from topic (from the beginning) with
    ConsoleConsumer; returns (stdout lines as bytes, CompletedProcess)."""
    fp = dict(DUMP_FORMAT)
    fp.update(formatter_props or {})
    args = ["--bootstrap-server", bootstrap, "--topic", topic,
            "--from-beginning", "--max-messages", str(max_messages),
            "--timeout-ms", str(timeout_ms)]
    if group:
        args += ["--group", group]
    if isolation_level:
        args += ["--isolation-level", isolation_level]
    args += _props("--property", fp)
    args += _props("--consumer-property", consumer_props)
    args += list(extra_args)
    r = run_java_tool(CONSOLE_CONSUMER, args, timeout=timeout, check=False,
                      trace_connections=trace_connections)
    lines = [ln for ln in r.stdout.split(b"\n") if ln]
    return lines, r


def dialled_addresses(java_stderr):
    """{(node id, 'host:port')} a Java client run with trace_connections
    dialled, from NetworkClient's 'Initiating connection to node' lines
    (node id -1 and below: bootstrap; 2147483646 and so on: coordinator)."""
    import re
    text = java_stderr.decode(errors="replace") \
        if isinstance(java_stderr, bytes) else java_stderr
    return {(int(m.group(2)), m.group(1)) for m in re.finditer(
        r"Initiating connection to node (\S+) \(id: (-?\d+)", text)}


# -- confluent-kafka helpers ---------------------------------------------

def admin(bootstrap, **conf):
    from confluent_kafka.admin import AdminClient
    c = {"bootstrap.servers": bootstrap, "log_level": 3}
    c.update(conf)
    return AdminClient(c)


def create_topics(bootstrap, topics, timeout=60, config=None):
    """Create topics ({name: partitions}) and wait until every partition
    has a leader in Metadata seen through bootstrap."""
    from confluent_kafka.admin import NewTopic
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(n, num_partitions=p, replication_factor=1,
                                   config=config or {})
                          for n, p in topics.items()],
                         operation_timeout=timeout, request_timeout=timeout)
    for n, f in fs.items():
        f.result(timeout)

    def ready():
        md = a.list_topics(timeout=5)
        for n, p in topics.items():
            t = md.topics.get(n)
            if t is None or t.error is not None or len(t.partitions) != p:
                return False
            if any(pm.leader < 0 for pm in t.partitions.values()):
                return False
        return True
    wait_for(ready, timeout, f"topics {sorted(topics)} to have leaders")


def watermarks(bootstrap, topic, partitions, timeout=30):
    """{partition: (low, high)} read through bootstrap."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "krx-wm",
                  "enable.auto.commit": False, "log_level": 3})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=timeout)
                for p in partitions}
    finally:
        c.close()


def record_tuple(m):
    """A comparable, complete view of a confluent_kafka Message."""
    ts_type, ts = m.timestamp()
    hdrs = m.headers()
    return (m.topic(), m.partition(), m.offset(), m.key(), m.value(),
            tuple(hdrs) if hdrs is not None else None, ts_type, ts)


def read_partitions(bootstrap, topic, partitions, isolation="read_uncommitted",
                    timeout=60, expect=None, conf=None):
    """Read every record of the given partitions from offset 0 up to the
    high watermark (last stable offset for read_committed), without a
    consumer group. Returns {partition: [record_tuple, ...]}.

    expect: optional {partition: end_offset}; read until positions reach
    it instead of the watermark (which then is not asked for)."""
    from confluent_kafka import Consumer, TopicPartition, KafkaError, \
        OFFSET_BEGINNING
    c = {"bootstrap.servers": bootstrap, "group.id": "krx-reader",
         "enable.auto.commit": False, "isolation.level": isolation,
         "check.crcs": True, "log_level": 3, "enable.partition.eof": True}
    c.update(conf or {})
    cons = Consumer(c)
    out = {p: [] for p in partitions}
    try:
        if expect is None:
            ends = {}
            for p in partitions:
                lo, hi = cons.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=timeout)
                ends[p] = hi
        else:
            ends = dict(expect)
        cons.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in partitions])
        pos = {p: 0 for p in partitions}
        done = {p for p in partitions if ends[p] == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"reading {topic}: positions {pos}, ends {ends}")
            m = cons.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pos[m.partition()] = max(pos[m.partition()], m.offset())
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                raise AssertionError(f"consumer error: {m.error()}")
            out[m.partition()].append(record_tuple(m))
            pos[m.partition()] = m.offset() + 1
            if pos[m.partition()] >= ends[m.partition()]:
                done.add(m.partition())
        return out
    finally:
        cons.close()


def client_brokers(stats_json):
    """{nodeid: 'host:port'} of the real (non-bootstrap) brokers in a
    librdkafka statistics document."""
    import json
    st = json.loads(stats_json) if isinstance(stats_json, str) \
        else stats_json
    out = {}
    for name, b in st.get("brokers", {}).items():
        if b.get("nodeid", -1) >= 0:
            out[b["nodeid"]] = b["nodename"]
    return out
