"""Shared pieces of the record encryption integration tests
(test_enc_*.py), written from the format documents, independently of
krx's C code:

- enc_krxd(): a krxd with record_encryption (LocalKms keystore and DEK
  cache in the test's tmp dir) and kek() to drive krx-ctl kek.
- Keystore: reads the LocalKms keystore file ("krx-keystore 1", then
  "kek <name> <version> <base64 key> <created>" lines).
- Decryptor: parses a wrapper v2 value (0x00 | uvarint EDEK length |
  EDEK | 0x00 | 12-byte IV | AES-256-GCM(parcel) + tag), unwraps the
  LocalKms EDEK (0x01 | uvarint name length | name | u32 BE version |
  IV | AES-GCM(KEK, DEK) + tag, AAD "krx-localkms-1" + the EDEK bytes
  before the ciphertext) with the KEK from the keystore, and opens the
  parcel v1 (zigzag value length | value | 0x03).
- A tiny raw Kafka client (Produce v7, Fetch v4/v11, ApiVersions v0) with a
  RecordBatch v2 encoder/decoder and CRC-32C, for tests that must see or
  send exact bytes.
- read_topics(): read many topics to their end with confluent-kafka.
"""

import base64
import gzip
import os
import socket
import struct
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import krxtest  # noqa: F401  (puts tests/kafka on sys.path)
import tools  # noqa: E402

ENC_HEADER = "kroxylicious.io/encryption"
ENC_HEADER_B = ENC_HEADER.encode()
LOCALKMS_AAD = b"krx-localkms-1"

# Kafka error codes used by the tests
INVALID_RECORD = 87
RESOURCE_NOT_FOUND = 91
NETWORK_EXCEPTION = 13
KAFKA_STORAGE_ERROR = 56


# -- krxd with record encryption -------------------------------------------

def enc_config(keystore, cache, policy="PASSTHROUGH_UNENCRYPTED",
               experimental=None, template="KEK-$(topicName)", kms=None):
    """(extra, vc_extra) config text for a krxd with record encryption:
    LocalKms with keystore, or the kmsback backend kms."""
    exp = ""
    if experimental:
        exp = "      experimental = { " + " ".join(
            f"{k} = {v};" for k, v in experimental.items()) + " };\n"
    extra = f'cache = {{ path = "{cache}"; }};\n'
    kms_text = kms.kms_text() if kms is not None else (
        '      kms = "LocalKms";\n'
        f'      kmsConfig = {{ keystore = "{keystore}"; }};\n')
    vc = ("    record_encryption = {\n" + kms_text +
          '      selector = "TemplateKekSelector";\n'
          f'      selectorConfig = {{ template = "{template}"; }};\n'
          f'      unresolvedKeyPolicy = "{policy}";\n'
          f"{exp}"
          "    };\n")
    return extra, vc


def enc_krxd(factory, policy="PASSTHROUGH_UNENCRYPTED", experimental=None,
             keystore=None, cache=None, kms=None, **opts):
    """Start a krxd with record encryption. The keystore and DEK cache
    default to files in the test's tmp dir shared by every krxd the
    factory makes (so a second krxd is a restart with the same keys).
    kms: a kmsback backend (the enc_kms fixture); default LocalKms with
    that keystore. The returned Krxd has .keystore and .kms."""
    tmp = str(factory.tmp_path)
    if kms is not None and kms.name == "LocalKms":
        keystore = kms.keystore
    keystore = keystore or os.path.join(tmp, "keks")
    cache = cache or os.path.join(tmp, "dekcache")
    extra, vc = enc_config(keystore, cache, policy, experimental,
                           kms=None if kms is None or kms.name == "LocalKms"
                           else kms)
    k = factory.make(start=False, extra=opts.pop("extra", "") + extra,
                     vc_extra=opts.pop("vc_extra", "") + vc, **opts)
    k.keystore = keystore
    k.kms = kms
    k.start()
    return k


def kek(krxd, op, name):
    """krx-ctl kek create|rotate|delete NAME; returns its output. With
    another KMS than LocalKms behind krxd, only create, in that KMS."""
    kms = getattr(krxd, "kms", None)
    if kms is not None and kms.name != "LocalKms":
        assert op == "create", f"kek {op} with {kms.name}"
        return kms.create(krxd, name)
    r = krxd.ctl("kek", op, name)
    return r.stdout


def decryptor(krxd):
    """The test's own decryptor of the records krxd wrote."""
    kms = getattr(krxd, "kms", None)
    return kms.decryptor() if kms is not None else Decryptor(krxd.keystore)


