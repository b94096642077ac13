"""Fixtures for krx's integration tests.

- kafka (session): one real Kafka 4.1 broker (tests/kafka/broker.py) shared
  by every test; tests use distinct topic names (fixture topic_name).
- krxd (function): krxd -g with a fresh config on free loopback ports in the
  test's tmp dir, pointed at that broker, ready when krx-ctl reports every
  worker "running" and the bootstrap port accepts. On teardown it is
  stopped with krx-ctl stop; a sanitizer report, a "runtime error" line or
  an exit by signal in its log fails the test. Tests pick options with
  @pytest.mark.krxd(workers=..., max_frame_bytes=..., log_level=...).
- krxd_factory: start further or differently configured krxd instances.
- tls_kafka (session): a second broker (tests/kafka/tlsbroker.py) with SSL
  and SASL_SSL (SCRAM-SHA-512/256, PLAIN) listeners besides PLAINTEXT,
  a throwaway CA, users alice and bob with random passwords; started on
  first use only. See TlsBroker for its attributes and client helpers.

The krxd process wrapper and the helpers live in krxtest.py.
Environment: KRXD, KRXCTL (default build/krxd, build/krx-ctl),
KRX_KAFKA_LIBS (the jars), KRX_TEST_TIMEOUT (per-test limit, seconds).
"""

import os
import re
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import krxtest  # noqa: E402  (also puts tests/kafka on sys.path)
import kmsback  # noqa: E402
from broker import Broker  # noqa: E402

TEST_TIMEOUT = int(os.environ.get("KRX_TEST_TIMEOUT", "300"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "krxd(**opts): options for the krxd fixture "
        "(workers, max_node_id, max_frame_bytes, log_level)")


class TestTimeout(Exception):
    __test__ = False


@pytest.fixture(autouse=True)
def _time_limit(request):
    """Per-test wall-clock limit without a plugin: SIGALRM raises in the
    main thread, so a hung client cannot eat CI's whole budget."""
    def on_alarm(signum, frame):
        raise TestTimeout(f"{request.node.nodeid} exceeded {TEST_TIMEOUT}s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session")
def kafka():
    b = Broker()
    try:
        b.start(timeout=180)
    except BaseException:
        sys.stderr.write("kafka failed to start; log tail:\n" +
                         b.log_text()[-6000:] + "\n")
        b.stop()
        raise
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def tls_kafka():
    import secrets
    from tlsbroker import TlsBroker  # needs cryptography (tests/kms)
    users = {u: secrets.token_urlsafe(18) for u in ("alice", "bob")}
    b = TlsBroker(scram_users=users, heap="512M")
    try:
        b.start(timeout=240)
    except BaseException:
        sys.stderr.write("TLS kafka failed to start; log tail:\n" +
                         b.log_text()[-6000:] + "\n")
        b.stop()
        raise
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(params=kmsback.NAMES)
def enc_kms(request, tmp_path):
    """The KMS behind an encrypting krxd (enctest.enc_krxd(kms=...)): each
    test that takes it runs with LocalKms and with AwsKmsService on
    moto's server."""
    b = kmsback.open_backend(request.param, tmp_path)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def krxd_factory(kafka, tmp_path):
    f = krxtest.KrxdFactory(tmp_path, kafka.bootstrap)
    yield f
    problems = f.finish()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def krxd(krxd_factory, request):
    m = request.node.get_closest_marker("krxd")
    opts = dict(m.kwargs) if m else {}
    return krxd_factory.make(**opts)


@pytest.fixture
def topic_name(request):
    """A topic name prefix unique to this test and run."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", request.node.name)[:60]
    return f"{base}-{os.getpid()}-{int(time.time() * 1000) % 1000000}"
