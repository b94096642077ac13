"""Shared pieces of the batch splitting tests (test_split_*.py).

Encryption makes every record larger (a 7-byte value becomes a wrapper
of some 150 bytes carrying the EDEK, IV and tag, plus the
kroxylicious.io/encryption header), so a producer's batch can outgrow
the broker's limit (topic max.message.bytes, else the broker's
message.max.bytes). krxd learns each topic's limit and splits an
encrypted batch that would exceed it into pieces sent as consecutive
Produce requests, continuing the producer's sequence numbers. These
helpers are written independently of krx's C code:

- split_krxd(): an encrypting krxd (enctest.enc_krxd) with an optional
  record_encryption.splitCompression setting.
- split_counters(): krx-ctl cache stats' workers.batches_split and
  workers.split_pieces, which must exist.
- producer(), Deliveries, produce(): a confluent-kafka producer that
  does not outlive its test, delivery reports, producing per partition.
- stored_batches(), check_stored(): what the broker holds, read
  directly (raw Fetch, and confluent-kafka for compressed batches).
- FaultRelay: a TCP relay in front of a broker that parses Kafka
  request and response frames and breaks one connection at a chosen
  Produce request.
"""

import contextlib
import os
import socket
import struct
import subprocess
import threading

import enctest
import keytest
import krxtest

BATCHES_SPLIT = "workers.batches_split"
SPLIT_PIECES = "workers.split_pieces"

# The broker's default message.max.bytes
BROKER_MESSAGE_MAX_BYTES = 1048588
# The codec numbers in a RecordBatch's attributes
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# -- krxd ------------------------------------------------------------------

def split_krxd(factory, split_compression=None, **opts):
    """A krxd like enctest.enc_krxd's, with record_encryption's
    splitCompression set to split_compression (None: not set, krxd's
    default zstd). The returned Krxd has .keystore."""
    tmp = str(factory.tmp_path)
    keystore = os.path.join(tmp, "keks")
    extra, vc = enctest.enc_config(keystore, os.path.join(tmp, "dekcache"))
    if split_compression is not None:
        assert split_compression in CODECS, split_compression
        anchor = '      kms = "LocalKms";\n'
        assert anchor in vc, vc
        vc = vc.replace(anchor, anchor + '      splitCompression = '
                        f'"{split_compression}";\n', 1)
    k = factory.make(start=False, extra=opts.pop("extra", "") + extra,
                     vc_extra=opts.pop("vc_extra", "") + vc, **opts)
    k.keystore = keystore
    if split_compression is not None:
        # Fail at once, with krxd's word, on a config it refuses.
        r = subprocess.run([krxtest.KRXD, "-t", "-c", k.write_config()],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30,
                           env=k.env)
        assert r.returncode == 0, \
            f"krxd -t refuses the config with splitCompression = " \
            f"\"{split_compression}\" ({r.returncode}): {r.stdout}"
    k.start()
    return k


def split_counters(krxd):
    """(workers.batches_split, workers.split_pieces) from krx-ctl cache
    stats; fails if krxd does not report them."""
    st = keytest.cache_stats(krxd)
    missing = [k for k in (BATCHES_SPLIT, SPLIT_PIECES) if k not in st]
    assert not missing, (f"krx-ctl cache stats has no {missing} (krxd "
                         f"does not split batches?): {st}")
    return st[BATCHES_SPLIT], st[SPLIT_PIECES]


def assert_split(krxd, what=""):
    """krxd split at least one client batch into two or more pieces;
    returns the counters."""
    split, pieces = split_counters(krxd)
    assert split > 0, f"{what}: {BATCHES_SPLIT} is 0, no batch was split"
    assert pieces >= 2 * split, \
        f"{what}: {split} batches split into only {pieces} pieces"
    return split, pieces


# -- producing -------------------------------------------------------------

@contextlib.contextmanager
def producer(conf):
    """A confluent-kafka Producer that is closed on leaving the block,
    with whatever it still holds purged (so that after a failure it
    does not go on retrying against a krxd that is gone)."""
    from confluent_kafka import Producer
    p = Producer(conf)
    try:
        yield p
    finally:
        try:
            p.purge()
            p.poll(0)
        finally:
            p.close()


class Deliveries:
    """Delivery reports of a confluent-kafka producer: errors, and per
    partition the delivered (offset, key, value)."""

    def __init__(self):
        self.errors = []
        self.ok = {}

    def __call__(self, err, msg):
        if err is not None:
            self.errors.append((err, msg.partition(), msg.key()))
        else:
            self.ok.setdefault(msg.partition(), []).append(
                (msg.offset(), msg.key(), msg.value()))

    def count(self):
        return sum(len(v) for v in self.ok.values())

    def error_summary(self, n=5):
        codes = {}
        for err, _, _ in self.errors:
            codes[err.name()] = codes.get(err.name(), 0) + 1
        return f"{len(self.errors)} delivery errors {codes}, first " \
            f"{[str(e) for e, _, _ in self.errors[:n]]}"

    def assert_clean(self, want):
        """No delivery error; every record of want ({partition:
        [(key, value)]}) delivered, in order, at offsets 0, 1, ..."""
        assert not self.errors, self.error_summary()
        for q, recs in want.items():
            got = sorted(self.ok.get(q, []))
            assert [o for o, _, _ in got] == list(range(len(recs))), \
                f"partition {q}: delivered offsets are not 0..{len(recs)-1}"
            assert [(k, v) for _, k, v in got] == recs, \
                f"partition {q}: delivered records differ from those sent"


