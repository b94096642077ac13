"""The KMS stopped or slow mid-run (krx issue 10, "It must show"),
against the Vault Transit double (tests/kms/vault_double.py).

- One KMS call for 1,000 concurrent misses: keysvc run by the test
  (kstest.py) gets 1,000 DECRYPTs of one EDEK over 8 worker channels,
  all sent before the first answer, while the double holds decrypt 2 s:
  every answer is the DEK, and the double counted one decrypt call. The
  next 1,000 come from the DEK cache (no call); 1,000 RESOLVEs of one
  alias cost one key read. With the KMS answering 503, 1,000 concurrent
  misses of another EDEK cost one flight (its three attempts) and are
  all answered UNAVAILABLE; 1,000 more right after cost nothing (the
  negative cache).
- A slow KMS does not hold keysvc: while one DECRYPT waits 5 s on
  Vault, 200 DECRYPTs of a DEK in the cache are answered at once.
- kms check bypasses the negative cache: during a 503 outage it fails
  (exit 5) and a worker-shaped resolve is then answered from the
  negative cache; right after the double recovers, kms check answers
  Ok at once (it used to report the stale failure for 5 s), while
  other callers still get the cached failure until it expires.
- Live clients through krxd while the KMS is stopped ("refuse": the
  listener closed), answers 503 (sealed) or hangs (requests read, never
  answered; requestTimeoutSeconds 2): a topic whose DEK is cached keeps
  producing and consuming; a topic needing a new DEK gets a retriable
  error (REQUEST_TIMED_OUT) on a connection that stays open, and an
  idempotent confluent-kafka producer started during the outage
  delivers every record once the KMS is back. At the broker every
  record of both topics is encrypted (marker header, Vault EDEK, no
  plaintext marker anywhere); read back through krxd every acknowledged
  record is there exactly once.
- Slow KMS (5 s a call): while a producer to a new topic waits on the
  KMS, producing and consuming a topic whose DEK is cached stays as
  fast as without the delay (p99 of delivery latency and total time
  bounded against a baseline of the same run). Separate producers: on
  one connection Kafka answers in order, so a client's own request for
  the slow topic does hold its later ones.
krxd runs one worker in the live tests: each worker makes its own
encryption DEK, so "a topic with a cached DEK" is one its worker has.
"""

import os
import re
import struct
import threading
import time

import pytest
from confluent_kafka import Producer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import enctest
import keytest
import krxtest
import kstest
import tools
from test_kms_vault import (check_at_broker, make_krxd, parse_vault_edek,
                            read_values, start_double, vault_enc)

MARK = b"PLAINTEXT-MARK-"
REQUEST_TIMED_OUT = 7


def keysvc_conf(tmp_path, vault, name="ks", request_timeout=10):
    """A whole krxd configuration (for kstest.Keysvc) whose virtual
    cluster encrypts with vault; its own DEK cache."""
    k = krxtest.Krxd(os.path.join(str(tmp_path), name), "127.0.0.1:9",
                     extra=keytest.cache_conf(os.path.join(
                         str(tmp_path), name, "dekcache")),
                     vc_extra=vault_enc(vault.transit_url, tmp_path,
                                        token_file=os.path.join(
                                            vault.dir, "vault-token"),
                                        trust=vault.ca_file).replace(
                         "requestTimeoutSeconds = 10",
                         f"requestTimeoutSeconds = {request_timeout}"))
    return k.config_text()


def krxd_for(krxd_factory, tmp_path, vault, workers=1, request_timeout=10,
             name="a"):
    """make_krxd with requestTimeoutSeconds = request_timeout."""
    cache = os.path.join(str(tmp_path), f"dekcache-{name}")
    enc = vault_enc(vault.transit_url, tmp_path, token_file=os.path.join(
        vault.dir, "vault-token"), trust=vault.ca_file).replace(
        "requestTimeoutSeconds = 10",
        f"requestTimeoutSeconds = {request_timeout}")
    k = krxd_factory.make(workers=workers, extra=keytest.cache_conf(cache),
                          vc_extra=enc)
    keytest.wait_keysvc(k)
    return k


