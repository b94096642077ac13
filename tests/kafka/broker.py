#!/usr/bin/env python3
"""A single-node Apache Kafka (KRaft, broker+controller) for krx's tests.

Used as a module by tests/integration/conftest.py and as a CLI by
tests/demo.sh and the benchmark:

    python3 tests/kafka/broker.py start --dir D   # prints BOOTSTRAP=host:port
    python3 tests/kafka/broker.py stop --dir D
    python3 tests/kafka/broker.py start --dir D --tls [--user N=PW]...
        # also SSL and SASL_SSL listeners (tests/kafka/tlsbroker.py);
        # prints SSL_BOOTSTRAP=, SASL_SSL_BOOTSTRAP=, CA= and the Java
        # client properties files too

The broker runs from the Maven jars resolved by tests/kafka/fetch.sh
(classpath $KRX_KAFKA_LIBS, default <repo>/.cache/kafka/libs/*) with Java 17,
on free loopback ports, with node.id 1, its data and log4j2 log in a private
directory. start() returns once the broker has answered a Metadata request
that lists itself; stop() sends SIGTERM, waits, then SIGKILLs, and removes
the directory it created.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
NODE_ID = 1

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="{path}" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="kafka" level="{level}"/>
    <Logger name="org.apache.kafka" level="{level}"/>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Root level="{level}"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def libs_dir():
    """Directory holding the Kafka jars ($KRX_KAFKA_LIBS or the cache)."""
    d = os.environ.get("KRX_KAFKA_LIBS") or os.path.join(
        TOP, ".cache", "kafka", "libs")
    return d.rstrip("/").removesuffix("/*")


def classpath():
    d = libs_dir()
    if not os.path.isfile(os.path.join(d, "kafka_2.13-4.1.1.jar")) and \
            not any(n.startswith("kafka_2.13-") for n in _listdir(d)):
        raise RuntimeError(
            f"no Kafka jars in {d}: run tests/kafka/fetch.sh first")
    return os.path.join(d, "*")


def _listdir(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


def java_bin():
    jh = os.environ.get("JAVA_HOME")
    if jh and os.access(os.path.join(jh, "bin", "java"), os.X_OK):
        return os.path.join(jh, "bin", "java")
    return shutil.which("java") or "java"


def free_port(host="127.0.0.1"):
    """A TCP port that was free on host a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_range(n, host="127.0.0.1", lo=20000, hi=60000, also=()):
    """First port p such that p .. p+n-1 are all free on host and on the
    addresses in also (bound together, then released, so the answer
    holds for a moment)."""
    import random
    for _ in range(200):
        base = random.randrange(lo, hi - n)
        socks = []
        try:
            for h in (host,) + tuple(also):
                for p in range(base, base + n):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    socks.append(s)
                    s.bind((h, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on {host}")


def wait_for(pred, timeout, what, interval=0.1):
    """Poll pred() until it returns a true value (returned) or timeout
    seconds pass (TimeoutError naming what was awaited)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - kept for the message
            last = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout}s waiting for {what}"
            if last is not None:
                msg += f" (last error: {last!r})"
            raise TimeoutError(msg)
        time.sleep(interval)


def tcp_accepts(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2] != "Z"


def random_cluster_id():
    """A Kafka Uuid in its base64url string form (22 characters), not
    starting with '-' (the tool's argument parser would take it for an
    option)."""
    while True:
        s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
        if s[0] != "-":
            return s.rstrip("=")


class Broker:
    """One KRaft broker+controller process (node.id 1) on loopback."""

    def __init__(self, workdir=None, extra_props=None, heap="1G",
                 log_level="INFO", share_groups=True):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="krx-kafka-")
        os.makedirs(self.dir, exist_ok=True)
        self.extra_props = dict(extra_props or {})
        self.heap = heap
        self.log_level = log_level
        self.share_groups = share_groups
        self.host = "127.0.0.1"
        self.port = None
        self.controller_port = None
        self.proc = None
        self.pid = None
        self.node_id = NODE_ID

    # -- paths --------------------------------------------------------
    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    @property
    def props_path(self):
        return os.path.join(self.dir, "server.properties")

    @property
    def log_path(self):
        return os.path.join(self.dir, "server.log")

    @property
    def stdout_path(self):
        return os.path.join(self.dir, "stdout.log")

    @property
    def pid_path(self):
        return os.path.join(self.dir, "broker.pid")

    @property
    def state_path(self):
        return os.path.join(self.dir, "broker.json")

    def log_text(self):
        out = []
        for p in (self.log_path, self.stdout_path):
            try:
                with open(p, errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "\n".join(out)

    # -- lifecycle ----------------------------------------------------
    def _pick_ports(self):
        self.port = free_port(self.host)
        self.controller_port = free_port(self.host)
        while self.controller_port == self.port:
            self.controller_port = free_port(self.host)

    def _props(self):
        """server.properties before extra_props (subclasses add to it)."""
        h, p, c = self.host, self.port, self.controller_port
        return {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.bootstrap.servers": f"{h}:{c}",
            "listeners": f"PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            "advertised.listeners":
                f"PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map":
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": os.path.join(self.dir, "data"),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "log.flush.interval.messages": "9223372036854775807",
        }

    def _state(self):
        """What broker.json records (subclasses add to it)."""
        return {"pid": self.pid, "bootstrap": self.bootstrap,
                "port": self.port, "controller_port": self.controller_port,
                "node_id": NODE_ID, "own_dir": self.own_dir}

    def _write_config(self):
        self._pick_ports()
        props = self._props()
        props.update({k: str(v) for k, v in self.extra_props.items()})
        with open(self.props_path, "w") as f:
            for k, v in props.items():
                f.write(f"{k}={v}\n")
        with open(os.path.join(self.dir, "log4j2.xml"), "w") as f:
            f.write(LOG4J2_XML.format(path=self.log_path,
                                      level=self.log_level))

    def _java(self, main, *args, heap=None):
        cmd = [java_bin()]
        if heap:
            cmd.append(f"-Xmx{heap}")
        cmd += [
            "-Djava.awt.headless=true",
            "-Dlog4j2.configurationFile=" +
            os.path.join(self.dir, "log4j2.xml"),
            "-cp", classpath(), main,
        ]
        return cmd + list(args)

    def _format(self):
        cmd = self._java("kafka.tools.StorageTool", "format",
                         "-t", random_cluster_id(),
                         "-c", self.props_path, "--standalone",
                         heap="256M")
        if self.share_groups:
            cmd += ["--feature", "share.version=1"]
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(
                f"kafka StorageTool format failed ({r.returncode}):\n"
                f"{' '.join(cmd)}\n{r.stdout}")

    def start(self, timeout=120, detach=False):
        """Format and start the broker; return once it answers Metadata.

        detach=True puts the JVM in its own session (the CLI's start)."""
        self._write_config()
        self._format()
        cmd = self._java("kafka.Kafka", self.props_path, heap=self.heap)
        out = open(self.stdout_path, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, cwd=self.dir,
                start_new_session=detach)
        finally:
            out.close()
        self.pid = self.proc.pid
        with open(self.pid_path, "w") as f:
            f.write(f"{self.pid}\n")
        with open(self.state_path, "w") as f:
            json.dump(self._state(), f)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(remove=False)
            raise
        return self

    def _metadata_ok(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"kafka exited with {self.proc.returncode} during start; "
                f"log tail:\n{self.log_text()[-4000:]}")
        if not tcp_accepts(self.host, self.port):
            return False
        from confluent_kafka.admin import AdminClient
        a = AdminClient({"bootstrap.servers": self.bootstrap,
                         "socket.timeout.ms": 2000,
                         "log_level": 0})
        md = a.list_topics(timeout=3)
        return NODE_ID in md.brokers

    def wait_ready(self, timeout=120):
        wait_for(self._metadata_ok, timeout,
                 f"kafka at {self.bootstrap} to answer Metadata",
                 interval=0.25)

    def stop(self, timeout=30, remove=True):
        """SIGTERM, wait up to timeout seconds, SIGKILL; then remove the
        directory if this object created it (or remove=='always')."""
        pid = self.pid
        if pid:
            _terminate(pid, self.proc, timeout)
        self.proc = None
        self.pid = None
        if remove == "always" or (remove and self.own_dir):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _terminate(pid, proc, timeout):
    def gone():
        if proc is not None:
            return proc.poll() is not None
        return not pid_alive(pid)

    if gone():
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_for(gone, timeout, f"kafka pid {pid} to exit", interval=0.1)
    except TimeoutError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(gone, 10, f"kafka pid {pid} to die after SIGKILL")


# -- CLI ------------------------------------------------------------------

def _cli_start(args):
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(d, "broker.json")):
        with open(os.path.join(d, "broker.json")) as f:
            st = json.load(f)
        if pid_alive(st["pid"]):
            print(f"BOOTSTRAP={st['bootstrap']}")
            print(f"kafka already running in {d} (pid {st['pid']})",
                  file=sys.stderr)
            return 0
    if args.tls or args.user:
        from tlsbroker import TlsBroker
        users = dict(u.split("=", 1) for u in args.user) or None
        b = TlsBroker(workdir=d, log_level=args.log_level, scram_users=users,
                      client_auth=args.client_auth)
    else:
        b = Broker(workdir=d, log_level=args.log_level)
    b.start(timeout=args.timeout, detach=True)
    # The JVM is in its own session; drop our handle so it is not reaped
    # by us (it is reparented when we exit).
    print(f"BOOTSTRAP={b.bootstrap}")
    print(f"PID={b.pid}")
    print(f"LOG={b.log_path}")
    if hasattr(b, "ssl_bootstrap"):
        print(f"SSL_BOOTSTRAP={b.ssl_bootstrap}")
        print(f"SASL_SSL_BOOTSTRAP={b.sasl_ssl_bootstrap}")
        print(f"CA={b.ca_file}")
        print(f"SSL_PROPERTIES={b.ssl_properties}")
        print(f"SASL_PROPERTIES={b.sasl_properties}")
    sys.stdout.flush()
    return 0


def _cli_stop(args):
    d = os.path.abspath(args.dir)
    try:
        with open(os.path.join(d, "broker.json")) as f:
            st = json.load(f)
    except OSError:
        print(f"no broker state in {d}", file=sys.stderr)
        return 1
    _terminate(st["pid"], None, args.timeout)
    if not args.keep:
        for name in ("data", "broker.json", "broker.pid",
                     "server.properties", "log4j2.xml", "tls",
                     "kafka-keystore.pem", "client-keystore.pem",
                     "client-ssl.properties",
                     "client-sasl.properties"):
            p = os.path.join(d, name)
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.exists(p):
                os.unlink(p)
        for name in ("server.log", "stdout.log"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                os.unlink(p)
        try:
            os.rmdir(d)
        except OSError:
            pass
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start a broker in DIR and detach")
    s.add_argument("--dir", required=True)
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--log-level", default="INFO")
    s.add_argument("--tls", action="store_true",
                   help="add SSL and SASL_SSL listeners (tlsbroker.py)")
    s.add_argument("--user", action="append", default=[],
                   metavar="NAME=PASSWORD",
                   help="SCRAM/PLAIN user (implies --tls; repeatable)")
    s.add_argument("--client-auth", default="none",
                   choices=("none", "requested", "required"),
                   help="ssl.client.auth of the SSL listener (--tls)")
    t = sub.add_parser("stop", help="stop the broker started in DIR")
    t.add_argument("--dir", required=True)
    t.add_argument("--timeout", type=float, default=30)
    t.add_argument("--keep", action="store_true",
                   help="keep DIR (data and logs)")
    args = ap.parse_args(argv)
    return _cli_start(args) if args.cmd == "start" else _cli_stop(args)


if __name__ == "__main__":
    sys.exit(main())
