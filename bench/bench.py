#!/usr/bin/env python3
"""krx benchmark: Kafka's producer and consumer perf tools against one
broker on loopback, direct and through proxies, in one run.

Scenarios, each on its own topic, each after a warm-up on another topic
through the same path:
  (a) direct to the broker
  (b) krxd pass-through (a virtual cluster without record_encryption)
  (c) krxd encrypting and decrypting (record_encryption, LocalKms)
  (d) Kroxylicious with its RecordEncryption filter and the in-memory
      UnitTestingKmsService, when its jars resolve from Maven Central
  (e) krxd encrypting with AwsKmsService against moto's server
TLS on both sides (the broker is then tests/kafka/tlsbroker.py's, with an
SSL listener; clients trust its test CA):
  (f) direct TLS: the tools speak TLS to the broker's SSL listener
  (g) HAProxy terminating TLS: clients speak TLS to HAProxy, HAProxy
      speaks TLS to the broker (an extra SSL listener advertised as
      HAProxy's address), the reference for krxd's TLS cost
  (h) krxd TLS pass-through: TLS to clients and to the broker, no
      record_encryption
  (i) krxd TLS + encryption: (h) with record_encryption as in (c)
Every round runs all scenarios in turn (the starting scenario rotates), so
that ratios are taken between runs made close together; the tables give
the median over rounds. Each round then runs a second, smaller workload
the same way: 100-byte records in 1 MiB producer batches (batch.size,
linger.ms), which encryption makes too big for the topic's
max.message.bytes, so that krxd must split them (scenarios a b c; the
krxd counters workers.batches_split and split_pieces prove it did).
Then: krxd's RSS with N idle client connections, and the hot-path
microbenchmark bench/micro.c when it exists.

Run through bench/run.sh (make bench); see bench/README.md.
"""

import argparse
import base64
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "kafka"))
sys.path.insert(0, HERE)

import procstat  # noqa: E402
from haproxy import HAPROXY, Haproxy, HaproxyError, tls_probe  # noqa: E402
import idle_conns  # noqa: E402
sys.path.insert(0, os.path.join(TOP, "tests", "kms"))
try:    # AWS KMS as moto's server emulates it (tests/setup.sh installs it)
    import moto_kms  # noqa: E402
except ImportError:
    moto_kms = None
from broker import (Broker, classpath, free_port_range, java_bin,  # noqa: E402
                    tcp_accepts, wait_for)

KRXD = os.environ.get("KRXD") or os.path.join(
    TOP, os.environ.get("BUILD", "build"), "krxd")
KRXCTL = os.environ.get("KRXCTL") or os.path.join(
    TOP, os.environ.get("BUILD", "build"), "krx-ctl")
KROXY_DIR = os.path.join(HERE, "kroxylicious")
KROXY_LIBS = os.environ.get("KRX_KROXYLICIOUS_LIBS") or os.path.join(
    TOP, ".cache", "kroxylicious", "libs")
PRODUCER = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER = "org.apache.kafka.tools.ConsumerPerformance"
ENC_HEADER = b"kroxylicious.io/encryption"
MiB = 1024 * 1024
# the small-record workload's producer: 1 MiB batches, which encryption
# (about 140 B more per record with LocalKms) takes over the topic's
# max.message.bytes (1048588 by default)
SMALL_PROPS = ["batch.size=1048576", "linger.ms=100"]

SCENARIOS = {
    "a": "(a) direct",
    "b": "(b) krxd pass-through",
    "c": "(c) krxd encrypt+decrypt",
    "d": "(d) Kroxylicious encrypt+decrypt",
    "e": "(e) krxd encrypt+decrypt, AwsKmsService",
    "f": "(f) direct TLS",
    "g": "(g) HAProxy TLS termination",
    "h": "(h) krxd TLS pass-through",
    "i": "(i) krxd TLS + encrypt+decrypt",
}
ENCRYPTING = "cdei"     # scenarios whose records the broker holds encrypted
TLS = "fghi"            # scenarios with TLS on both sides
DIRECT = "af"           # scenarios without a proxy

# Kafka's own tool JVM settings (kafka-run-class.sh), a bigger heap
TOOL_JVM = ["-Xms512M", "-Xmx512M", "-server", "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"]

LOG4J2_WARN = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers><Root level="warn"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
"""


def log(msg):
    ts = time.strftime("%H:%M:%S")
    print(f"[bench {ts}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# -- Kafka perf tools --------------------------------------------------------

PROD_RE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), "
    r"([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, "
    r"(\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


class Tools:
    def __init__(self, workdir, producer_props):
        self.log4j = os.path.join(workdir, "tools-log4j2.xml")
        with open(self.log4j, "w") as f:
            f.write(LOG4J2_WARN)
        self.producer_props = producer_props
        self.logdir = os.path.join(workdir, "tool-logs")
        os.makedirs(self.logdir, exist_ok=True)
        self.nrun = 0

    def _run(self, main, args, timeout, what):
        cmd = [java_bin()] + TOOL_JVM + [
            "-Dlog4j2.configurationFile=" + self.log4j,
            "-cp", classpath(), main] + [str(a) for a in args]
        self.nrun += 1
        logf = os.path.join(self.logdir, f"{self.nrun:03d}-{what}.log")
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"{what}: {main} timed out after {timeout}s")
        with open(logf, "w") as f:
            f.write(" ".join(cmd) + "\n--- stdout\n" + r.stdout +
                    "\n--- stderr\n" + r.stderr)
        if r.returncode != 0:
            raise BenchError(f"{what}: {main.rsplit('.', 1)[1]} exited "
                             f"{r.returncode}; stderr tail:\n"
                             f"{r.stderr[-2000:]}")
        return r

    def produce(self, bootstrap, topic, n, size, throughput=-1,
                what="produce", props=None, config=None):
        """config: a client properties file (TLS), --producer.config."""
        args = ["--topic", topic, "--num-records", n, "--record-size", size,
                "--throughput", throughput]
        if config:
            args += ["--producer.config", config]
        args += ["--producer-props", f"bootstrap.servers={bootstrap}",
                 "acks=all"]
        args += self.producer_props if props is None else props
        timeout = 180 + n // 500
        if throughput > 0:
            timeout += n // throughput
        r = self._run(PRODUCER, args, timeout, what)
        m = None
        for m in PROD_RE.finditer(r.stdout):
            pass
        # the producer's own WARN/ERROR log lines (e.g. MESSAGE_TOO_LARGE,
        # batch split and retried)
        warns = [ln for ln in r.stderr.splitlines()
                 if re.match(r"\[[^]]*\] (WARN|ERROR) ", ln)]
        if m is None or int(m.group(1)) != n:
            # e.g. "0 records sent, 0.0 records/sec (0.00 MB/sec), NaN ms"
            s = re.findall(r"^(\d+) records sent, ", r.stdout, re.M)
            raise BenchError(
                f"{what}: " + (f"{s[-1]} of {n} records sent"
                               if s else "no summary line") +
                producer_errors(warns, r.stdout + r.stderr) +
                ("" if s else f"; ProducerPerformance output:\n"
                 f"{r.stdout[-2000:]}"))
        sent = int(m.group(1))
        return {"records": sent, "rps": float(m.group(2)),
                "warns": len(warns), "warn_sample": warns[:3],
                "mibps": float(m.group(3)), "avg": float(m.group(4)),
                "max": float(m.group(5)), "p50": int(m.group(6)),
                "p95": int(m.group(7)), "p99": int(m.group(8)),
                "p999": int(m.group(9))}

    def consume(self, bootstrap, topic, n, what="consume", config=None):
        args = ["--bootstrap-server", bootstrap, "--topic", topic,
                "--messages", n, "--timeout", 60000,
                "--group", f"krx-bench-{uuid.uuid4().hex[:12]}"]
        if config:
            args += ["--consumer.config", config]
        r = self._run(CONSUMER, args, 180 + n // 500, what)
        rows = [ln for ln in r.stdout.splitlines() if ln.count(",") >= 9]
        if len(rows) < 2 or not rows[0].startswith("start.time"):
            raise BenchError(f"{what}: unexpected ConsumerPerformance output:"
                             f"\n{r.stdout[-2000:]}")
        head = [h.strip() for h in rows[0].split(",")]
        vals = [v.strip() for v in rows[-1].split(",")]
        d = dict(zip(head, vals))
        got = int(float(d["data.consumed.in.nMsg"]))
        if got < n:
            raise BenchError(f"{what}: consumed {got} of {n} records "
                             f"(stderr tail: {r.stderr[-1000:]})")
        return {"records": got,
                "mibps": float(d["fetch.MB.sec"]),
                "rps": float(d["fetch.nMsg.sec"]),
                "mibps_total": float(d["MB.sec"]),
                "rebalance_ms": float(d["rebalance.time.ms"]),
                "fetch_ms": float(d["fetch.time.ms"])}


def producer_errors(warns, text):
    """"; producer: ..." with the first distinct WARN/ERROR messages and
    exceptions of a producer's output, each with its count, on one line."""
    seen = {}
    lines = [re.sub(r"^\[[^]]*\] ", "", w) for w in warns] + \
        [ln.strip() for ln in text.splitlines()
         if re.match(r"\s*[\w.]+(Exception|Error): ", ln)]
    for ln in lines:
        ln = re.sub(r" \([\w.]+\)$", "", ln)   # the logger's class
        ln = re.sub(r"\[Producer clientId=[^]]*\] ", "", ln)
        sig = re.sub(r"\d+", "#", ln)
        if sig in seen:
            seen[sig][1] += 1
        else:
            seen[sig] = [ln, 1]
    if not seen:
        return ""
    return "; producer: " + " / ".join(
        (f"{ln[:200]} (×{c})" if c > 1 else ln[:200])
        for ln, c in list(seen.values())[:3])