def vault_edek(vault, kek, dek):
    """Kroxylicious' Vault EDEK of dek under kek, made by the double."""
    ct = vault.encrypt_local(kek, dek).encode()
    name = kek.encode()
    return enctest.put_uvarint(len(name)) + name + ct


def test_thousand_misses_one_kms_call(tmp_path):
    v = start_double(tmp_path)
    ks = None
    try:
        kek = "KEK-burst"
        v.create_key(kek)
        dek = os.urandom(32)
        edek = vault_edek(v, kek, dek)
        ks = kstest.Keysvc(os.path.join(str(tmp_path), "ks"),
                           keysvc_conf(tmp_path, v)).start()
        v.reset_stats()
        v.set_delay(2.0, "decrypt")
        got, secs = ks.decrypt_burst(edek, 1000)
        print(f"1000 concurrent misses: {secs:.2f} s, "
              f"{v.calls('decrypt')} decrypt calls")
        assert len(got) == 1000
        assert all(r == (kstest.OK, dek) for r in got), \
            {st for st, _ in got}
        assert v.calls("decrypt") == 1, v.stats()["calls"]
        assert secs >= 1.9, "the burst did not wait for the KMS"

        # The DEK is in the LMDB cache now: no call at all.
        got, _ = ks.decrypt_burst(edek, 1000)
        assert all(r == (kstest.OK, dek) for r in got)
        assert v.calls("decrypt") == 1, v.stats()["calls"]

        # 1,000 resolves of one alias: one key read.
        v.set_delay(1.0, "keys_read")
        res, _ = ks.resolve_burst(kek, 1000)
        assert all(r == (kstest.OK, kek.encode()) for r in res), \
            {r[0] for r in res}
        assert v.calls("keys_read") == 1, v.stats()["calls"]
        v.set_delay(0, "keys_read")
        v.set_delay(0, "decrypt")

        # The KMS down: 1,000 misses of a new EDEK are one flight (its
        # three attempts), all answered retriable; 1,000 more within
        # the negative cache's 5 s cost nothing.
        dek2 = os.urandom(32)
        edek2 = vault_edek(v, kek, dek2)
        v.reset_stats()
        v.outage("503")
        got, secs = ks.decrypt_burst(edek2, 1000)
        assert all(r == (kstest.UNAVAILABLE, b"") for r in got), \
            {st for st, _ in got}
        assert v.stats()["outage_refusals"] == 3, v.stats()
        got, secs2 = ks.decrypt_burst(edek2, 1000)
        assert all(r == (kstest.UNAVAILABLE, b"") for r in got)
        assert v.stats()["outage_refusals"] == 3, v.stats()
        print(f"503: first burst {secs:.2f} s, second {secs2:.2f} s")
        v.recover()

        log = ks.log_text()
        assert v.token not in log
        for d in (dek, dek2):
            assert d.hex() not in log.lower()
        assert ks.stop() == 0, ks.log_text()[-3000:]
        ks = None
    finally:
        if ks is not None:
            ks.stop()
        v.stop()


def test_slow_kms_does_not_hold_keysvc(tmp_path):
    """keysvc asked for a DEK the KMS must unwrap (5 s a call) answers
    questions about cached DEKs meanwhile at once."""
    v = start_double(tmp_path)
    ks = None
    try:
        kek = "KEK-slow"
        v.create_key(kek)
        hot, cold = os.urandom(32), os.urandom(32)
        hot_edek, cold_edek = vault_edek(v, kek, hot), vault_edek(v, kek,
                                                                   cold)
        ks = kstest.Keysvc(os.path.join(str(tmp_path), "ks"),
                           keysvc_conf(tmp_path, v), slots=2).start()
        assert ks.decrypt_burst(hot_edek, 1)[0] == [(kstest.OK, hot)]
        v.set_delay(5.0)
        v.reset_stats()
        # The cold question on channel 0, not read until the end.
        c0 = ks.workers[0]
        c0.send(kstest.frame(kstest.T_DECRYPT, 999999, struct.pack(
            ">II", 0, 1) + kstest.bstr(cold_edek)))
        krxtest.wait_for(lambda: v.calls("decrypt") == 1, 10,
                         "the cold EDEK reaching Vault", interval=0.02)
        t0 = time.monotonic()
        ks.workers = ks.workers[1:]
        got, secs = ks.decrypt_burst(hot_edek, 200)
        assert all(r == (kstest.OK, hot) for r in got)
        ks.workers.insert(0, c0)
        (t, mid, _, p), = c0.messages(1, 30)
        waited = time.monotonic() - t0
        print(f"200 cached DEKs in {secs:.3f} s while one waited "
              f"{waited:.1f} s more on a 5 s KMS")
        assert mid == 999999 and kstest.parse_decrypt_reply(p) == \
            [(kstest.OK, cold)]
        assert secs < 1.0 and waited > secs + 2.0, (secs, waited)
        assert v.calls("decrypt") == 1
        ks.stop()
        ks = None
    finally:
        if ks is not None:
            ks.stop()
        v.stop()