def produce(producer, topic, want, dr, interleave=True):
    """Produce want ({partition: [(key, value)]}) with delivery report
    dr; interleaved across partitions (record i of every partition, then
    i + 1, ...) or one partition after another."""
    parts = sorted(want)
    if interleave:
        order = [(q, r) for i in range(max(len(want[q]) for q in parts))
                 for q in parts if i < len(want[q]) for r in [want[q][i]]]
    else:
        order = [(q, r) for q in parts for r in want[q]]
    for n, (q, (k, v)) in enumerate(order):
        while True:
            try:
                producer.produce(topic, key=k, value=v, partition=q,
                                 on_delivery=dr)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 1000 == 999:
            producer.poll(0)


# -- what the broker holds -------------------------------------------------

def stored_batches(kafka_host, kafka_port, topic, partitions):
    """{partition: [enctest.decode_batches dict]} read from the broker
    directly with raw Fetch v11 (records None for lz4, snappy, zstd)."""
    conn = enctest.KafkaConn(kafka_host, kafka_port)
    try:
        return {q: enctest.fetch_all(conn, topic, q, timeout=60)
                for q in partitions}
    finally:
        conn.close()


def check_stored(kafka_bootstrap, topic, want, keystore, decrypt_every=1,
                 isolation="read_uncommitted", direct=None):
    """The broker holds exactly the records of want ({partition:
    [(key, value)]}), in order, each encrypted: the encryption header
    first, no other header, the value a wrapper, not in clear; every
    decrypt_every-th one (and the last of each partition) is decrypted
    by the test's own code to its value. Returns the direct read."""
    if direct is None:
        direct = enctest.read_topics(kafka_bootstrap, [topic],
                                     isolation=isolation, timeout=120,
                                     conf={"fetch.message.max.bytes":
                                           10_000_000})[topic]
    dec = enctest.Decryptor(keystore)
    for q, recs in want.items():
        got = direct[q]
        assert len(got) == len(recs), \
            f"{topic}[{q}]: {len(got)} records at the broker, " \
            f"{len(recs)} produced"
        for i, (rec, (k, v)) in enumerate(zip(got, recs)):
            if i % decrypt_every == 0 or i == len(recs) - 1:
                dec.check(rec, k, v, None, what=f"{topic}[{q}]")
                continue
            _, _, off, rk, rv, rh, _, _ = rec
            assert rk == k, f"{topic}[{q}]@{off}: key {rk!r} != {k!r}"
            assert rh == ((enctest.ENC_HEADER, b"\x02"),), \
                f"{topic}[{q}]@{off}: headers {rh!r} (not encrypted?)"
            assert rv is not None and rv != v, \
                f"{topic}[{q}]@{off}: value in clear at the broker"
            enctest.parse_wrapper(rv)
    return direct


def check_via_krxd(bootstrap, topic, want, isolation="read_uncommitted",
                   dense=True, what="via krxd"):
    """Reading through krxd gives every record of want, once, in order
    and decrypted, without headers; at offsets 0, 1, ... if dense (no
    transaction markers or aborted records in between), else at
    increasing offsets."""
    got = enctest.read_topics(bootstrap, [topic], isolation=isolation,
                              timeout=120)[topic]
    for q, recs in want.items():
        rs = got[q]
        assert len(rs) == len(recs), \
            f"{what} [{q}]: {len(rs)} records read, {len(recs)} expected"
        offs = [r[2] for r in rs]
        if dense:
            assert offs == list(range(len(recs))), \
                f"{what} [{q}]: offsets not 0..{len(recs) - 1}"
        else:
            assert all(a < b for a, b in zip(offs, offs[1:])), \
                f"{what} [{q}]: offsets not increasing"
        for i, (r, (k, v)) in enumerate(zip(rs, recs)):
            assert (r[3], r[4]) == (k, v), \
                f"{what} [{q}] record {i} @{r[2]}: {(r[3], r[4])!r} " \
                f"!= {(k, v)!r}"
            assert not r[5], f"{what} [{q}]@{r[2]}: headers {r[5]!r}"
    return got