def keysvc_pid(krxd):
    for c in krxd.status()["children"]:
        if c["kind"] == "keysvc":
            return c["pid"]
    raise AssertionError(f"no keysvc in krx-ctl status: {krxd.status()}")


# -- varints ---------------------------------------------------------------

def uvarint(buf, pos):
    """Unsigned LEB128 at buf[pos:] -> (value, new pos)."""
    v = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def zigzag(buf, pos):
    u, pos = uvarint(buf, pos)
    return (u >> 1) ^ -(u & 1), pos


def put_uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put_zigzag(v):
    return put_uvarint((v << 1) ^ (v >> 63))


# -- keystore, EDEK, wrapper, parcel ----------------------------------------

def read_keystore(path):
    """{(name, version): 32-byte KEK} from a LocalKms keystore file."""
    with open(path, "rb") as f:
        text = f.read().decode("ascii")
    lines = text.split("\n")
    assert lines[0] == "krx-keystore 1", f"keystore header {lines[0]!r}"
    assert lines[-1] == "", "keystore does not end with a newline"
    out = {}
    for ln in lines[1:-1]:
        f = ln.split(" ")
        assert len(f) == 5 and f[0] == "kek", f"keystore line {ln!r}"
        key = base64.b64decode(f[3], validate=True)
        assert len(key) == 32
        out[(f[1], int(f[2]))] = key
    return out


def parse_edek(edek):
    """A LocalKms EDEK -> dict(name, version, iv, ct, aad)."""
    assert edek[0] == 0x01, f"EDEK format byte {edek[0]}"
    n, pos = uvarint(edek, 1)
    assert 1 <= n <= 200
    name = edek[pos:pos + n].decode("ascii")
    pos += n
    (version,) = struct.unpack_from(">I", edek, pos)
    pos += 4
    iv = edek[pos:pos + 12]
    pos += 12
    ct = edek[pos:]
    assert len(ct) == 48, f"EDEK ciphertext+tag is {len(ct)} bytes"
    return {"name": name, "version": version, "iv": iv, "ct": ct,
            "aad": LOCALKMS_AAD + edek[:pos]}


def parse_wrapper(value):
    """A wrapper v2 value -> dict(edek, iv, ct)."""
    assert value is not None and len(value) > 0
    assert value[0] == 0x00, f"cipher id {value[0]} (want 0, AES-256-GCM)"
    n, pos = uvarint(value, 1)
    edek = bytes(value[pos:pos + n])
    assert len(edek) == n
    pos += n
    assert value[pos] == 0x00, f"aad id {value[pos]} (want 0)"
    pos += 1
    iv = bytes(value[pos:pos + 12])
    pos += 12
    ct = bytes(value[pos:])
    assert len(iv) == 12 and len(ct) >= 16 + 2
    return {"edek": edek, "iv": iv, "ct": ct}


def parse_parcel(parcel):
    """Parcel v1 as krx writes it (value, headers ABSENT) -> value."""
    n, pos = zigzag(parcel, 0)
    assert n >= 0, f"parcel value length {n}"
    value = parcel[pos:pos + n]
    assert len(value) == n
    assert parcel[pos + n:] == b"\x03", \
        f"parcel tail {parcel[pos + n:]!r} (want 03: headers absent)"
    return bytes(value)