def test_kms_check_bypasses_negative_cache(tmp_path):
    v = start_double(tmp_path)
    ks = None
    try:
        kek = "KEK-check"
        v.create_key(kek)
        ks = kstest.Keysvc(os.path.join(str(tmp_path), "ks"),
                           keysvc_conf(tmp_path, v), slots=1).start()
        assert ks.kms_check(kek) == (0, "Ok\n")

        v.outage("503")
        code, text = ks.kms_check(kek)
        assert code == 5 and "HTTP 503" in text, (code, text)
        # A worker's resolve now meets the negative cache: no request.
        v.reset_stats()
        res, _ = ks.resolve_burst(kek, 1)
        assert res == [(kstest.UNAVAILABLE, b"")]
        assert v.stats()["outage_refusals"] == 0, v.stats()

        v.recover()
        v.reset_stats()
        t0 = time.monotonic()
        code, text = ks.kms_check(kek)
        assert (code, text) == (0, "Ok\n"), \
            f"kms check right after the outage: {code} {text!r}"
        assert time.monotonic() - t0 < 3
        # One of each: the check went to Vault, and only once.
        calls = v.stats()["calls"]
        assert (calls.get("keys_read"), calls.get("datakey"),
                calls.get("decrypt")) == (1, 1, 1), calls
        ks.stop()
        ks = None
    finally:
        if ks is not None:
            ks.stop()
        v.stop()


def test_kms_check_after_outage_via_ctl(kafka, krxd_factory, tmp_path,
                                        topic_name):
    """The same through krx-ctl and the master."""
    v = start_double(tmp_path)
    try:
        kek = f"KEK-{topic_name}"
        v.create_key(kek)
        k = make_krxd(krxd_factory, tmp_path, v, workers=1)
        v.outage("refuse")
        r = keytest.ctl(k, "kms", "check", kek)
        assert r.returncode == 5 and "unreachable" in r.stderr, r.stderr
        v.recover()
        r = keytest.ctl(k, "kms", "check", kek)
        assert (r.returncode, r.stdout) == (0, "Ok\n"), \
            f"kms check right after recovery: {r.returncode} {r.stderr}"
        k.assert_running()
    finally:
        v.stop()


# -- live clients through krxd -----------------------------------------

def idem_producer(bootstrap, **conf):
    c = {"bootstrap.servers": bootstrap, "enable.idempotence": True,
         "acks": "all", "linger.ms": 5, "log_level": 3,
         "message.timeout.ms": 180000, "retry.backoff.ms": 200,
         "retry.backoff.max.ms": 1000}
    c.update(conf)
    return Producer(c)