def check_sequences(batches, transactional=False, what=""):
    """The data batches of one partition (decode_batches dicts, in
    offset order) come from one producer id; within each epoch their
    sequence numbers start at 0 and run on without gap or overlap (a
    split batch's pieces continue the client's numbering)."""
    data = [b for b in batches if not b["attributes"] & 0x20]
    assert data, f"{what}: no data batches"
    pids = {b["producer_id"] for b in data}
    assert len(pids) == 1 and min(pids) >= 0, \
        f"{what}: producer ids {sorted(pids)}"
    nxt = {}
    for b in data:
        assert bool(b["attributes"] & 0x10) == transactional, \
            f"{what}@{b['base_offset']}: transactional flag " \
            f"{bool(b['attributes'] & 0x10)}"
        assert b["count"] == b["last_offset_delta"] + 1
        e = b["producer_epoch"]
        want = nxt.get(e, 0)
        assert b["base_sequence"] == want, \
            f"{what}@{b['base_offset']}: base sequence " \
            f"{b['base_sequence']}, expected {want} (epoch {e})"
        nxt[e] = want + b["count"]
    return nxt


# -- a fault-injecting relay -----------------------------------------------

class _Pair:
    def __init__(self, n, client, broker):
        self.n = n
        self.client = client
        self.broker = broker
        self.produce = 0            # Produce requests seen
        self.target_corr = None     # drop-after: the response to swallow
        self.closed = False


class FaultRelay:
    """A TCP relay on 127.0.0.1 to a broker. It forwards Kafka frames
    both ways, reading request headers (size, api key, version,
    correlation id) from the client side and counting Produce requests
    (api key 0) per connection. arm(mode, at=2) makes it act once, on
    the first connection that carries an at-th Produce request (the
    second by default):

    - "drop-before": close both sides without forwarding that request;
    - "drop-after": forward it (and nothing after it), wait for the
      broker's response to it, and close both sides without passing it
      on.

    .acted holds what it did."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.target = None
        self.lock = threading.Lock()
        self.mode = None
        self.at = 2
        self.acted = None
        self.pairs = []
        self.stopping = False
        self.thread = None

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def start(self, target):
        """Accept and relay to target: (host, port), or a function
        returning that, asked at each connection (so the relay can
        listen before the broker behind it has chosen its port)."""
        self.target = target
        self.thread = threading.Thread(target=self._accept, daemon=True,
                                       name="relay-accept")
        self.thread.start()
        return self

    def arm(self, mode, at=2):
        """Act once as mode says on the at-th Produce request (counted
        from 1) of the first connection that carries that many."""
        assert mode in ("drop-before", "drop-after")
        assert at >= 1, at
        with self.lock:
            self.mode = mode
            self.at = at
            self.acted = None

    def disarm(self):
        with self.lock:
            self.mode = None

    def produce_counts(self):
        with self.lock:
            return [p.produce for p in self.pairs]

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            self._close(p)
        if self.thread is not None:
            self.thread.join(10)

    # -- internals -----------------------------------------------------------
    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            target = self.target() if callable(self.target) \
                else self.target
            try:
                b = socket.create_connection(target, timeout=10)
            except OSError:
                c.close()
                continue
            for s in (c, b):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                p = _Pair(len(self.pairs), c, b)
                self.pairs.append(p)
            threading.Thread(target=self._requests, args=(p,), daemon=True,
                             name=f"relay-req-{p.n}").start()
            threading.Thread(target=self._responses, args=(p,),
                             daemon=True, name=f"relay-resp-{p.n}").start()

    def _close(self, p):
        with self.lock:
            if p.closed:
                return
            p.closed = True
        for s in (p.client, p.broker):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    @staticmethod
    def _frames(sock, buf):
        """Read from sock into buf; yield each complete frame (with its
        size prefix). Ends on EOF or error."""
        while True:
            while len(buf) >= 4:
                (n,) = struct.unpack_from(">i", buf)
                if n < 0 or len(buf) < 4 + n:
                    break
                frame = bytes(buf[:4 + n])
                del buf[:4 + n]
                yield frame
            try:
                b = sock.recv(1 << 20)
            except OSError:
                return
            if not b:
                return
            buf += b

    def _requests(self, p):
        """Client (krxd) to broker."""
        for frame in self._frames(p.client, bytearray()):
            api_key, api_version, corr = struct.unpack_from(">hhi", frame, 4)
            act = None
            with self.lock:
                if api_key == 0:
                    p.produce += 1
                    if p.produce == self.at and self.mode and \
                            self.acted is None:
                        act = self.mode
                        self.acted = {"mode": act, "connection": p.n,
                                      "produce_request": p.produce,
                                      "correlation_id": corr,
                                      "api_version": api_version,
                                      "request_bytes": len(frame),
                                      "response_swallowed": False}
                        self.mode = None
                        if act == "drop-after":
                            p.target_corr = corr
            if act == "drop-before":
                self._close(p)
                return
            try:
                p.broker.sendall(frame)
            except OSError:
                break
            if act == "drop-after":
                # Nothing more reaches the broker on this connection; the
                # response reader closes both sides.
                return
        self._close(p)

    def _responses(self, p):
        """Broker to client (krxd)."""
        for frame in self._frames(p.broker, bytearray()):
            (corr,) = struct.unpack_from(">i", frame, 4)
            if p.target_corr is not None and corr == p.target_corr:
                with self.lock:
                    self.acted["response_swallowed"] = True
                self._close(p)
                return
            try:
                p.client.sendall(frame)
            except OSError:
                break
        self._close(p)