class Decryptor:
    """Decrypts values with the keys in a LocalKms keystore file."""

    def __init__(self, keystore_path):
        self.path = keystore_path
        self.keks = read_keystore(keystore_path)
        self.deks = {}

    def reload(self):
        self.keks.update(read_keystore(self.path))

    def unwrap(self, edek):
        """edek -> (DEK, KEK name, KEK version)."""
        e = parse_edek(edek)
        d = self.deks.get(edek)
        if d is None:
            key = (e["name"], e["version"])
            if key not in self.keks:
                self.reload()
            kek = self.keks[key]
            d = AESGCM(kek).decrypt(e["iv"], e["ct"], e["aad"])
            assert len(d) == 32
            self.deks[edek] = d
        return d, e["name"], e["version"]

    def dek(self, edek):
        return self.unwrap(edek)[0]

    def open(self, value):
        """value (a wrapper) -> (plaintext value, wrapper dict + kek
        name/version)."""
        w = parse_wrapper(value)
        dek, w["name"], w["version"] = self.unwrap(w["edek"])
        parcel = AESGCM(dek).decrypt(w["iv"], w["ct"], None)
        return parse_parcel(parcel), w

    def check(self, rec, key, value, headers, ts=None, what=""):
        """rec (a tools.record_tuple read directly from the broker) is
        the encrypted form of (key, value, headers[, ts]); returns the
        wrapper dict."""
        _, _, off, rkey, rval, rhdrs, _, rts = rec
        assert rkey == key, f"{what}@{off}: key {rkey!r} != {key!r}"
        if ts is not None:
            assert rts == ts, f"{what}@{off}: timestamp {rts} != {ts}"
        assert rhdrs, f"{what}@{off}: no headers at the broker (clear?)"
        assert rhdrs[0] == (ENC_HEADER, b"\x02"), \
            f"{what}@{off}: first header {rhdrs[0]!r}"
        assert tuple(rhdrs[1:]) == tuple(headers or ()), \
            f"{what}@{off}: headers {rhdrs[1:]!r} != {headers!r}"
        assert rval != value or value is None, \
            f"{what}@{off}: value in clear at the broker"
        plain, w = self.open(rval)
        assert plain == value, \
            f"{what}@{off}: decrypts to {plain[:60]!r}, sent {value[:60]!r}"
        return w


def assert_clear(rec, key, value, headers, what=""):
    """rec read at the broker is exactly the unencrypted record."""
    _, _, off, rkey, rval, rhdrs, _, _ = rec
    assert (rkey, rval) == (key, value), f"{what}@{off}: not in clear"
    assert tuple(rhdrs or ()) == tuple(headers or ()), \
        f"{what}@{off}: headers {rhdrs!r}"


# -- reading with confluent-kafka -------------------------------------------

def read_topics(bootstrap, topics, isolation="read_uncommitted", timeout=90,
                conf=None, partitions=None, on_error=None):
    """Every record of every partition of topics, from offset 0 to the
    high watermark (LSO for read_committed), without a group:
    {topic: {partition: [tools.record_tuple]}}. partitions: {topic: n}
    (default: from metadata). on_error(err) may return True to go on;
    otherwise a consumer error fails."""
    from confluent_kafka import (Consumer, KafkaError, OFFSET_BEGINNING,
                                 TopicPartition)
    c = {"bootstrap.servers": bootstrap, "group.id": "krx-enc-reader",
         "enable.auto.commit": False, "isolation.level": isolation,
         "check.crcs": True, "log_level": 3, "enable.partition.eof": True,
         "fetch.message.max.bytes": 2_000_000}
    c.update(conf or {})
    cons = Consumer(c)
    try:
        if partitions is None:
            md = cons.list_topics(timeout=20)
            partitions = {t: len(md.topics[t].partitions) for t in topics}
        tps = [(t, p) for t in topics for p in range(partitions[t])]
        ends = {}
        for t, p in tps:
            lo, hi = cons.get_watermark_offsets(TopicPartition(t, p),
                                                timeout=30)
            ends[(t, p)] = hi
        out = {t: {p: [] for p in range(partitions[t])} for t in topics}
        cons.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in tps])
        done = {tp for tp in tps if ends[tp] == 0}
        pos = {tp: 0 for tp in tps}
        deadline = time.monotonic() + timeout
        while len(done) < len(tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topics} through {bootstrap}: "
                                   f"positions {pos}, ends {ends}")
            m = cons.poll(0.5)
            if m is None:
                continue
            tp = (m.topic(), m.partition())
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[tp]:
                        done.add(tp)
                    continue
                if on_error is not None and on_error(m.error()):
                    continue
                raise AssertionError(f"consumer error via {bootstrap}: "
                                     f"{m.error()}")
            out[tp[0]][tp[1]].append(tools.record_tuple(m))
            pos[tp] = m.offset() + 1
            if pos[tp] >= ends[tp]:
                done.add(tp)
        return out
    finally:
        cons.close()


# -- CRC-32C and RecordBatch v2 --------------------------------------------