class Sender:
    """Produce values in a thread; records what was acknowledged, what
    failed, and each delivery's latency."""

    def __init__(self, producer, topic, vals, gap=0.0):
        self.p, self.topic, self.vals, self.gap = producer, topic, vals, gap
        self.acked, self.errors, self.latency = [], [], []
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        def dr(err, msg, t0):
            if err is not None:
                self.errors.append(err)
            else:
                self.acked.append(msg.value())
                self.latency.append(time.monotonic() - t0)
        for v in self.vals:
            t0 = time.monotonic()
            self.p.produce(self.topic, value=v, key=b"k",
                           on_delivery=lambda e, m, t0=t0: dr(e, m, t0))
            self.p.poll(0)
            if self.gap:
                time.sleep(self.gap)
        self.left = self.p.flush(200)

    def start(self):
        self.t.start()
        return self

    def join(self, timeout=240):
        self.t.join(timeout)
        assert not self.t.is_alive(), f"producer to {self.topic} hung"
        assert self.left == 0 and not self.errors, \
            f"{self.topic}: {self.left} undelivered, errors {self.errors[:3]}"
        return self


def marked(tag, n):
    return [MARK + b"%s-%05d" % (tag.encode(), i) for i in range(n)]


def read_order(kafka, vault, topic):
    """The plaintexts of topic's records in offset order, each checked
    to be a wrapper (marker header first) under a Vault EDEK of
    KEK-<topic> and opened with the double's keys, independently of
    krx."""
    out, deks = [], {}
    for r in keytest.records(kafka.bootstrap, topic):
        assert r[5] and r[5][0] == (keytest.HDR_KEY, b"\x02"), \
            f"{topic}@{r[2]}: not encrypted: headers {r[5]!r}"
        w = enctest.parse_wrapper(r[4])
        name, ct = parse_vault_edek(w["edek"])
        assert name == f"KEK-{topic}", f"{topic}@{r[2]}: EDEK of {name}"
        if w["edek"] not in deks:
            deks[w["edek"]] = vault.decrypt_local(name, ct)
        out.append(enctest.parse_parcel(
            AESGCM(deks[w["edek"]]).decrypt(w["iv"], w["ct"], None)))
    return out


def raw_produce(krxd, topic, values):
    """One Produce v7 on a connection the caller keeps: ({(t, p): (err,
    base)}, conn)."""
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1), timeout=60)
    return conn, conn.produce({topic: {0: enctest.encode_batch(
        [(b"k", v, ()) for v in values])}})


@pytest.mark.parametrize("mode", ["refuse", "503", "hang"])
def test_outage_live_clients(kafka, krxd_factory, tmp_path, topic_name,
                             mode):
    v = start_double(tmp_path)
    cached, fresh = topic_name + "-c", topic_name + "-n"
    try:
        for t in (cached, fresh):
            v.create_key(f"KEK-{t}")
        tools.create_topics(kafka.bootstrap, {cached: 1, fresh: 1})
        # One worker: its DEK of the cached topic is the one it has
        # (each worker makes its own encryption DEK).
        k = krxd_for(krxd_factory, tmp_path, v, workers=1,
                     request_timeout=2 if mode == "hang" else 10)
        before = marked("before", 50)
        keytest.produce(k.bootstrap, cached, before)
        assert read_values(k, cached) == before

        v.outage(mode)
        p_cached = idem_producer(k.bootstrap)
        during = marked("during", 300)
        s_cached = Sender(p_cached, cached, during, gap=0.002).start()

        # A new DEK is needed: a retriable error, the connection stays.
        conn, res = raw_produce(k, fresh, [MARK + b"raw-0"])
        assert res == {(fresh, 0): (REQUEST_TIMED_OUT, -1)}, res
        res = conn.produce({cached: {0: enctest.encode_batch(
            [(b"k", MARK + b"raw-c", ())])}})
        assert res[(cached, 0)][0] == 0, res
        conn.close()

        p_fresh = idem_producer(k.bootstrap)
        fresh_vals = marked("fresh", 200)
        s_fresh = Sender(p_fresh, fresh, fresh_vals).start()

        s_cached.join()
        # The cached topic also reads back during the outage.
        got = read_values(k, cached)
        assert got == before + [MARK + b"raw-c"] + during or \
            sorted(got) == sorted(before + [MARK + b"raw-c"] + during), \
            "cached topic during the outage"
        assert not s_fresh.acked, "a record of the new topic was " \
            "acknowledged while the KMS was down"
        assert s_fresh.t.is_alive()

        v.recover()
        s_fresh.join()
        assert sorted(s_fresh.acked) == sorted(fresh_vals)

        # Nothing in clear, nothing lost, nothing twice.
        want_c = before + [MARK + b"raw-c"] + during
        plain_c = read_order(kafka, v, cached)
        plain_f = read_order(kafka, v, fresh)
        assert sorted(plain_c) == sorted(want_c)
        assert sorted(plain_f) == sorted(fresh_vals)
        for t in (cached, fresh):
            for r in keytest.records(kafka.bootstrap, t):
                assert MARK not in r[4], f"{t}@{r[2]} holds plaintext"
        assert sorted(read_values(k, cached)) == sorted(want_c)
        assert sorted(read_values(k, fresh)) == sorted(fresh_vals)
        assert_only_clients_closed(k)
        k.assert_running()
    finally:
        v.stop()