# -- proxies ----------------------------------------------------------------

class Krxd(procstat.ProxyProcess):
    """krxd -g with its own config, on free loopback ports."""

    def __init__(self, workdir, upstream, encrypt, workers="auto",
                 log_level="warn", aws=None, tls=None):
        """tls: {"key", "cert", "ca"} PEM files: krxd serves TLS with key
        and cert and reaches upstream over TLS trusting ca."""
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.upstream = upstream
        self.encrypt = encrypt
        self.workers = workers
        self.log_level = log_level
        self.host = "127.0.0.1"
        self.max_node_id = 2
        base = free_port_range(self.max_node_id + 2, self.host)
        self.port = base
        self.node_start_port = base + 1
        self.sock = os.path.join(workdir, "control.sock")
        self.conf = os.path.join(workdir, "krxd.conf")
        self.log_path = os.path.join(workdir, "krxd.log")
        self.proc = None
        self.aws = aws          # a MotoServer: AwsKmsService, not LocalKms
        self.tls = tls
        self.name = "krxd-pass" if not encrypt else \
            "krxd-aws" if aws else "krxd-enc"
        if tls:
            self.name = "krxd-tls-" + ("enc" if encrypt else "pass")

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def config_text(self):
        w = self.workers if str(self.workers).isdigit() \
            else f'"{self.workers}"'
        enc = ""
        if self.encrypt:
            enc = (
                "    record_encryption = {\n" + self.kms_text() +
                '      selector = "TemplateKekSelector";\n'
                '      selectorConfig = { template = "KEK-$(topicName)"; };\n'
                '      unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED";\n'
                "    };\n")
        vc_tls = up_tls = ""
        if self.tls:
            t = self.tls
            vc_tls = ("    tls = { key = {\n"
                      f'      privateKeyFile = "{t["key"]}";\n'
                      f'      certificateFile = "{t["cert"]}"; }}; }};\n')
            up_tls = (f' tls = {{ trust = {{ storeFile = "{self.tls["ca"]}";'
                      ' storeType = "PEM"; }; };')
        return (
            "# written by bench/bench.py\n"
            f"workers = {w};\n"
            f'pid_file = "{self.dir}/krxd.pid";\n'
            f'control_socket = "{self.sock}";\n'
            f'log = {{ level = "{self.log_level}"; }};\n'
            + ("allow_root = true;\n" if os.geteuid() == 0 else "")
            + (f'cache = {{ path = "{self.dir}/dekcache"; }};\n'
               if self.encrypt else "") +
            "virtual_clusters = (\n"
            f'  {{ name = "bench";\n'
            f'    bootstrap = "{self.bootstrap}";\n'
            f'    advertised_host = "{self.host}";\n'
            f"    node_start_port = {self.node_start_port};\n"
            f"    max_node_id = {self.max_node_id};\n"
            f'    upstream = {{ bootstrap = "{self.upstream}";{up_tls} }};\n'
            f"{vc_tls}{enc}"
            "  } );\n")

    def kms_text(self):
        """record_encryption's kms and kmsConfig lines."""
        if self.aws is None:
            return ('      kms = "LocalKms";\n'
                    f'      kmsConfig = {{ keystore = "{self.dir}/keks"; }};\n')
        files = {}
        for name, value in (("access-key", moto_kms.ACCESS_KEY),
                            ("secret-key", moto_kms.SECRET_KEY)):
            files[name] = os.path.join(self.dir, "aws-" + name)
            fd = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value + "\n")
        return ('      kms = "AwsKmsService";\n'
                "      kmsConfig = {\n"
                f'        endpointUrl = "{self.aws.endpoint}";\n'
                f'        region = "{self.aws.region}";\n'
                "        credentials = { longTerm = {\n"
                f'          accessKeyId = {{ passwordFile = '
                f'"{files["access-key"]}"; }};\n'
                f'          secretAccessKey = {{ passwordFile = '
                f'"{files["secret-key"]}"; }};\n'
                "        }; };\n"
                "      };\n")

    def ctl(self, *args, check=True):
        r = subprocess.run([KRXCTL, "-s", self.sock] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=90)
        if check and r.returncode != 0:
            raise BenchError(f"krx-ctl {' '.join(args)} exited "
                             f"{r.returncode}: {r.stdout.strip()}")
        return r

    def _ready(self):
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}"
                             f"; log:\n{self.log_text()[-3000:]}")
        r = self.ctl("status", check=False)
        if r.returncode != 0:
            return False
        # children lines: "worker 0 pid P running restarts 0 ..."
        kids = [ln.split() for ln in r.stdout.splitlines()[1:]
                if ln.split()[:1] in (["worker"], ["keysvc"])]
        if not any(k[0] == "worker" for k in kids):
            return False
        if any(len(k) < 5 or k[4] != "running" for k in kids):
            return False
        return tcp_accepts(self.host, self.port) and \
            tcp_accepts(self.host, self.node_start_port + 1)

    def start(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        out = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [KRXD, "-g", "-c", self.conf], stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        finally:
            out.close()
        try:
            wait_for(self._ready, 60, f"{self.name} to be ready",
                     interval=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def problems(self):
        """After stop(): why this krxd did not end cleanly, or None
        (an exit status other than 0, or a sanitizer report in its log)."""
        if self.proc is None:
            return None
        text = self.log_text()
        for marker in ("AddressSanitizer", "LeakSanitizer",
                       "UndefinedBehaviorSanitizer", "runtime error:"):
            if marker in text:
                i = text.index(marker)
                return f"{self.name}: {marker} in its log: " + \
                    text[max(0, i - 200):i + 800]
        if self.proc.returncode not in (0, None):
            return f"{self.name} exited with {self.proc.returncode}"
        return None

    def create_kek(self, name):
        if self.aws is None:
            self.ctl("kek", "create", name)
        else:
            self.aws.create_key_with_alias(name)

    def stats(self):
        """krx-ctl cache stats as {name: int} (workers.batches_split,
        workers.split_pieces, ...)."""
        out = {}
        for ln in self.ctl("cache", "stats").stdout.splitlines():
            f = ln.split()
            if len(f) == 2 and re.fullmatch(r"\d+", f[1]):
                out[f[0]] = int(f[1])
        return out

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.ctl("stop", check=False)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_moto(work):
    """moto's server (AWS KMS) on a free loopback port, for (e); a
    BenchError when moto is not installed or does not start."""
    if moto_kms is None:
        raise BenchError("moto is not installed (pip install "
                         "'moto[server]', as tests/setup.sh does)")
    m = moto_kms.MotoServer(log_path=os.path.join(work, "moto.log"))
    try:
        m.start()
    except (OSError, RuntimeError) as e:
        raise BenchError(f"moto's server did not start: {e}") from e
    return m


def moto_version():
    try:
        from importlib.metadata import version
        return version("moto")
    except Exception:  # noqa: BLE001 - only for the report
        return "?"


def kroxylicious_fetch(timeout=900):
    """Resolve Kroxylicious' jars into KROXY_LIBS (idempotent, keyed by
    the pom's checksum). Returns (True, "") or (False, why)."""
    import hashlib
    pom = os.path.join(KROXY_DIR, "pom.xml")
    with open(pom, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(KROXY_LIBS, ".pom.sha256")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return True, ""
    except OSError:
        pass
    if shutil.which("mvn") is None:
        return False, "mvn is not installed"
    shutil.rmtree(KROXY_LIBS, ignore_errors=True)
    os.makedirs(KROXY_LIBS)
    log("resolving Kroxylicious from Maven Central (bench/kroxylicious/"
        "pom.xml)")
    try:
        r = subprocess.run(
            ["mvn", "-B", "-q", "-f", pom, "dependency:copy-dependencies",
             f"-DoutputDirectory={KROXY_LIBS}", "-DincludeScope=runtime"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"mvn did not finish within {timeout}s"
    if r.returncode != 0:
        errs = [ln for ln in r.stdout.splitlines() if "ERROR" in ln]
        return False, "mvn failed: " + " / ".join(errs[:3])[:600]
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    return True, ""


class Kroxylicious(procstat.ProxyProcess):
    """Kroxylicious' KafkaProxy with RecordEncryption and the in-memory
    KMS holding one KEK per topic named up front."""

    STOP_WAIT = 30

    def __init__(self, workdir, upstream, kek_aliases, java=None):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.upstream = upstream
        self.aliases = list(kek_aliases)
        self.java = java or java_bin()
        self.host = "127.0.0.1"
        base = free_port_range(4, self.host)
        self.port = base
        self.node_start_port = base + 1
        self.conf = os.path.join(workdir, "proxy.yaml")
        self.log_path = os.path.join(workdir, "kroxylicious.log")
        self.proc = None
        self.name = "kroxylicious"
        self.version = "?"
        m = re.search(r"<kroxylicious.version>([^<]+)<",
                      open(os.path.join(KROXY_DIR, "pom.xml")).read())
        if m:
            self.version = m.group(1)

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def config_text(self):
        keks = "".join(
            f'          - uuid: "{uuid.uuid4()}"\n'
            f'            key: "{base64.b64encode(secrets.token_bytes(32)).decode()}"\n'
            f"            algorithm: AES\n"
            f'            alias: "{a}"\n' for a in self.aliases)
        return (
            "# written by bench/bench.py\n"
            "virtualClusters:\n"
            "  - name: bench\n"
            "    targetCluster:\n"
            f"      bootstrapServers: {self.upstream}\n"
            "    gateways:\n"
            "      - name: default\n"
            "        portIdentifiesNode:\n"
            f"          bootstrapAddress: {self.bootstrap}\n"
            f"          nodeStartPort: {self.node_start_port}\n"
            "filterDefinitions:\n"
            "  - name: encrypt\n"
            "    type: RecordEncryption\n"
            "    config:\n"
            "      kms: UnitTestingKmsService\n"
            "      kmsConfig:\n"
            "        numIvBytes: 12\n"
            "        numAuthBits: 128\n"
            "        existingKeks:\n" + keks +
            "      selector: TemplateKekSelector\n"
            "      selectorConfig:\n"
            '        template: "KEK-$(topicName)"\n'
            "defaultFilters: [encrypt]\n")

    def start(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        l4j = os.path.join(self.dir, "log4j2.xml")
        with open(l4j, "w") as f:
            f.write(LOG4J2_WARN.replace("SYSTEM_ERR", "SYSTEM_OUT"))
        cmd = [self.java, "-Xmx1G",
               "-Dlog4j2.configurationFile=" + l4j,
               "-cp", os.path.join(KROXY_LIBS, "*"),
               os.path.join(KROXY_DIR, "KroxyliciousMain.java"), self.conf]
        out = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.dir)
        finally:
            out.close()

        def ready():
            if self.proc.poll() is not None:
                raise BenchError(
                    f"Kroxylicious exited with {self.proc.returncode}; "
                    f"log:\n{self.log_text()[-3000:]}")
            return "KROXYLICIOUS READY" in self.log_text() and \
                tcp_accepts(self.host, self.port)
        try:
            wait_for(ready, 120, "Kroxylicious to listen", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self



# -- topics and checks ---------------------------------------------------------

def create_topics(broker, names, partitions):
    import tools
    tools.create_topics(broker, {n: partitions for n in names})


def delete_topics(broker, names):
    import tools
    a = tools.admin(broker)
    try:
        for f in a.delete_topics(list(names),
                                 operation_timeout=60).values():
            f.result(60)
    except Exception as e:  # noqa: BLE001 - disk space only
        log(f"warning: deleting {names}: {e}")


def encrypted_at_broker(broker, topic):
    """Whether the first record of partition 0, read straight from the
    broker, carries the encryption header."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker, "group.id": "krx-bench-chk",
                  "enable.auto.commit": False, "log_level": 3})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            return any(k.encode() == ENC_HEADER
                       for k, _ in (m.headers() or []))
        return None
    finally:
        c.close()


# -- workloads -------------------------------------------------------------------

class Workload:
    """What one scenario run produces and consumes: the main workload
    (--records x --record-size) or the small-record one that makes krxd
    split batches (--small-records x --small-size in 1 MiB batches)."""

    def __init__(self, name, tag, records, size, warmup, props, rtt,
                 scenarios):
        self.name = name        # "main" or "small"
        self.tag = tag          # topic name suffix of the scenario key
        self.records = records
        self.size = size
        self.warmup = warmup
        self.props = props      # producer properties (a list of K=V)
        self.rtt = rtt          # one-at-a-time round trips, records
        self.scenarios = scenarios

    def topics(self, runid, key, rounds):
        return [f"krxbench-{runid}-{key}{self.tag}-r{r}{w}"
                for r in range(1, rounds + 1) for w in ("", "-warm")]

    def batch(self):
        """Its producer's batch.size, for the report ("1 MiB")."""
        for kv in self.props:
            k, _, v = kv.partition("=")
            if k == "batch.size" and v.isdigit():
                b = int(v)
                return f"{b // MiB} MiB" if b % MiB == 0 else \
                    f"{b // 1024} KiB" if b % 1024 == 0 else f"{b} B"
        return "default"

    def fkey(self, key):
        """The key of a failure of scenario key in this workload."""
        return key if self.name == "main" else f"{self.name}-{key}"


def workloads(opts):
    main = Workload("main", "", opts.records, opts.record_size, opts.warmup,
                    list(opts.producer_prop), opts.rtt, opts.scenarios)
    if opts.no_small:
        return [main]
    props = {}
    for kv in list(opts.producer_prop) + SMALL_PROPS + \
            list(opts.small_producer_prop):
        k, _, v = kv.partition("=")
        props[k] = v
    small = Workload("small", "s", opts.small_records, opts.small_size,
                     opts.small_warmup,
                     [f"{k}={v}" for k, v in props.items()], 0,
                     opts.small_scenarios)
    return [main, small]


# -- one scenario run ----------------------------------------------------------

SPLIT_STATS = ("workers.batches_split", "workers.split_pieces")


def run_scenario(key, proxy, broker, tools, opts, rnd, runid, wl,
                 tls=None):
    """One scenario run of workload wl; broker is the PLAINTEXT address
    (topics, the encryption check). tls: None, or {"bootstrap": the
    broker's SSL address, "config": the Java clients' properties file,
    "ca": the CA file} for the TLS scenarios."""
    boot = proxy.bootstrap if proxy else \
        tls["bootstrap"] if tls else broker
    cfg = tls["config"] if tls else None
    topic = f"krxbench-{runid}-{key}{wl.tag}-r{rnd}"
    warm = topic + "-warm"
    label = SCENARIOS[key]
    if wl.name != "main":
        label += f" [{wl.size} B]"
    n, size = wl.records, wl.size
    tag = f"r{rnd}-{key}{wl.tag}"
    create_topics(broker, [topic, warm], opts.partitions)
    res = {"scenario": key, "round": rnd}
    try:
        if wl.warmup:
            log(f"round {rnd} {label}: warm-up, {wl.warmup} records")
            tools.produce(boot, warm, wl.warmup, size,
                          what=f"{tag}-warm-produce", props=wl.props,
                          config=cfg)
            tools.consume(boot, warm, wl.warmup,
                          what=f"{tag}-warm-consume", config=cfg)
        pids = proxy.pids() if proxy else []
        procstat.reset_hwm(pids)
        st0 = proxy.stats() if isinstance(proxy, Krxd) and \
            proxy.encrypt else None
        log(f"round {rnd} {label}: produce {n} x {size} B")
        c0 = procstat.cpu_ticks(pids)
        res["prod"] = tools.produce(boot, topic, n, size,
                                    what=f"{tag}-produce", props=wl.props,
                                    config=cfg)
        c1 = procstat.cpu_ticks(proxy.pids() if proxy else [])
        if st0 is not None:
            st1 = proxy.stats()
            res["split"] = {k: st1.get(k, 0) - st0.get(k, 0)
                            for k in SPLIT_STATS}
        log(f"round {rnd} {label}: consume {n}")
        res["cons"] = tools.consume(boot, topic, n,
                                    what=f"{tag}-consume", config=cfg)
        pids = proxy.pids() if proxy else []
        c2 = procstat.cpu_ticks(pids)
        res["hwm_kib"] = procstat.hwm_kib(pids) if proxy else None
        res["cpu_prod"] = procstat.cpu_seconds_between(c0, c1) \
            if proxy else None
        res["cpu_cons"] = procstat.cpu_seconds_between(c1, c2) \
            if proxy else None
        if wl.rtt > 0:
            log(f"round {rnd} {label}: {wl.rtt} records one at a time "
                f"(round trip)")
            res["rtt"] = produce_rtt(boot, warm, wl.rtt, size,
                                     ca=tls["ca"] if tls else None)
        res["encrypted"] = encrypted_at_broker(broker, topic)
        want = key in ENCRYPTING
        if res["encrypted"] is not want:
            raise BenchError(f"{label}: records at the broker are "
                             f"{'not ' if want else ''}encrypted "
                             f"(header check gave {res['encrypted']})")
    finally:
        delete_topics(broker, [topic, warm])
    p, c = res["prod"], res["cons"]
    log(f"round {rnd} {label}: produce {p['mibps']:.1f} MiB/s p99 "
        f"{p['p99']} ms, consume {c['mibps']:.1f} MiB/s" +
        (f", proxy CPU {res['cpu_prod'] + res['cpu_cons']:.1f} s"
         if proxy else "") +
        (f", batches split {res['split'][SPLIT_STATS[0]]} into "
         f"{res['split'][SPLIT_STATS[1]]} pieces" if "split" in res else "") +
        (f", producer WARN/ERROR lines {p['warns']}" if p["warns"] else ""))
    return res


def produce_rtt(bootstrap, topic, n, size, ca=None):
    """bench/rtt.py: acks=all round trips in microseconds (over TLS
    trusting ca when given)."""
    cmd = [sys.executable, os.path.join(HERE, "rtt.py"), "--bootstrap",
           bootstrap, "--topic", topic, "--count", str(n), "--warmup",
           str(min(200, n)), "--size", str(size)]
    if ca:
        cmd += ["--ca", ca]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise BenchError(f"rtt.py failed ({p.returncode}): "
                         f"{(p.stderr or p.stdout).strip()[-500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


# -- report ---------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".1f", none="–"):
    return none if x is None else format(x, spec)


def summarize(key, runs, wl):
    """Medians over rounds of one scenario's runs of workload wl."""
    vol_mib = wl.records * wl.size / MiB
    s = {"n": len(runs)}
    for k in ("rps", "mibps", "avg", "p50", "p99", "p999"):
        s["prod_" + k] = med(r["prod"][k] for r in runs)
    for k in ("rps", "mibps", "mibps_total"):
        s["cons_" + k] = med(r["cons"][k] for r in runs)
    if key not in DIRECT:
        s["cpu_prod"] = med(r["cpu_prod"] for r in runs)
        s["cpu_cons"] = med(r["cpu_cons"] for r in runs)
        s["cpu"] = med(r["cpu_prod"] + r["cpu_cons"] for r in runs)
        s["hwm_mib"] = med(r["hwm_kib"] / 1024 for r in runs)
        s["mib_per_cpu"] = med(2 * vol_mib / (r["cpu_prod"] + r["cpu_cons"])
                               if r["cpu_prod"] + r["cpu_cons"] > 0 else None
                               for r in runs)
        gib = vol_mib / 1024
        s["cpu_per_gib_prod"] = med(r["cpu_prod"] / gib for r in runs)
        s["cpu_per_gib_cons"] = med(r["cpu_cons"] / gib for r in runs)
        # per GiB moved: produced plus consumed
        s["cpu_per_gib"] = med((r["cpu_prod"] + r["cpu_cons"]) / (2 * gib)
                               for r in runs)
    if any("split" in r for r in runs):
        for k in SPLIT_STATS:
            s[k] = sum(r["split"][k] for r in runs if "split" in r)
    s["warns"] = sum(r["prod"]["warns"] for r in runs)
    if wl.rtt > 0:
        for k in ("avg", "p50", "p90", "p99", "p999"):
            s["rtt_" + k] = med(r["rtt"][k] for r in runs if "rtt" in r)
    return s


def spread(runs, part):
    """" (min–max)" of MiB/s over rounds, when there are several."""
    xs = [r[part]["mibps"] for r in runs]
    if len(xs) < 2:
        return ""
    f = ".0f" if min(xs) >= 10 else ".1f"
    return f" ({min(xs):{f}}–{max(xs):{f}})"


def paired(by_round, key, f):
    """Median over rounds of f(run of key, run of (a)) for rounds that
    have both."""
    vals = []
    for rnd, runs in by_round.items():
        if key in runs and "a" in runs:
            vals.append(f(runs[key], runs["a"]))
    return med(vals)


def report_small(opts, wl, results, failures, split_totals):
    """The section of the small-record workload that makes krxd split."""
    keys = [k for k in wl.scenarios
            if k in results or wl.fkey(k) in failures]
    by_round = {}
    for k in keys:
        for r in results.get(k, []):
            by_round.setdefault(r["round"], {})[k] = r
    summ = {k: summarize(k, results[k], wl) for k in keys
            if results.get(k)}
    L = [f"## {wl.size}-byte records in {wl.batch()} batches: krxd "
         f"splits (encryption takes them over max.message.bytes)", ""]
    L.append(f"{wl.records} records of {wl.size} B "
             f"({wl.records * wl.size / MiB:.0f} MiB) per scenario and "
             f"round, producer {' '.join(wl.props)}, acks=all; warm-up "
             f"{wl.warmup} records; in each round after the main workload, "
             f"scenarios interleaved the same way; medians over rounds. "
             f"Encryption adds about 140 B per record, so krxd's "
             f"{wl.batch()} batches grow past the topic's max.message.bytes (1048588 "
             f"by default) and krxd compresses them (record_encryption."
             f"splitCompression, zstd) and splits them into Produce "
             f"requests within the limit.")
    L.append("")
    L.append("| scenario | prod rec/s | prod MiB/s | p99 ms | cons MiB/s | "
             "produce vs direct | consume vs direct | proxy CPU s/GiB "
             "produce | proxy CPU s/GiB consume | proxy peak RSS MiB | "
             "batches split (pieces) | producer WARN/ERROR lines |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in keys:
        if k not in summ:
            L.append(f"| {SCENARIOS[k]} | "
                     f"{failures.get(wl.fkey(k), 'failed')} "
                     "| | | | | | | | | | |")
            continue
        s = summ[k]
        if k == "a":
            pr = cr = None
        else:
            pr = paired(by_round, k, lambda x, a: x["prod"]["rps"] /
                        a["prod"]["rps"])
            cr = paired(by_round, k, lambda x, a: x["cons"]["mibps"] /
                        a["cons"]["mibps"])
        split = "–"
        if "workers.batches_split" in s:
            split = (f"{s['workers.batches_split']} "
                     f"({s['workers.split_pieces']})")
        L.append(f"| {SCENARIOS[k]} | {s['prod_rps']:.0f} | "
                 f"{s['prod_mibps']:.1f}{spread(results[k], 'prod')} | "
                 f"{s['prod_p99']:.0f} | "
                 f"{s['cons_mibps']:.1f}{spread(results[k], 'cons')} | "
                 f"{'–' if pr is None else format(pr * 100, '.0f') + '%'} | "
                 f"{'–' if cr is None else format(cr * 100, '.0f') + '%'} | "
                 f"{fmt(s.get('cpu_per_gib_prod'), '.2f')} | "
                 f"{fmt(s.get('cpu_per_gib_cons'), '.2f')} | "
                 f"{fmt(s.get('hwm_mib'))} | {split} | {s['warns']} |")
    L.append("")
    L.append("Produce vs direct: records/s, consume vs direct: MiB/s, each "
             "within a round, then the median over rounds. Batches split "
             "(pieces): krxd's workers.batches_split and "
             "workers.split_pieces over the measured produce runs of all "
             "rounds (krx-ctl cache stats before and after each). Producer "
             "WARN/ERROR lines: ProducerPerformance's log over the "
             "measured runs (e.g. MESSAGE_TOO_LARGE, batch split and "
             "retried by the producer).")
    L.append("")
    if "c" in wl.scenarios and "c" in summ:
        tot = split_totals.get("c")
        n = summ["c"].get("workers.batches_split", 0)
        if tot is not None:
            L.append(f"krxd (c), `krx-ctl cache stats` after the run (all "
                     f"workloads, warm-ups included): workers.batches_split "
                     f"{tot.get('workers.batches_split', 0)}, "
                     f"workers.split_pieces "
                     f"{tot.get('workers.split_pieces', 0)}.")
            L.append("")
        if not n:
            L.append("**FAILED: krxd split no batch in this workload "
                     "(workers.batches_split 0 over its measured produce "
                     "runs), so these figures do not show the cost of "
                     "splitting.**")
            L.append("")
        else:
            pieces = summ["c"]["workers.split_pieces"]
            L.append(f"{pieces / n:.2f} pieces per split batch; "
                     f"{n / max(1, len(results['c'])):.0f} batches split "
                     f"per measured run of {wl.records} records.")
            L.append("")
    for k in keys:
        samples = [ln for r in results.get(k, [])
                   for ln in r["prod"]["warn_sample"]]
        if samples:
            L.append(f"First producer log lines, {SCENARIOS[k]}:")
            L.append("")
            L.append("```")
            L += [ln[:300] for ln in samples[:3]]
            L.append("```")
            L.append("")
    L.append("| round | scenario | prod rec/s | prod MiB/s | p99 ms | "
             "cons MiB/s | proxy CPU s | peak RSS MiB | batches split "
             "(pieces) |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for rnd in sorted(by_round):
        for k, r in sorted(by_round[rnd].items(),
                           key=lambda kv: kv[1].get("seq", 0)):
            cpu = None if k in DIRECT else r["cpu_prod"] + r["cpu_cons"]
            hwm = None if k in DIRECT else r["hwm_kib"] / 1024
            sp = "–" if "split" not in r else \
                (f"{r['split']['workers.batches_split']} "
                 f"({r['split']['workers.split_pieces']})")
            L.append(f"| {rnd} | {SCENARIOS[k]} | {r['prod']['rps']:.0f} | "
                     f"{r['prod']['mibps']:.1f} | {r['prod']['p99']} | "
                     f"{r['cons']['mibps']:.1f} | {fmt(cpu, '.2f')} | "
                     f"{fmt(hwm)} | {sp} |")
    L.append("")
    return L


def aws_vs_local(by_round, summ):
    """(e) against (c) within each round: the cost of a remote KMS once
    its DEKs are cached (issue 10: within 5%)."""
    if "e" not in summ or "c" not in summ:
        return []
    vals = {}
    for part, fig in (("prod", "mibps"), ("cons", "mibps")):
        xs = [runs["e"][part][fig] / runs["c"][part][fig]
              for runs in by_round.values() if "e" in runs and "c" in runs]
        vals[part] = med(xs)
    cpu = med([(runs["e"]["cpu_prod"] + runs["e"]["cpu_cons"]) /
               (runs["c"]["cpu_prod"] + runs["c"]["cpu_cons"])
               for runs in by_round.values() if "e" in runs and "c" in runs
               and runs["c"]["cpu_prod"] + runs["c"]["cpu_cons"] > 0])
    ok = all(v is not None and v >= 0.95 for v in vals.values())
    return ["", f"AwsKmsService (e) vs LocalKms (c), within each round: "
            f"produce {fmt(vals['prod'] and vals['prod'] * 100, '.0f')}%, "
            f"consume {fmt(vals['cons'] and vals['cons'] * 100, '.0f')}%, "
            f"proxy CPU {fmt(cpu and cpu * 100, '.0f')}% "
            f"(target: throughput within 5%: "
            f"{'met' if ok else 'NOT met'}).", ""]


def within_rounds(by_round, k1, k2, f):
    """Median over rounds that ran both k1 and k2 of f(run k1, run k2)
    (None where f gives None)."""
    return med([f(runs[k1], runs[k2]) for runs in by_round.values()
                if k1 in runs and k2 in runs])


def pct(x):
    return "–" if x is None else f"{x * 100:.0f}%"


def proxy_cpu(r):
    return r["cpu_prod"] + r["cpu_cons"]


def cpu_ratio(x, y):
    return proxy_cpu(x) / proxy_cpu(y) if proxy_cpu(y) > 0 else None


TLS_TARGET = 1.3    # issue 12: (h) costs at most 1.3x HAProxy's CPU


def report_tls(keys, by_round, summ, results, failures, notes):
    """The "TLS on both sides" section: (f) (g) (h) (i), proxy CPU per
    GiB moved, (h)/(g) against its target and (i)/(h)."""
    tk = [k for k in keys if k in TLS]
    if not tk:
        return []
    L = ["## TLS on both sides", ""]
    L.append(f"TLS between the clients and the proxy and between the proxy "
             f"and the broker. {notes.get('tls', '')}".rstrip())
    L.append("")
    L.append("| scenario | prod MiB/s | cons MiB/s | produce vs direct "
             "TLS | consume vs direct TLS | proxy CPU s (prod+cons) | "
             "proxy CPU s per GiB moved | proxy peak RSS MiB |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k in tk:
        if k not in summ:
            L.append(f"| {SCENARIOS[k]} | {failures.get(k, 'failed')} "
                     "| | | | | | |")
            continue
        s = summ[k]
        pr = cr = None
        if k != "f":
            pr = within_rounds(by_round, k, "f", lambda x, f:
                               x["prod"]["mibps"] / f["prod"]["mibps"])
            cr = within_rounds(by_round, k, "f", lambda x, f:
                               x["cons"]["mibps"] / f["cons"]["mibps"])
        L.append(f"| {SCENARIOS[k]} | "
                 f"{s['prod_mibps']:.1f}{spread(results[k], 'prod')} | "
                 f"{s['cons_mibps']:.1f}{spread(results[k], 'cons')} | "
                 f"{pct(pr)} | {pct(cr)} | "
                 f"{fmt(s.get('cpu'), '.2f')} | "
                 f"{fmt(s.get('cpu_per_gib'), '.2f')} | "
                 f"{fmt(s.get('hwm_mib'))} |")
    L.append("")
    hg = within_rounds(by_round, "h", "g", cpu_ratio)
    if hg is None:
        why = ", ".join(f"{SCENARIOS[k]}: "
                        f"{failures.get(k, 'not run')[:100]}"
                        for k in "gh" if k not in summ)
        L.append(f"**krxd TLS pass-through (h) / HAProxy (g), proxy CPU per "
                 f"GiB: not measured** ({why or 'no round ran both'}; "
                 f"target ≤ {TLS_TARGET}).")
    else:
        L.append(f"**krxd TLS pass-through (h) / HAProxy (g), proxy CPU per "
                 f"GiB: {hg:.2f} (target ≤ {TLS_TARGET}: "
                 f"{'met' if hg <= TLS_TARGET else 'NOT met'}).**")
    ih = within_rounds(by_round, "i", "h", cpu_ratio)
    if ih is not None:
        L.append("")
        L.append(f"krxd TLS + encryption (i) / krxd TLS pass-through (h), "
                 f"proxy CPU per GiB: {ih:.2f} (what record encryption adds "
                 f"on top of TLS; no target).")
    L.append("")
    L.append("Proxy CPU s per GiB moved: utime+stime of the proxy's "
             "processes (HAProxy's one process and its threads; krxd's "
             "master, workers and keysvc) over the measured produce and "
             "consume, divided by the data produced plus the data consumed. "
             "Ratios are taken within each round (both scenarios run "
             "close together), then the median over rounds; the same data "
             "moves in every scenario, so a ratio of CPU per GiB is a "
             "ratio of CPU seconds. (g) is the reference for krxd's TLS "
             "cost: HAProxy does the same TLS work (decrypt from the "
             "client, encrypt to the broker and back) without reading "
             "Kafka's protocol.")
    L.append("")
    return L


def report(opts, meta, wls, allres, idle, micro, notes, failures,
           split_totals):
    wl = wls[0]
    results = allres[wl.name]
    keys = [k for k in opts.requested if k in results or k in failures]
    by_round = {}
    for k in keys:
        for r in results.get(k, []):
            by_round.setdefault(r["round"], {})[k] = r
    summ = {k: summarize(k, results[k], wl) for k in keys
            if results.get(k)}
    L = []
    L.append(f"# krx benchmark, {meta['date']}")
    L.append("")
    L.append(f"- krx `{meta['git']}`; Kafka {meta['kafka']} broker (KRaft, "
             f"one node) on loopback; clients: Kafka's ProducerPerformance "
             f"and ConsumerPerformance ({meta['java']})")
    L.append(f"- {opts.records} records of {opts.record_size} B "
             f"({opts.records * opts.record_size / MiB:.0f} MiB) per "
             f"scenario and round, acks=all, {opts.partitions} "
             f"partition(s); warm-up {opts.warmup} records (produce + "
             f"consume, other topic, same path) before each scenario; "
             f"{opts.rounds} round(s), scenarios interleaved, starting "
             f"scenario rotated each round; figures are medians over rounds"
             + (f"; extra producer props: {' '.join(opts.producer_prop)}"
                if opts.producer_prop else ""))
    for w in wls[1:]:
        L.append(f"- then, in each round, {w.records} records of {w.size} B "
                 f"in {w.batch()} producer batches ({' '.join(w.props)}), "
                 f"scenarios {' '.join(w.scenarios)}: a workload that krxd "
                 f"must split (section below)")
    L.append(f"- krxd workers = {opts.workers}; {meta['cpus']} CPUs: "
             f"broker, proxy and tools share them. Load average "
             f"{meta['load_start']} at start, {meta['load_end']} at end "
             f"(other processes on this machine included)")
    if "d" in opts.requested or notes["d"]:
        L.append(f"- Kroxylicious: {notes['d']}")
    if "e" in opts.requested or notes["e"]:
        L.append(f"- (e) AwsKmsService: {notes['e']}")
    if notes.get("g"):
        L.append(f"- (g) HAProxy: {notes['g']}")
    L.append("")
    L.append("## Throughput and latency (producer saturating: "
             "--throughput -1)")
    L.append("")
    L.append("| scenario | prod rec/s | prod MiB/s | avg ms | p50 ms | "
             "p99 ms | cons MiB/s | cons rec/s | proxy CPU s (prod+cons) | "
             "proxy peak RSS MiB |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in keys:
        if k not in summ:
            L.append(f"| {SCENARIOS[k]} | {failures.get(k, 'failed')} "
                     "| | | | | | | | |")
            continue
        s = summ[k]
        cpu = "–" if k in DIRECT else \
            f"{s['cpu']:.2f} ({s['cpu_prod']:.2f}+{s['cpu_cons']:.2f})"
        L.append(f"| {SCENARIOS[k]} | {s['prod_rps']:.0f} | "
                 f"{s['prod_mibps']:.1f}{spread(results[k], 'prod')} | "
                 f"{s['prod_avg']:.1f} | "
                 f"{s['prod_p50']:.0f} | {s['prod_p99']:.0f} | "
                 f"{s['cons_mibps']:.1f}{spread(results[k], 'cons')} | "
                 f"{s['cons_rps']:.0f} | {cpu} | "
                 f"{fmt(s.get('hwm_mib'))} |")
    L.append("")
    L.append("MiB/s: median (min–max over rounds). "
             "Consumer MiB/s and rec/s are ConsumerPerformance's fetch.* "
             "figures (group join excluded). Proxy CPU: utime+stime of "
             "every proxy process (krxd master, workers and keysvc, or the "
             "Kroxylicious JVM) over the measured produce and consume; peak "
             "RSS: summed VmHWM, reset before each scenario. (HAProxy: its "
             "process and threads.)")
    L.append("")
    if opts.rtt > 0:
        L.append(f"## Produce round trip, one record at a time "
                 f"({opts.rtt} records of {opts.record_size} B, acks=all)")
        L.append("")
        L.append("| scenario | avg µs | p50 µs | p90 µs | p99 µs | "
                 "p99.9 µs |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for k in keys:
            if k in summ and summ[k].get("rtt_p99") is not None:
                s = summ[k]
                L.append(f"| {SCENARIOS[k]} | {s['rtt_avg']:.0f} | "
                         f"{s['rtt_p50']:.0f} | {s['rtt_p90']:.0f} | "
                         f"{s['rtt_p99']:.0f} | {s['rtt_p999']:.0f} |")
        L.append("")
        L.append("bench/rtt.py (librdkafka, linger.ms=0) sends a record and "
                 "waits for its acknowledgement before the next, so each "
                 "sample is one Produce request's round trip; the "
                 "saturated percentiles above are ProducerPerformance's "
                 "whole milliseconds, dominated by queueing in the client.")
        L.append("")
    L.append("## Compared with direct")
    L.append("")
    hdr = ("| scenario | produce vs direct | consume vs direct | "
           "added p99 ms (saturated) |")
    sep = "|---|---:|---:|---:|"
    if opts.rtt > 0:
        hdr += " added p99 µs (one at a time) |"
        sep += "---:|"
    hdr += (" proxy CPU s/GiB produce | proxy CPU s/GiB consume | "
            "MiB moved per proxy CPU-s |")
    sep += "---:|---:|---:|"
    kx = summ.get("d")
    if kx:
        hdr += " efficiency vs Kroxylicious |"
        sep += "---:|"
    L.append(hdr)
    L.append(sep)
    for k in keys:
        if k == "a" or k not in summ:
            continue
        s = summ[k]
        pr = paired(by_round, k, lambda x, a: x["prod"]["mibps"] /
                    a["prod"]["mibps"])
        cr = paired(by_round, k, lambda x, a: x["cons"]["mibps"] /
                    a["cons"]["mibps"])
        dp = paired(by_round, k, lambda x, a: x["prod"]["p99"] -
                    a["prod"]["p99"])
        row = (f"| {SCENARIOS[k]} | {pct(pr)} | {pct(cr)} | "
               f"{fmt(dp, '+.0f')} |")
        if opts.rtt > 0:
            dr = paired(by_round, k, lambda x, a: x["rtt"]["p99"] -
                        a["rtt"]["p99"] if "rtt" in x and "rtt" in a
                        else None)
            row += f" {fmt(dr, '+.0f')} |"
        row += (f" {fmt(s.get('cpu_per_gib_prod'), '.2f')} | "
                f"{fmt(s.get('cpu_per_gib_cons'), '.2f')} | "
                f"{fmt(s.get('mib_per_cpu'), '.0f')} |")
        if kx:
            e = s["mib_per_cpu"] / kx["mib_per_cpu"] \
                if s.get("mib_per_cpu") and kx.get("mib_per_cpu") else None
            row += f" {fmt(e, '.2f')}× |"
        L.append(row)
    L.append("")
    L += aws_vs_local(by_round, summ)
    L.append("Ratios and added latency are taken within each round "
             "(scenario vs the direct run of the same round), then the "
             "median over rounds. \"MiB moved\" counts the data produced "
             "plus the data consumed. DESIGN.md §9 targets: produce with "
             "encryption ≥ 95% of direct, consume with decryption ≥ 80%, "
             "pass-through consume ≥ 90%, added p99 ≤ 1 ms, RSS per idle "
             "connection ≤ 64 KiB.")
    L.append("")
    L += report_tls(keys, by_round, summ, results, failures, notes)
    L.append("## Every run, in order")
    L.append("")
    L.append("| round | scenario | prod MiB/s | p99 ms | cons MiB/s | "
             "proxy CPU s | peak RSS MiB |" +
             (" round trip p99 µs |" if opts.rtt > 0 else ""))
    L.append("|---:|---|---:|---:|---:|---:|---:|" +
             ("---:|" if opts.rtt > 0 else ""))
    for rnd in sorted(by_round):
        for k, r in sorted(by_round[rnd].items(),
                           key=lambda kv: kv[1].get("seq", 0)):
            cpu = None if k in DIRECT else r["cpu_prod"] + r["cpu_cons"]
            hwm = None if k in DIRECT else r["hwm_kib"] / 1024
            L.append(f"| {rnd} | {SCENARIOS[k]} | "
                     f"{r['prod']['mibps']:.1f} | {r['prod']['p99']} | "
                     f"{r['cons']['mibps']:.1f} | {fmt(cpu, '.2f')} | "
                     f"{fmt(hwm)} |" +
                     (f" {fmt(r['rtt']['p99'] if 'rtt' in r else None, '.0f')} |"
                      if opts.rtt > 0 else ""))
    L.append("")
    if "c" in summ and "workers.batches_split" in summ["c"]:
        L.append(f"krxd (c) split {summ['c']['workers.batches_split']} "
                 f"batches during these measured produce runs "
                 f"(workers.batches_split, krx-ctl cache stats before and "
                 f"after each).")
        L.append("")
    for w in wls[1:]:
        L += report_small(opts, w, allres[w.name], failures, split_totals)
    shown = {k: v for k, v in failures.items()
             if v != "not available here"}
    if shown:
        L.append("## Failures")
        L.append("")
        for k, why in shown.items():
            name = SCENARIOS.get(k)
            if name is None and "-" in k:
                w, _, sk = k.partition("-")
                name = f"{SCENARIOS.get(sk, sk)} [{w} workload]"
            L.append(f"- {name or k}: {why}")
        L.append("")
    if idle:
        L.append("## Idle connections: RSS")
        L.append("")
        L.append("| proxy | connections open | upstream connections "
                 "added | RSS before MiB | RSS after MiB | "
                 "per connection KiB |")
        L.append("|---|---:|---:|---:|---:|---:|")
        for name, d in idle:
            if "error" in d:
                L.append(f"| {name} | {d['error']} | | | | |")
                continue
            L.append(f"| {name} | {d['alive']}/{d['connections']} | "
                     f"{fmt(d['upstream_added'], 'd')} | "
                     f"{d['rss_before_kib'] / 1024:.1f} | "
                     f"{d['rss_after_kib'] / 1024:.1f} | "
                     f"{d['per_conn_kib']:.1f} |")
        L.append("")
        L.append("Each connection sent one ApiVersions v3 request to the "
                 "bootstrap port and read the answer, then stayed idle. "
                 "\"Upstream connections added\": established connections "
                 "to the broker's port that appeared meanwhile (/proc/net/"
                 "tcp), i.e. whether each session also holds its upstream "
                 "connection. RSS is the sum of VmRSS over the proxy's "
                 "processes, 1 s after the last connection (krxd: a fresh "
                 "instance with the encrypting configuration; the "
                 "Kroxylicious JVM after the throughput runs, with its heap "
                 "already grown, so its figure is only indicative).")
        L.append("")
    L.append("## Hot-path microbenchmark (bench/micro.c)")
    L.append("")
    L.append(micro.rstrip())
    L.append("")
    return "\n".join(L)


# -- micro ----------------------------------------------------------------------

def run_micro(opts):
    """Build and run bench/micro.c (another helper's), returning markdown.
    Hook: when bench/micro.c is absent this says so; once it exists it is
    compiled against $BUILD/libkrx.a and its output appended verbatim."""
    src = os.path.join(HERE, "micro.c")
    if not os.path.exists(src):
        return ("bench/micro.c is not present; when it is, bench/bench.py "
                "(run_micro) builds it against $BUILD/libkrx.a and appends "
                "its table here.")
    if opts.no_micro:
        return "skipped (--no-micro)."
    bdir = os.environ.get("BUILD", "build")
    build = os.path.join(TOP, bdir)
    lib = os.path.join(build, "libkrx.a")
    exe = os.path.join(build, "bench", "micro")
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    try:
        # the GNUmakefile's rule for it, else the command in micro.c's head
        r = subprocess.run(["make", "-s", f"BUILD={bdir}",
                            f"{bdir}/bench/micro"], cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        if r.returncode != 0:
            r = subprocess.run(["make", "-s", f"BUILD={bdir}",
                                f"{bdir}/libkrx.a"], cwd=TOP,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=600)
            if r.returncode != 0:
                return ("not run: building libkrx.a failed:\n\n```\n"
                        f"{r.stdout[-1500:]}\n```")
            libs = subprocess.run(
                ["pkg-config", "--libs", "openssl", "libevent",
                 "libevent_openssl", "libconfig", "lmdb", "libcurl", "zlib",
                 "libzstd", "liblz4", "snappy"], stdout=subprocess.PIPE,
                text=True, check=True).stdout.split()
            r = subprocess.run(
                [os.environ.get("CC", "cc"), "-std=c17", "-D_GNU_SOURCE",
                 "-O2", "-g", "-I.", "-o", exe, "bench/micro.c", lib] +
                libs + ["-lm"], cwd=TOP, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=300)
            if r.returncode != 0:
                return ("not run: bench/micro.c did not compile:\n\n```\n"
                        f"{r.stdout[-1500:]}\n```")
        log(f"running bench/micro.c ({opts.micro_secs} s per case)")
        r = subprocess.run([exe, str(opts.micro_secs)], cwd=TOP,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as e:
        return f"not run: {e}"
    if r.returncode != 0:
        return (f"bench/micro exited {r.returncode}:\n\n```\n"
                f"{(r.stdout + r.stderr)[-1500:]}\n```")
    return r.stdout


# -- main -------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="krx benchmark: Kafka perf tools direct, through krxd "
        "and through Kroxylicious (see bench/README.md)")
    ap.add_argument("--records", type=int, default=200000,
                    help="records per scenario and round (200000)")
    ap.add_argument("--record-size", type=int, default=1024,
                    help="record value size in bytes (1024)")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds of all scenarios (5)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="warm-up records before each scenario "
                         "(default records/5, at most 50000; 0: none)")
    ap.add_argument("--rtt", type=int, default=2000,
                    help="records of the one-at-a-time round-trip run "
                         "(bench/rtt.py; 2000; 0: skip it)")
    ap.add_argument("--scenarios", default=None,
                    help="which of a b c d e f g h i to run (abcdefghi, "
                         "abcde with --broker; a is the reference of b-e, "
                         "f of g-i: --scenarios fghi runs only the TLS "
                         "ones)")
    ap.add_argument("--no-kroxylicious", action="store_true",
                    help="same as leaving d out of --scenarios")
    ap.add_argument("--no-tls", action="store_true",
                    help="same as leaving f g h i out of --scenarios "
                         "(a plain broker, no HAProxy)")
    ap.add_argument("--kroxylicious-java", default=None,
                    help="java for Kroxylicious (default: the tools' java)")
    ap.add_argument("--workers", default="auto", help="krxd workers (auto)")
    ap.add_argument("--conns", type=int, default=1000,
                    help="idle connections for the RSS test (1000; 0: skip)")
    ap.add_argument("--no-micro", action="store_true")
    ap.add_argument("--micro-secs", type=float, default=0.5,
                    help="seconds per bench/micro.c case (0.5)")
    ap.add_argument("--broker", default=None,
                    help="use this running broker instead of starting one")
    ap.add_argument("--producer-prop", action="append", default=[],
                    metavar="K=V", help="extra producer property")
    ap.add_argument("--small-records", type=int, default=2000000,
                    help="records per scenario and round of the small-record "
                         "workload that krxd must split (2000000)")
    ap.add_argument("--small-size", type=int, default=100,
                    help="its record value size in bytes (100)")
    ap.add_argument("--small-warmup", type=int, default=None,
                    help="its warm-up records (default small-records/5, at "
                         "most 200000; 0: none)")
    ap.add_argument("--small-scenarios", default="abc",
                    help="its scenarios, of a b c d (abc)")
    ap.add_argument("--small-producer-prop", action="append", default=[],
                    metavar="K=V",
                    help="its producer properties, over --producer-prop "
                         "and " + " ".join(SMALL_PROPS))
    ap.add_argument("--no-small", action="store_true",
                    help="skip the small-record workload")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (logs)")
    ap.add_argument("--smoke", action="store_true",
                    help="a quick check of the harness: 3000 records, one "
                         "round, no Kroxylicious, 100 idle connections, no "
                         "micro, 30000 small records without warm-up; "
                         "writes smoke.md only")
    o = ap.parse_args(argv)
    if o.smoke:
        o.records = min(o.records, 3000)
        o.rounds = 1
        o.warmup = 500 if o.warmup is None else o.warmup
        o.rtt = min(o.rtt, 100)
        o.no_kroxylicious = True
        o.conns = min(o.conns, 100)
        o.no_micro = True
        o.small_records = min(o.small_records, 30000)
        o.small_warmup = 0 if o.small_warmup is None else o.small_warmup
    if o.warmup is None:
        o.warmup = min(50000, o.records // 5)
    if o.small_warmup is None:
        o.small_warmup = min(200000, o.small_records // 5)
    if o.small_records <= 0:
        o.no_small = True
    if o.scenarios is None:
        # a broker of the caller's has no SSL listener of ours
        o.scenarios = "abcde" if o.broker else "".join(SCENARIOS)
    if o.no_kroxylicious:
        o.scenarios = o.scenarios.replace("d", "")
    if o.no_tls:
        o.scenarios = "".join(k for k in o.scenarios if k not in TLS)
    bad = "".join(k for k in o.scenarios if k not in SCENARIOS)
    if bad:
        ap.error(f"unknown scenario(s) {bad!r}: choose among "
                 f"{''.join(SCENARIOS)}")
    o.scenarios = "".join(k for k in SCENARIOS if k in o.scenarios)
    o.requested = o.scenarios
    if not o.scenarios:
        ap.error("no scenario left to run")
    if "a" not in o.scenarios and any(k in o.scenarios for k in "bcde"):
        ap.error("scenario a (direct) is the reference of b c d e and "
                 "cannot be left out")
    if "f" not in o.scenarios and any(k in o.scenarios for k in "ghi"):
        ap.error("scenario f (direct TLS) is the reference of g h i and "
                 "cannot be left out")
    if o.broker and any(k in o.scenarios for k in TLS):
        ap.error("--broker: the TLS scenarios f g h i need the broker this "
                 "script starts (tests/kafka/tlsbroker.py); add --no-tls")
    # the small workload runs among the main one's scenarios only
    o.small_scenarios = "".join(k for k in SCENARIOS if k in o.small_scenarios
                                and k in o.scenarios and k not in TLS)
    if not o.small_scenarios:
        o.no_small = True
    if not o.no_small and "a" not in o.small_scenarios:
        ap.error("scenario a (direct) is the reference of the small "
                 "workload too")
    return o


def start_tls_proxies(opts, work, broker, hport, topics, proxies, failures,
                      notes):
    """HAProxy for (g) and the TLS krxds for (h) and (i), in proxies; a
    proxy that does not start is a failure of its scenario (reported),
    which then leaves opts.scenarios."""
    pki = broker.pki
    notes["tls"] = (
        "The broker (tests/kafka/tlsbroker.py) presents a P-256 "
        "certificate from a throwaway CA (PEM keystore); the tools trust "
        "that CA (security.protocol=SSL, PEM truststore) and krxd (h, i) "
        "presents the same certificate (tls.key) and trusts the CA "
        "upstream (upstream.tls.trust), as HAProxy (g) does. Protocol and "
        "cipher are each side's default; a Python (OpenSSL) client "
        "negotiates with the broker's SSL listener "
        f"{tls_probe(broker.ssl_bootstrap, broker.ca_file)}.")
    if "g" in opts.scenarios:
        hp = Haproxy(os.path.join(work, "haproxy"), hport,
                     broker.lb_bootstrap,
                     [pki["server_chain"], pki["server_key"]],
                     broker.ca_file)
        try:
            proxies["g"] = hp.start()
            notes["tls"] += (f" With HAProxy: "
                             f"{tls_probe(hp.bootstrap, broker.ca_file)}.")
            notes["g"] = (
                f"HAProxy {hp.version()} (Debian), mode tcp, `bind ... ssl "
                f"crt` (the broker's certificate and key) to clients, "
                f"`server ... ssl verify required ca-file <CA> sni "
                f"str(localhost)` to the broker's LB listener (SSL, "
                f"advertised as HAProxy's address); one process, one "
                f"thread per CPU (its default)")
        except (HaproxyError, TimeoutError, OSError) as e:
            why = str(e).splitlines()[0][:500]
            if not os.access(HAPROXY, os.X_OK):
                failures["g"] = "not available here"
                notes["g"] = f"not available here ({why})"
            else:
                failures["g"] = f"HAProxy did not start: {why}"
                notes["g"] = failures["g"]
            log(f"{SCENARIOS['g']}: {why}")
            opts.scenarios = opts.scenarios.replace("g", "")
    files = {"key": pki["server_key"], "cert": pki["server_chain"],
             "ca": broker.ca_file}
    for k, enc in (("h", False), ("i", True)):
        if k not in opts.scenarios:
            continue
        try:
            kx = Krxd(os.path.join(work, f"krxd-{k}"), broker.ssl_bootstrap,
                      encrypt=enc, workers=opts.workers, tls=files).start()
            proxies[k] = kx
            if not enc:
                notes["tls"] += (f" With krxd: "
                                 f"{tls_probe(kx.bootstrap, broker.ca_file)}"
                                 f".")
            if enc:
                for t in topics[k]:
                    kx.create_kek(f"KEK-{t}")
        except (BenchError, TimeoutError, OSError) as e:
            failures[k] = "krxd did not start: " + \
                " ".join(str(e).replace("\\n", " ").split())[:400]
            log(f"{SCENARIOS[k]}: {e}")
            opts.scenarios = opts.scenarios.replace(k, "")


def git_rev():
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"],
                              cwd=TOP, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True,
                              timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def java_version():
    try:
        r = subprocess.run([java_bin(), "-version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        m = re.search(r'version "([^"]+)"', r.stdout)
        return f"Java {m.group(1)}" if m else "Java ?"
    except (OSError, subprocess.SubprocessError):
        return "Java ?"


def kafka_version():
    try:
        d = os.path.dirname(classpath())
        for n in sorted(os.listdir(d)):
            m = re.match(r"kafka_2\.13-(.+)\.jar$", n)
            if m:
                return m.group(1)
    except (OSError, RuntimeError):
        pass
    return "?"


def loadavg():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None):
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    for exe in (KRXD, KRXCTL):
        if not os.access(exe, os.X_OK):
            log(f"{exe} is not built (run make)")
            return 2
    work = tempfile.mkdtemp(prefix="krx-bench-")
    runid = uuid.uuid4().hex[:6]
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "git": git_rev(), "java": java_version(),
            "kafka": kafka_version(), "cpus": os.cpu_count(),
            "load_start": loadavg()}
    wls = workloads(opts)
    log(f"work directory {work}; {opts.records} x {opts.record_size} B, "
        f"{opts.rounds} round(s), scenarios {opts.scenarios}" +
        "".join(f"; then {w.records} x {w.size} B ({' '.join(w.props)}), "
                f"scenarios {w.scenarios}" for w in wls[1:]))
    broker = None
    proxies = {}
    allres = {w.name: {} for w in wls}
    failures = {}
    split_totals = {}
    idle = []
    kroxy_note = ""
    aws_note = ""
    notes = {}          # (g) and TLS notes for the report
    moto = None
    stopped = []
    t_start = time.monotonic()
    try:
        hport = None
        if opts.broker:
            bootstrap = opts.broker
        elif any(k in TLS for k in opts.scenarios):
            from tlsbroker import TlsBroker
            # (g): HAProxy's port, which the broker's LB listener
            # advertises, is chosen before the broker starts
            if "g" in opts.scenarios:
                hport = free_port_range(1, "127.0.0.1")
            log("starting a Kafka broker with an SSL listener"
                + (" and one advertised as HAProxy's" if hport else ""))
            broker = TlsBroker(
                workdir=os.path.join(work, "kafka"), log_level="WARN",
                extra_listener_advertised=f"127.0.0.1:{hport}"
                if hport else None)
            broker.start(timeout=240)
            bootstrap = broker.bootstrap
        else:
            log("starting a Kafka broker")
            broker = Broker(workdir=os.path.join(work, "kafka"),
                            log_level="WARN")
            broker.start(timeout=180)
            bootstrap = broker.bootstrap
        log(f"broker at {bootstrap}")
        tls_target = None
        if broker is not None and hasattr(broker, "ssl_bootstrap"):
            tls_target = {"bootstrap": broker.ssl_bootstrap,
                          "config": broker.ssl_properties,
                          "ca": broker.ca_file}
            log(f"broker SSL listener at {broker.ssl_bootstrap}")
        tools = Tools(work, opts.producer_prop)
        topics = {k: [t for w in wls if k in w.scenarios
                      for t in w.topics(runid, k, opts.rounds)]
                  for k in ENCRYPTING}

        if "b" in opts.scenarios:
            proxies["b"] = Krxd(os.path.join(work, "krxd-b"), bootstrap,
                                encrypt=False, workers=opts.workers).start()
        if "c" in opts.scenarios:
            proxies["c"] = Krxd(os.path.join(work, "krxd-c"), bootstrap,
                                encrypt=True, workers=opts.workers).start()
            for t in topics["c"]:
                proxies["c"].create_kek(f"KEK-{t}")
        if "e" in opts.scenarios:
            try:
                moto = start_moto(work)
                proxies["e"] = Krxd(os.path.join(work, "krxd-e"), bootstrap,
                                    encrypt=True, workers=opts.workers,
                                    aws=moto).start()
                for t in topics["e"]:
                    proxies["e"].create_kek(f"KEK-{t}")
                aws_note = (f"moto {moto_version()} (PyPI moto[server]) on "
                            f"loopback; a key and alias KEK-<topic> per "
                            f"topic made through its API")
            except BenchError as e:
                failures["e"] = "not available here"
                aws_note = f"not available here ({str(e).splitlines()[0]})"
                log(f"AwsKmsService on moto: {aws_note}")
                opts.scenarios = opts.scenarios.replace("e", "")
        if "d" in opts.scenarios:
            ok, why = kroxylicious_fetch()
            if ok:
                try:
                    kp = Kroxylicious(os.path.join(work, "kroxylicious"),
                                      bootstrap,
                                      [f"KEK-{t}" for t in topics["d"]],
                                      java=opts.kroxylicious_java)
                    proxies["d"] = kp.start()
                    kroxy_note = (
                        f"{kp.version} from Maven Central (kroxylicious-"
                        f"runtime, -record-encryption, in-memory "
                        f"UnitTestingKmsService), started by bench/"
                        f"kroxylicious/KroxyliciousMain.java, -Xmx1G, "
                        f"default threads")
                except BenchError as e:
                    why = str(e).splitlines()[0]
                    ok = False
            if not ok:
                kroxy_note = f"not available here ({why})"
                failures["d"] = "not available here"
                log(f"Kroxylicious: {kroxy_note}")
                opts.scenarios = opts.scenarios.replace("d", "")
        if tls_target:
            start_tls_proxies(opts, work, broker, hport, topics, proxies,
                              failures, notes)
        for k, p in proxies.items():
            log(f"{SCENARIOS[k]}: {p.name} at {p.bootstrap}, pid "
                f"{p.proc.pid}")

        seq = 0
        for rnd in range(1, opts.rounds + 1):
            for wl in wls:
                order = [k for k in opts.scenarios if k in wl.scenarios]
                if not order:
                    continue
                sh = (rnd - 1) % len(order)
                order = order[sh:] + order[:sh]
                for k in order:
                    fk = wl.fkey(k)
                    if fk in failures and (k in "abcefghi" or
                                           wl.name != "main"):
                        continue
                    try:
                        r = run_scenario(k, proxies.get(k), bootstrap, tools,
                                         opts, rnd, runid, wl,
                                         tls=tls_target if k in TLS
                                         else None)
                    except BenchError as e:
                        log(f"{SCENARIOS[k]} ({wl.name} workload) failed: "
                            f"{e}")
                        failures[fk] = str(e).splitlines()[0][:700]
                        continue
                    seq += 1
                    r["seq"] = seq
                    allres[wl.name].setdefault(k, []).append(r)

        if "c" in proxies:
            try:
                split_totals["c"] = proxies["c"].stats()
            except BenchError as e:
                log(f"krx-ctl cache stats: {e}")
        for wl in wls[1:]:
            runs = allres[wl.name].get("c")
            if runs and not sum(r["split"]["workers.batches_split"]
                                for r in runs):
                failures["split"] = (
                    f"krxd split no batch in the {wl.size} B workload "
                    f"(workers.batches_split 0): its figures do not show "
                    f"the cost of splitting")
                log(failures["split"])

        if opts.conns > 0:
            bport = int(bootstrap.rsplit(":", 1)[1])
            log(f"idle connections: fresh krxd, {opts.conns} connections")
            kc = Krxd(os.path.join(work, "krxd-idle"), bootstrap,
                      encrypt=True, workers=opts.workers).start()
            try:
                idle.append(("krxd (fresh, encrypting config)",
                             idle_conns.measure(kc.bootstrap, kc.proc.pid,
                                                opts.conns,
                                                upstream_port=bport)))
            except Exception as e:  # noqa: BLE001 - reported
                idle.append(("krxd", {"error": f"failed: {e}"}))
                failures["idle"] = str(e)
            finally:
                kc.stop()
                stopped.append(kc)
            if "d" in proxies:
                log(f"idle connections: Kroxylicious, {opts.conns}")
                try:
                    idle.append(("Kroxylicious (after the runs)",
                                 idle_conns.measure(proxies["d"].bootstrap,
                                                    proxies["d"].proc.pid,
                                                    opts.conns,
                                                    upstream_port=bport)))
                except Exception as e:  # noqa: BLE001 - reported
                    idle.append(("Kroxylicious", {"error": f"failed: {e}"}))
    finally:
        for p in proxies.values():
            try:
                p.stop()
                stopped.append(p)
            except Exception as e:  # noqa: BLE001
                log(f"stopping {p.name}: {e}")
        for p in stopped:
            why = p.problems() if isinstance(p, Krxd) else None
            if why:
                log(why)
                failures[p.name] = why.splitlines()[0][:300]
        if moto is not None:
            moto.stop()
        if broker is not None:
            broker.stop(remove=False)
        meta["load_end"] = loadavg()
    micro = run_micro(opts)
    md = report(opts, meta, wls, allres, idle, micro,
                dict(notes, d=kroxy_note, e=aws_note), failures,
                split_totals)
    md += (f"\n_Run took {(time.monotonic() - t_start) / 60:.1f} min; "
           f"logs in {work}_\n" if opts.keep else
           f"\n_Run took {(time.monotonic() - t_start) / 60:.1f} min._\n")
    os.makedirs(opts.out_dir, exist_ok=True)
    if opts.smoke:
        paths = [os.path.join(opts.out_dir, "smoke.md")]
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        paths = [os.path.join(opts.out_dir, "latest.md"),
                 os.path.join(opts.out_dir, f"{stamp}.md")]
    for p in paths:
        with open(p, "w") as f:
            f.write(md)
    print(md)
    log("wrote " + ", ".join(os.path.relpath(p) for p in paths))
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    bad = [k for k in failures if k in ("a", "b", "c", "f", "h", "i",
                                        "idle", "split") or
           (k in "eg" and failures[k] != "not available here") or
           k.startswith("krxd") or re.fullmatch(r"small-[abc]", k)]
    if bad:
        log("failed: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
