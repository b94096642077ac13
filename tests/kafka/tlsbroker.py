#!/usr/bin/env python3
"""A test Kafka broker with SSL and SASL_SSL client listeners.

TlsBroker(Broker) keeps broker.py's PLAINTEXT listener (inter-broker
traffic, the controller's clients and admin tools use it) and adds, on free
loopback ports:

  SSL://127.0.0.1:<ssl_port>            ssl.client.auth = client_auth
                                        (none | requested | required)
  SASL_SSL://127.0.0.1:<sasl_ssl_port>  SCRAM-SHA-512, SCRAM-SHA-256, PLAIN
  LB://127.0.0.1:<lb_port>              only with extra_listener_advertised:
                                        SSL (same keystore, no client
                                        auth), advertised as that
                                        host:port, e.g. a TLS-terminating
                                        load balancer's (bench/bench.py's
                                        HAProxy) that forwards to lb_port

Both present a PEM keystore (ssl.keystore.type=PEM: PKCS#8 key, leaf,
CA in one file) issued by a throwaway CA from tests/kms/tlsca.py; the leaf
names 127.0.0.1, ::1, localhost and kafka.test. The broker trusts that CA
(PEM truststore) for client certificates. PLAIN users live in the
listener's JAAS configuration; SCRAM credentials are stored in the cluster
metadata by Kafka's own kafka-configs (kafka.admin.ConfigCommand) over the
PLAINTEXT listener, with the passwords in a 0600 file, not on a command
line. start() returns once every user authenticates with SCRAM-SHA-512 and
SCRAM-SHA-256 over SASL_SSL and an SSL client gets Metadata.

Client helpers (see TlsBroker's docstring): confluent-kafka config dicts,
kcat argument lists and Java client properties files.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "kms"))

import tlsca  # noqa: E402
from broker import Broker, classpath, java_bin, wait_for  # noqa: E402

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
SCRAM = ("SCRAM-SHA-512", "SCRAM-SHA-256")
CLIENT_AUTH = ("none", "requested", "required")
EXTRA_DNS = ("kafka.test",)
_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SCRAM_LM = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_LM = "org.apache.kafka.common.security.plain.PlainLoginModule"


def _check_users(users):
    """Names and passwords go into JAAS strings and ConfigCommand's
    'SCRAM-SHA-512=[password=...]' syntax: keep them to a safe alphabet."""
    for u, pw in users.items():
        if not _NAME_RE.fullmatch(u) or not _NAME_RE.fullmatch(pw):
            raise ValueError(
                f"user {u!r}: names and passwords must match "
                f"{_NAME_RE.pattern}")


def _write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _jaas(module, user=None, password=None, users=None):
    parts = [module, "required"]
    if user is not None:
        parts += [f'username="{user}"', f'password="{password}"']
    for u, pw in (users or {}).items():
        parts.append(f'user_{u}="{pw}"')
    return " ".join(parts) + ";"


class TlsBroker(Broker):
    """Broker plus SSL and SASL_SSL listeners (see the module docstring).

    Attributes once started:
      bootstrap             PLAINTEXT host:port (admin, topic creation)
      ssl_bootstrap         SSL host:port
      sasl_ssl_bootstrap    SASL_SSL host:port
      ssl_port, sasl_ssl_port
      lb_port               the extra SSL listener's port, or None
      lb_bootstrap          its host:port (what it listens on), or None
      extra_listener_advertised
                            what it advertises (the constructor's), or
                            None
      ca_file               PEM of the CA that issued the broker's cert
      other_ca_file         PEM of an unrelated CA (a client trusting only
                            it must fail the handshake)
      client_cert, client_key
                            PEM client certificate/key issued by ca_file's
                            CA (for mTLS with client_auth != "none")
      client_keystore       PEM key + client cert + CA, for Java clients
      keystore              the broker's PEM keystore (key, leaf, CA)
      pki                   tlsca's dict of every file it wrote
      users                 {name: password} (SCRAM and PLAIN alike)
      client_auth           the SSL listener's ssl.client.auth
      kcat_env              environment for subprocess running kcat (a
                            fixed librdkafka preloaded if the system's is
                            too old for SCRAM with Kafka 4.x, see kcat_env)
      ssl_properties, sasl_properties
                            Java client properties files (0600) for SSL
                            (with client_keystore if client_auth is
                            "required") and for SASL_SSL + SCRAM-SHA-512 as
                            the first user
    Methods returning fresh objects (bootstrap= overrides the address,
    ca= the trusted CA file, client_cert=True adds the client certificate):
      ssl_conf(bootstrap, ca, client_cert)
      sasl_conf(user, mechanism, password, bootstrap, ca)
                            confluent-kafka config dicts (bootstrap.servers,
                            security.protocol, ssl.ca.location and
                            sasl.mechanism/username/password)
      ssl_kcat(...), sasl_kcat(...)  (same arguments)
                            kcat argument lists ['-b', address, '-X', 'k=v',
                            ...]: run with env=kcat_env
      java_properties(path, protocol, user, mechanism, password, ca,
                      client_cert)
                            write another Java client properties file
      add_scram_user(user, password)
                            store more SCRAM credentials (kafka-configs)
    """

    def __init__(self, workdir=None, tls_dir=None, scram_users=None,
                 client_auth="none", extra_listener_advertised=None,
                 extra_listener_name="LB", **kw):
        super().__init__(workdir=workdir, **kw)
        if client_auth not in CLIENT_AUTH:
            raise ValueError(f"client_auth must be one of {CLIENT_AUTH}")
        if extra_listener_advertised is not None and not re.fullmatch(
                r"[A-Za-z0-9.:\[\]-]+:\d{1,5}", extra_listener_advertised):
            raise ValueError("extra_listener_advertised must be host:port")
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,31}", extra_listener_name) \
                or extra_listener_name in ("PLAINTEXT", "CONTROLLER", "SSL",
                                           "SASL_SSL"):
            raise ValueError(f"listener name {extra_listener_name!r}")
        self.extra_listener_advertised = extra_listener_advertised
        self.extra_listener_name = extra_listener_name
        self.lb_port = None
        self.users = dict(scram_users or {"alice": "alice-secret"})
        _check_users(self.users)
        self.client_auth = client_auth
        # tls_dir: tlsca's files are reused if already there (made
        # elsewhere they may lack the name kafka.test); default <dir>/tls
        self.tls_dir = tls_dir or os.path.join(self.dir, "tls")
        self.pki = tlsca.ensure(self.tls_dir, dns=EXTRA_DNS)
        self.ca_file = self.pki["ca"]
        self.other_ca_file = self.pki["other_ca"]
        self.client_cert = self.pki["client"]
        self.client_key = self.pki["client_key"]
        self.keystore = os.path.join(self.dir, "kafka-keystore.pem")
        self.client_keystore = os.path.join(self.dir, "client-keystore.pem")
        self.ssl_port = None
        self.sasl_ssl_port = None
        self.ssl_properties = os.path.join(self.dir, "client-ssl.properties")
        self.sasl_properties = os.path.join(self.dir,
                                            "client-sasl.properties")
        self.kcat_env = kcat_env()

    # -- addresses ---------------------------------------------------
    @property
    def ssl_bootstrap(self):
        return f"{self.host}:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap(self):
        return f"{self.host}:{self.sasl_ssl_port}"

    @property
    def lb_bootstrap(self):
        if self.lb_port is None:
            return None
        return f"{self.host}:{self.lb_port}"

    @property
    def first_user(self):
        return next(iter(self.users))

    # -- configuration -----------------------------------------------
    def _pick_ports(self):
        import socket
        socks = []
        extra = self.extra_listener_advertised is not None
        try:
            for _ in range(5 if extra else 4):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((self.host, 0))
            ports = [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()
        (self.port, self.controller_port, self.ssl_port,
         self.sasl_ssl_port) = ports[:4]
        self.lb_port = ports[4] if extra else None

    def _write_keystore(self):
        """The broker's PEM keystore (key, leaf, CA) and a client one for
        Java clients doing mTLS (key, client leaf, CA)."""
        def read(*names):
            out = []
            for n in names:
                with open(self.pki[n]) as f:
                    out.append(f.read())
            return "".join(out)
        _write_private(self.keystore, read("server_key", "server_chain"))
        _write_private(self.client_keystore,
                       read("client_key", "client", "ca"))

    def _props(self):
        props = super()._props()
        h = self.host
        extra = (f"SSL://{h}:{self.ssl_port},"
                 f"SASL_SSL://{h}:{self.sasl_ssl_port}")
        props["listeners"] += "," + extra
        props["advertised.listeners"] += "," + extra
        props["listener.security.protocol.map"] += \
            ",SSL:SSL,SASL_SSL:SASL_SSL"
        if self.lb_port is not None:
            n = self.extra_listener_name
            props["listeners"] += f",{n}://{h}:{self.lb_port}"
            props["advertised.listeners"] += \
                f",{n}://{self.extra_listener_advertised}"
            props["listener.security.protocol.map"] += f",{n}:SSL"
            props[f"listener.name.{n.lower()}.ssl.client.auth"] = "none"
        self._write_keystore()
        props.update({
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": self.keystore,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": self.ca_file,
            "listener.name.ssl.ssl.client.auth": self.client_auth,
            "listener.name.sasl_ssl.ssl.client.auth": "none",
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "listener.name.sasl_ssl.sasl.enabled.mechanisms":
                ",".join(MECHANISMS),
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                _jaas(_PLAIN_LM, users=self.users),
        })
        for m in SCRAM:
            props[f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config"] = \
                _jaas(_SCRAM_LM)
        return props

    def _write_config(self):
        super()._write_config()
        os.chmod(self.props_path, 0o600)  # holds the PLAIN passwords

    def _state(self):
        st = super()._state()
        st.update({"ssl_bootstrap": self.ssl_bootstrap,
                   "sasl_ssl_bootstrap": self.sasl_ssl_bootstrap,
                   "ca_file": self.ca_file,
                   "ssl_properties": self.ssl_properties,
                   "sasl_properties": self.sasl_properties})
        if self.lb_port is not None:
            st.update({"lb_bootstrap": self.lb_bootstrap,
                       "lb_advertised": self.extra_listener_advertised})
        return st

    # -- start: users, then proof that SSL and SCRAM work --------------
    def wait_ready(self, timeout=120):
        import time
        deadline = time.monotonic() + timeout
        super().wait_ready(timeout)
        for u, pw in self.users.items():
            self.add_scram_user(u, pw,
                                timeout=max(30, deadline - time.monotonic()))
        self.java_properties(self.ssl_properties, "SSL",
                             client_cert=self.client_auth == "required")
        self.java_properties(self.sasl_properties, "SASL_SSL")
        left = max(10, deadline - time.monotonic())
        wait_for(lambda: self._answers(self.ssl_conf()), left,
                 f"kafka SSL listener {self.ssl_bootstrap}", interval=0.25)
        for u in self.users:
            for m in SCRAM:
                left = max(10, deadline - time.monotonic())
                wait_for(lambda: self._answers(self.sasl_conf(u, m)), left,
                         f"{m} login of {u} at {self.sasl_ssl_bootstrap}",
                         interval=0.25)

    def _answers(self, conf):
        from confluent_kafka.admin import AdminClient
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"kafka exited with {self.proc.returncode}")
        c = dict(conf)
        c.update({"socket.timeout.ms": 3000, "log_level": 0})
        if self.client_auth == "required" and \
                c["security.protocol"] == "SSL":
            c.setdefault("ssl.certificate.location", self.client_cert)
            c.setdefault("ssl.key.location", self.client_key)
        md = AdminClient(c).list_topics(timeout=4)
        return 1 in md.brokers

    def add_scram_user(self, user, password, timeout=60):
        """Store SCRAM-SHA-512 and -256 credentials for user with
        kafka-configs over the PLAINTEXT listener, one mechanism per call
        (a KRaft controller refuses a request that alters one user twice:
        DuplicateResourceException). The password travels in a 0600 file
        read with --add-config-file, removed afterwards."""
        _check_users({user: password})
        for m in SCRAM:
            self._kafka_configs(user, f"{m}=password={password}\n",
                                password, timeout)
        self.users[user] = password

    def _kafka_configs(self, user, config, secret, timeout):
        path = os.path.join(self.dir, f"scram-{user}.properties")
        _write_private(path, config)
        cmd = [java_bin(), "-Xmx256M", "-XX:+UseSerialGC",
               "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
               "-Dlog4j2.configurationFile=" +
               os.path.join(self.dir, "log4j2.xml"),
               "-cp", classpath(), "kafka.admin.ConfigCommand",
               "--bootstrap-server", self.bootstrap, "--alter",
               "--entity-type", "users", "--entity-name", user,
               "--add-config-file", path]
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               timeout=timeout)
        finally:
            os.unlink(path)
        if r.returncode != 0:
            raise RuntimeError(
                f"kafka-configs for user {user} exited {r.returncode}:\n"
                f"{r.stdout[-3000:].replace(secret, '***')}")

    # -- client helpers ----------------------------------------------
    def ssl_conf(self, bootstrap=None, ca=None, client_cert=False):
        """confluent-kafka config for the SSL listener."""
        c = {"bootstrap.servers": bootstrap or self.ssl_bootstrap,
             "security.protocol": "SSL",
             "ssl.ca.location": ca or self.ca_file}
        if client_cert:
            c["ssl.certificate.location"] = self.client_cert
            c["ssl.key.location"] = self.client_key
        return c

    def sasl_conf(self, user=None, mechanism="SCRAM-SHA-512", password=None,
                  bootstrap=None, ca=None):
        """confluent-kafka config for SASL_SSL (default: first user,
        SCRAM-SHA-512, that user's password)."""
        user = user or self.first_user
        return {"bootstrap.servers": bootstrap or self.sasl_ssl_bootstrap,
                "security.protocol": "SASL_SSL",
                "ssl.ca.location": ca or self.ca_file,
                "sasl.mechanism": mechanism,
                "sasl.username": user,
                "sasl.password": password if password is not None
                else self.users[user]}

    def ssl_kcat(self, bootstrap=None, ca=None, client_cert=False):
        return _kcat_args(self.ssl_conf(bootstrap, ca, client_cert))

    def sasl_kcat(self, user=None, mechanism="SCRAM-SHA-512", password=None,
                  bootstrap=None, ca=None):
        return _kcat_args(self.sasl_conf(user, mechanism, password,
                                         bootstrap, ca))

    def java_properties(self, path, protocol, user=None,
                        mechanism="SCRAM-SHA-512", password=None, ca=None,
                        client_cert=False):
        """Write a Java client properties file (0600) for protocol "SSL"
        or "SASL_SSL" (for --producer.config / --consumer.config /
        --command-config); returns path."""
        lines = [f"security.protocol={protocol}",
                 "ssl.truststore.type=PEM",
                 f"ssl.truststore.location={ca or self.ca_file}"]
        if client_cert:
            lines += ["ssl.keystore.type=PEM",
                      f"ssl.keystore.location={self.client_keystore}"]
        if protocol == "SASL_SSL":
            user = user or self.first_user
            pw = password if password is not None else self.users[user]
            lm = _PLAIN_LM if mechanism == "PLAIN" else _SCRAM_LM
            lines += [f"sasl.mechanism={mechanism}",
                      f"sasl.jaas.config={_jaas(lm, user, pw)}"]
        elif protocol != "SSL":
            raise ValueError(f"protocol {protocol!r}")
        _write_private(path, "".join(ln + "\n" for ln in lines))
        return path


def _version_tuple(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def kcat_env():
    """Environment for running kcat against this broker's SCRAM listener.

    librdkafka before 2.6.1 sends a SCRAM client-final nonce that Kafka 4.x
    refuses ("invalid credentials", librdkafka#4895, kcat#462); Debian 12's
    kcat links librdkafka 2.0.2. When the system kcat is that old and the
    confluent-kafka wheel bundles a fixed librdkafka, LD_PRELOAD it (the
    wheel's copy is self-contained: it needs only libc). Returns a copy of
    os.environ, changed only when needed and possible."""
    env = dict(os.environ)
    try:
        v = subprocess.run(["kcat", "-V"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return env
    m = re.search(r"librdkafka (\d+\.\d+\.\d+)", v)
    if m is None or _version_tuple(m.group(1)) >= (2, 6, 1):
        return env
    lib = bundled_librdkafka()
    if lib:
        env["LD_PRELOAD"] = lib
    return env


def bundled_librdkafka():
    """Path of the librdkafka >= 2.6.1 bundled in the confluent-kafka
    wheel, or None."""
    import glob
    try:
        import confluent_kafka
    except ImportError:
        return None
    if _version_tuple(confluent_kafka.libversion()[0]) < (2, 6, 1):
        return None
    d = os.path.dirname(os.path.dirname(confluent_kafka.__file__))
    libs = sorted(glob.glob(os.path.join(d, "confluent_kafka.libs",
                                         "librdkafka*.so*")))
    return libs[0] if libs else None


def _kcat_args(conf):
    """kcat argv (without 'kcat' and the mode) for a confluent config."""
    out = ["-b", conf["bootstrap.servers"]]
    for k, v in conf.items():
        if k != "bootstrap.servers":
            out += ["-X", f"{k}={v}"]
    return out