def consume_until_error(bootstrap, topic, partition=0, timeout=30,
                        log_level=0):
    """A confluent-kafka consumer assigned to topic-partition from the
    beginning, polled until it reports an error or timeout seconds pass;
    returns (errors, messages delivered before)."""
    from confluent_kafka import Consumer, OFFSET_BEGINNING, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g",
                  "enable.auto.commit": False, "log_level": log_level})
    errors, got = [], []
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not errors:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
            else:
                got.append(m)
    finally:
        c.close()
    return errors, got


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = _CRC_T
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def encode_record(offset_delta, key, value, headers=(), ts_delta=0):
    body = bytearray(b"\x00")                   # attributes
    body += put_zigzag(ts_delta) + put_zigzag(offset_delta)
    for b in (key, value):
        if b is None:
            body += put_zigzag(-1)
        else:
            body += put_zigzag(len(b)) + b
    body += put_zigzag(len(headers))
    for hk, hv in headers:
        hk = hk.encode() if isinstance(hk, str) else hk
        body += put_zigzag(len(hk)) + hk
        body += put_zigzag(-1) if hv is None else put_zigzag(len(hv)) + hv
    return put_zigzag(len(body)) + bytes(body)


def encode_batch(records, base_ts=None, codec=0):
    """records: [(key, value, headers)] -> one uncompressed (or gzip,
    codec 1) magic-2 batch at base offset 0, no producer id."""
    ts = base_ts if base_ts is not None else int(time.time() * 1000)
    recs = b"".join(encode_record(i, k, v, h or ())
                    for i, (k, v, h) in enumerate(records))
    if codec == 1:
        recs = gzip.compress(recs)
    elif codec != 0:
        raise ValueError("only none and gzip here")
    after_crc = struct.pack(">hiqqqhii", codec, len(records) - 1, ts, ts,
                            -1, -1, -1, len(records)) + recs
    crc = crc32c(after_crc)
    tail = struct.pack(">ibI", -1, 2, crc) + after_crc   # epoch, magic, crc
    return struct.pack(">qi", 0, len(tail)) + tail


def decode_batches(records):
    """Records bytes (possibly ending in a partial batch, which is
    dropped) -> [batch dict with 'records': [dict]]. CRCs are checked.
    Only codecs none and gzip can be decoded; others give records None."""
    out = []
    pos = 0
    while pos + 12 <= len(records):
        base, blen = struct.unpack_from(">qi", records, pos)
        if pos + 12 + blen > len(records):
            break
        b = records[pos:pos + 12 + blen]
        pos += 12 + blen
        (epoch, magic, crc) = struct.unpack_from(">ibI", b, 12)
        assert magic == 2, f"magic {magic}"
        assert crc32c(b[21:]) == crc, f"batch at {base}: bad CRC"
        (attrs, lod, bts, mts, pid, pep, bseq, cnt) = struct.unpack_from(
            ">hiqqqhii", b, 21)
        batch = {"base_offset": base, "attributes": attrs,
                 "last_offset_delta": lod, "base_ts": bts, "max_ts": mts,
                 "producer_id": pid, "producer_epoch": pep,
                 "base_sequence": bseq, "count": cnt, "raw": bytes(b),
                 "records": None}
        area = b[61:]
        codec = attrs & 7
        if codec == 1:
            area = gzip.decompress(area)
        elif codec != 0:
            out.append(batch)
            continue
        recs = []
        p = 0
        for _ in range(cnt):
            ln, p = zigzag(area, p)
            end = p + ln
            p += 1                                  # attributes
            tsd, p = zigzag(area, p)
            od, p = zigzag(area, p)
            fields = []
            for _f in range(2):
                n, p = zigzag(area, p)
                if n < 0:
                    fields.append(None)
                else:
                    fields.append(bytes(area[p:p + n]))
                    p += n
            nh, p = zigzag(area, p)
            hdrs = []
            for _h in range(nh):
                n, p = zigzag(area, p)
                hk = bytes(area[p:p + n]).decode()
                p += n
                n, p = zigzag(area, p)
                if n < 0:
                    hdrs.append((hk, None))
                else:
                    hdrs.append((hk, bytes(area[p:p + n])))
                    p += n
            assert p == end, "record length mismatch"
            recs.append({"offset": base + od, "ts": bts + tsd,
                         "key": fields[0], "value": fields[1],
                         "headers": hdrs})
        assert p == len(area), "trailing bytes in records area"
        batch["records"] = recs
        out.append(batch)
    return out


# -- raw Kafka client -------------------------------------------------------

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, buf):
        self.b = buf
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)
        self.p += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.b[self.p:self.p + n].decode()
        self.p += n
        return s

    def bytes_(self):
        n = self.take(">i")
        if n < 0:
            return None
        s = self.b[self.p:self.p + n]
        self.p += n
        return bytes(s)


