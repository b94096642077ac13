#!/usr/bin/env python3
"""Capture raw Kafka request and response frames from a real broker.

Usage: capture.py HOST:PORT [OUTDIR]

Sends hand-encoded requests at chosen versions to a broker (a fresh
single-node KRaft broker: it creates the topic krx-test, produces to it,
joins a consumer and a share group) and writes, for each exchange,
OUTDIR/<api>_v<N>_req.bin and OUTDIR/<api>_v<N>_resp.bin: the frames as
sent and received, without their 4-byte size prefix. See README.
Python 3 standard library only.
"""

import base64
import os
import socket
import struct
import sys
import time
import zlib  # noqa: F401 (crc32c is computed below; zlib has only crc32)

TOPIC = "krx-test"
GROUP = "krx-group"
SHARE_GROUP = "krx-share"
CLIENT = "krx-capture"


# Primitives ---------------------------------------------------------------

def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def uvarint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def string(s, flex):
    if s is None:
        return uvarint(0) if flex else i16(-1)
    b = s.encode()
    return (uvarint(len(b) + 1) if flex else i16(len(b))) + b


def blob(b, flex):
    if b is None:
        return uvarint(0) if flex else i32(-1)
    return (uvarint(len(b) + 1) if flex else i32(len(b))) + b


def array(items, flex):
    if items is None:
        return uvarint(0) if flex else i32(-1)
    head = uvarint(len(items) + 1) if flex else i32(len(items))
    return head + b"".join(items)


def tags(flex):
    return b"\x00" if flex else b""


# CRC-32C (Castagnoli), for record batches ---------------------------------

def _crc_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record_batch(values):
    recs = b""
    for i, v in enumerate(values):
        body = (i8(0) + varint(0) + varint(i) + varint(-1) +
                varint(len(v)) + v + varint(0))
        recs += varint(len(body)) + body
    ts = 1700000000000
    after_crc = (i16(0) + i32(len(values) - 1) + i64(ts) + i64(ts) +
                 i64(-1) + i16(-1) + i32(-1) + i32(len(values)) + recs)
    head = i32(-1) + i8(2) + struct.pack(">I", crc32c(after_crc))
    body = head + after_crc
    return i64(0) + i32(len(body)) + body


# Connection ---------------------------------------------------------------

class Conn:
    def __init__(self, host, port, outdir):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.outdir = outdir
        self.corr = 1

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("broker closed the connection")
            buf += chunk
        return buf

    def call(self, api, ver, body, req_flex, name=None):
        corr = self.corr
        self.corr += 1
        hdr = i16(api) + i16(ver) + i32(corr) + string(CLIENT, False)
        if req_flex:
            hdr += b"\x00"
        req = hdr + body
        self.sock.sendall(i32(len(req)) + req)
        (size,) = struct.unpack(">i", self.recv_exact(4))
        resp = self.recv_exact(size)
        (rcorr,) = struct.unpack(">i", resp[:4])
        if rcorr != corr:
            raise RuntimeError("correlation id mismatch")
        if name is not None:
            for kind, data in (("req", req), ("resp", resp)):
                path = os.path.join(self.outdir,
                                    "%s_v%d_%s.bin" % (name, ver, kind))
                with open(path, "wb") as f:
                    f.write(data)
        return resp


def body_of(resp, flex):
    """Skip a response header: correlation id and, if flexible, tags."""
    if not flex:
        return resp[4:]
    assert resp[4] == 0, "response header tags not expected"
    return resp[5:]


# Requests -----------------------------------------------------------------

def api_versions(c, ver):
    flex = ver >= 3
    body = b""
    if flex:
        body = string(CLIENT, True) + string("0.1", True) + tags(True)
    return c.call(18, ver, body, flex, "apiversions")


def create_topic(c):
    topic = (string(TOPIC, True) + i32(2) + i16(1) + array([], True) +
             array([], True) + tags(True))
    body = array([topic], True) + i32(30000) + i8(0) + tags(True)
    c.call(19, 7, body, True)


def metadata(c, ver, name="metadata", topics=None):
    flex = ver >= 9
    if ver == 0:
        tl = array([], False)  # v0: empty means every topic
    else:
        tl = array(topics, flex)
    body = tl
    if ver >= 4:
        body += i8(0)
    if 8 <= ver <= 10:
        body += i8(0)
    if ver >= 8:
        body += i8(0)
    body += tags(flex)
    return c.call(3, ver, body, flex, name)


def topic_id(c):
    """Topic id of krx-test from a Metadata v12 response."""
    resp = metadata(c, 12, None, [b"\x00" * 16 + string(TOPIC, True) +
                                 tags(True)])
    b = body_of(resp, True)
    off = 4
    nb = b[off] - 1
    off += 1
    for _ in range(nb):
        off += 4
        hl = b[off] - 1
        off += 1 + hl + 4
        rl = b[off]
        off += 1 + max(rl - 1, 0) + 1
    cl = b[off]
    off += 1 + max(cl - 1, 0) + 4
    off += 1  # topics count
    err = struct.unpack(">h", b[off:off + 2])[0]
    off += 2
    nl = b[off] - 1
    off += 1 + nl
    return err, b[off:off + 16]


def produce(c, ver, tid, partition=0, name="produce"):
    flex = ver >= 9
    batch = record_batch([b"hello from krx %d" % ver, b"second"])
    part = i32(partition) + blob(batch, flex) + tags(flex)
    topic = (tid if ver >= 13 else string(TOPIC, flex))
    topic += array([part], flex) + tags(flex)
    body = (string(None, flex) + i16(-1) + i32(30000) +
            array([topic], flex) + tags(flex))
    return c.call(0, ver, body, flex, name)