def assert_only_clients_closed(krxd):
    """krxd closed no client connection itself: every "closing
    connection" line it logged says the client closed it (librdkafka
    may close with a reset when it drops a socket with data unread)."""
    reasons = set(re.findall(r"closing connection: ([^\n]*)",
                             krxd.log_text()))
    by_client = {"client closed",
                 "client error: Connection reset by peer"}
    assert reasons <= by_client, reasons


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def cached_round(krxd, topic, tag, n=200):
    """Produce n records with a producer already connected (one record
    first) and read the topic back through krxd: (p99 delivery latency,
    total seconds, every value produced)."""
    p = idem_producer(krxd.bootstrap)
    first = marked(tag + "-first", 1)
    Sender(p, topic, first).start().join()
    vals = marked(tag, n)
    t0 = time.monotonic()
    s = Sender(p, topic, vals).start().join()
    got = read_values(krxd, topic)
    total = time.monotonic() - t0
    assert got[-n:] == vals
    return p99(s.latency), total, first + vals


def test_slow_kms_does_not_slow_cached_topics(kafka, krxd_factory,
                                              tmp_path, topic_name):
    v = start_double(tmp_path)
    cached, slow = topic_name + "-c", topic_name + "-s"
    try:
        for t in (cached, slow):
            v.create_key(f"KEK-{t}")
        tools.create_topics(kafka.bootstrap, {cached: 1, slow: 1})
        k = krxd_for(krxd_factory, tmp_path, v, workers=1)
        warm = marked("warm", 10)
        keytest.produce(k.bootstrap, cached, warm)
        assert read_values(k, cached) == warm
        base_p99, base_total, base_vals = cached_round(k, cached, "base")

        v.set_delay(5.0)
        v.reset_stats()
        t_slow = time.monotonic()
        s_slow = Sender(idem_producer(k.bootstrap), slow,
                        marked("slow", 20)).start()
        krxtest.wait_for(lambda: v.calls("keys_read") >= 1, 30,
                         "the slow topic's resolve reaching Vault",
                         interval=0.05)
        slow_p99, slow_total, slow_vals = cached_round(k, cached, "busy")
        still_waiting = s_slow.t.is_alive() and not s_slow.acked
        s_slow.join()
        slow_wait = time.monotonic() - t_slow
        print(f"cached topic: p99 {base_p99 * 1000:.0f} ms, total "
              f"{base_total:.2f} s without delay; p99 "
              f"{slow_p99 * 1000:.0f} ms, total {slow_total:.2f} s while "
              f"the new topic waited {slow_wait:.1f} s on a 5 s KMS")
        assert still_waiting, "the new topic did not wait on the KMS " \
            "during the whole cached round"
        assert slow_wait >= 10, "resolve + generate at 5 s each"
        assert slow_total < 5.0, "the cached topic waited for the KMS"
        assert slow_p99 < max(1.0, 4 * base_p99), (slow_p99, base_p99)
        assert slow_total < base_total + 3.0, (slow_total, base_total)
        v.set_delay(0)
        check_at_broker(kafka, v, cached, warm + base_vals + slow_vals)
        assert sorted(read_order(kafka, v, slow)) == \
            sorted(marked("slow", 20))
        assert_only_clients_closed(k)
        k.assert_running()
    finally:
        v.stop()