class KafkaConn:
    """One TCP connection speaking non-flexible Kafka requests."""

    def __init__(self, host, port, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.corr = 0

    def close(self):
        self.sock.close()

    def _recv(self, n):
        out = bytearray()
        while len(out) < n:
            b = self.sock.recv(n - len(out))
            if not b:
                raise ConnectionError("connection closed by peer")
            out += b
        return bytes(out)

    def request(self, api_key, version, body, expect_response=True):
        """Send; return the response body (after the correlation id)."""
        self.corr += 1
        hdr = struct.pack(">hhi", api_key, version, self.corr) + \
            _str("krx-enc-test")
        msg = hdr + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        if not expect_response:
            return None
        (n,) = struct.unpack(">i", self._recv(4))
        resp = self._recv(n)
        (corr,) = struct.unpack_from(">i", resp)
        assert corr == self.corr, f"correlation id {corr} != {self.corr}"
        return resp[4:]

    def api_versions(self):
        r = Reader(self.request(18, 0, b""))
        err = r.take(">h")
        n = r.take(">i")
        return err, {r.take(">h"): (r.take(">h"), r.take(">h"))
                     for _ in range(n)}

    def produce(self, topic_parts, acks=-1, timeout_ms=30000):
        """Produce v7. topic_parts: {topic: {partition: records bytes}}.
        Returns {(topic, partition): (error, base_offset)}."""
        body = struct.pack(">hhii", -1, acks, timeout_ms, len(topic_parts))
        for t, parts in topic_parts.items():
            body += _str(t) + struct.pack(">i", len(parts))
            for p, recs in parts.items():
                body += struct.pack(">ii", p, len(recs)) + recs
        r = Reader(self.request(0, 7, body))
        out = {}
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, err, base, _lat, _lso = r.take(">ihqqq")
                out[(t, p)] = (err, base)
        return out

    def fetch(self, topic_parts, max_wait_ms=100, min_bytes=1,
              max_bytes=50_000_000, part_max=10_000_000, version=11,
              isolation=0):
        """Fetch v4 or v11 (v10+ is needed for zstd). topic_parts:
        {topic: {partition: offset}}. Returns (response body bytes,
        {(topic, partition): dict(error, hw, lso, records)})."""
        assert version in (4, 11)
        body = struct.pack(">iiiib", -1, max_wait_ms, min_bytes, max_bytes,
                           isolation)
        if version >= 7:
            body += struct.pack(">ii", 0, -1)       # no fetch session
        body += struct.pack(">i", len(topic_parts))
        for t, parts in topic_parts.items():
            body += _str(t) + struct.pack(">i", len(parts))
            for p, off in parts.items():
                if version >= 9:
                    body += struct.pack(">iiqqi", p, -1, off, -1, part_max)
                else:
                    body += struct.pack(">iqi", p, off, part_max)
        if version >= 7:
            body += struct.pack(">i", 0)            # forgotten topics
        if version >= 11:
            body += _str("")                        # rack id
        raw = self.request(1, version, body)
        r = Reader(raw)
        r.take(">i")                                # throttle
        if version >= 7:
            err, _sess = r.take(">hi")
            assert err == 0, f"Fetch top-level error {err}"
        out = {}
        for _ in range(r.take(">i")):
            t = r.string()
            for _ in range(r.take(">i")):
                p, err, hw, lso = r.take(">ihqq")
                if version >= 5:
                    r.take(">q")                    # log start offset
                na = r.take(">i")
                for _a in range(max(na, 0)):
                    r.take(">qq")
                if version >= 11:
                    r.take(">i")                    # preferred replica
                out[(t, p)] = {"error": err, "hw": hw, "lso": lso,
                               "records": r.bytes_()}
        assert r.p == len(raw), "trailing bytes in Fetch response"
        return raw, out


def fetch_all(conn, topic, partition=0, until=None, timeout=30):
    """Every complete batch of topic-partition from offset 0 through the
    high watermark (or until), by repeated Fetch v11 on conn, as
    decode_batches() dicts."""
    batches = []
    off = 0
    deadline = time.monotonic() + timeout
    while True:
        _, res = conn.fetch({topic: {partition: off}})
        r = res[(topic, partition)]
        assert r["error"] == 0, f"fetch {topic}-{partition}@{off}: " \
            f"error {r['error']}"
        end = until if until is not None else r["hw"]
        if off >= end:
            return batches
        bs = decode_batches(r["records"] or b"")
        for b in bs:
            if b["base_offset"] + b["last_offset_delta"] < off:
                continue
            batches.append(b)
            off = b["base_offset"] + b["last_offset_delta"] + 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"fetch_all {topic}-{partition} at {off}")