def fetch(c, ver, tid, name="fetch"):
    flex = ver >= 12
    part = i32(0)
    if ver >= 9:
        part += i32(-1)
    part += i64(0)
    if ver >= 12:
        part += i32(-1)
    if ver >= 5:
        part += i64(-1)
    part += i32(1048576) + tags(flex)
    topic = (tid if ver >= 13 else string(TOPIC, flex))
    topic += array([part], flex) + tags(flex)
    body = b""
    if ver < 15:
        body += i32(-1)
    body += i32(100) + i32(1) + i32(52428800) + i8(0)
    if ver >= 7:
        body += i32(0) + i32(-1)
    body += array([topic], flex)
    if ver >= 7:
        body += array([], flex)
    if ver >= 11:
        body += string("", flex)
    body += tags(flex)
    return c.call(1, ver, body, flex, name)


def find_coordinator(c, ver, keys, key_type=0, name="findcoordinator"):
    flex = ver >= 3
    if ver >= 4:
        body = i8(key_type) + array([string(k, True) for k in keys], True)
    else:
        body = string(keys[0], flex)
        if ver >= 1:
            body += i8(key_type)
    body += tags(flex)
    for _ in range(60):
        resp = c.call(10, ver, body, flex, name)
        b = body_of(resp, flex)
        if ver >= 4:
            # throttle, count, key, node id, host, port, error
            off = 4 + 1
            kl = b[off] - 1
            off += 1 + kl + 4
            hl = b[off] - 1
            off += 1 + hl + 4
            err = struct.unpack(">h", b[off:off + 2])[0]
        else:
            off = 4 if ver >= 1 else 0
            err = struct.unpack(">h", b[off:off + 2])[0]
        if err == 0:
            return resp
        time.sleep(0.5)
    raise RuntimeError("no coordinator")


def describe_cluster(c, ver):
    body = i8(0)
    if ver >= 1:
        body += i8(1)
    if ver >= 2:
        body += i8(1)
    body += tags(True)
    return c.call(60, ver, body, True, "describecluster")


def share_heartbeat(c, member, epoch):
    body = (string(SHARE_GROUP, True) + string(member, True) + i32(epoch) +
            string(None, True) + array([string(TOPIC, True)], True) +
            tags(True))
    b = body_of(c.call(76, 1, body, True), True)
    err = struct.unpack(">h", b[4:6])[0]
    off = 6
    ml = b[off] - 1
    off += 1 + max(ml, 0)
    ml = b[off] - 1
    off += 1 + max(ml, 0)
    (new_epoch,) = struct.unpack(">i", b[off:off + 4])
    return err, new_epoch, b[off + 8] == 1


def share_fetch(c, ver, member, epoch, tid, acks):
    batches = [i64(a) + i64(a) + array([i8(1)], True) + tags(True)
               for a in acks]
    part = i32(0) + array(batches, True) + tags(True)
    topic = tid + array([part], True) + tags(True)
    body = (string(SHARE_GROUP, True) + string(member, True) + i32(epoch) +
            i32(500) + i32(1) + i32(1048576) + i32(500) + i32(500))
    if ver >= 2:
        body += i8(0) + i8(0)
    body += array([topic], True) + array([], True) + tags(True)
    return c.call(78, ver, body, True, "sharefetch")


def share_ack(c, ver, member, epoch, tid, offset):
    batch = i64(offset) + i64(offset) + array([i8(1)], True) + tags(True)
    part = i32(0) + array([batch], True) + tags(True)
    topic = tid + array([part], True) + tags(True)
    body = (string(SHARE_GROUP, True) + string(member, True) + i32(epoch))
    if ver >= 2:
        body += i8(0)
    body += array([topic], True) + tags(True)
    return c.call(79, ver, body, True, "shareacknowledge")


def share_capture(c, tid):
    """Join a share group, fetch once and acknowledge one record."""
    member = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    epoch = 0
    for _ in range(40):
        err, epoch, assigned = share_heartbeat(c, member, epoch)
        if err != 0:
            print("share heartbeat error %d" % err, file=sys.stderr)
            return
        if assigned:
            break
        time.sleep(0.5)
    # Produce after joining: share groups start at the latest offset.
    produce(c, 11, tid, name=None)
    share_fetch(c, 1, member, 0, tid, [])
    share_ack(c, 1, member, 1, tid, 0)


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1].rsplit(":", 1)
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(
        os.path.abspath(__file__))
    c = Conn(host, int(port), outdir)
    for v in range(5):
        api_versions(c, v)
    create_topic(c)
    for _ in range(60):
        err, tid = topic_id(c)
        if err == 0:
            break
        time.sleep(0.5)
    for v in (0, 1, 4, 9, 12, 13):
        metadata(c, v)
    for v in (3, 9, 11, 13):
        produce(c, v, tid)
    # An error answer: a partition that does not exist.
    produce(c, 12, tid, partition=99, name="produce_err")
    for v in (4, 11, 12, 13, 16, 17, 18):
        fetch(c, v, tid)
    for v in range(4):
        find_coordinator(c, v, [GROUP])
    for v in (4, 6):
        find_coordinator(c, v, [GROUP, GROUP + "-2"])
    # Transaction coordinator for an unused id: maybe node -1 at first.
    c.call(10, 6, i8(1) + array([string("krx-txn", True)], True) +
           tags(True), True, "findcoordinator_txn")
    for v in range(3):
        describe_cluster(c, v)
    share_capture(c, tid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
