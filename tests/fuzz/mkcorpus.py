#!/usr/bin/env python3
"""Build seed corpora of the libFuzzer harnesses.

Usage: mkcorpus.py [DATADIR] [OUTDIR]  the seeds of fuzz_kafka from the
         frames in tests/data (defaults: tests/data,
         tests/fuzz/corpus/kafka)
       mkcorpus.py TARGET...           the seeds of fuzz_TARGET in
         tests/fuzz/corpus/TARGET, for conf, keystore, edek, keysvc,
         keyreply (or all of them: "keys")
Each seed starts with the selector bytes its harness documents; see
tests/fuzz/README. The EDEK seeds need python3-cryptography (AES-GCM).
"""

import base64
import os
import re
import struct
import sys

# api name in the file name -> (api key, first flexible version)
APIS = {
    "produce": (0, 9), "produce_err": (0, 9), "fetch": (1, 12),
    "metadata": (3, 9), "findcoordinator": (10, 3),
    "findcoordinator_txn": (10, 3), "apiversions": (18, 3),
    "describecluster": (60, 0), "sharefetch": (78, 0),
    "shareacknowledge": (79, 0),
}


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "tests/data"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fuzz/corpus/kafka"
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(data)):
        m = re.fullmatch(r"(.+)_v(\d+)_(req|resp)\.bin", name)
        if not m or m.group(1) not in APIS:
            continue
        api, ver, kind = m.group(1), int(m.group(2)), m.group(3)
        key, flex = APIS[api]
        with open(os.path.join(data, name), "rb") as f:
            frame = f.read()
        seeds = {}
        if kind == "req":
            seeds["hdr"] = b"\x00" + frame
        else:
            hlen = 5 if ver >= flex and key != 18 else 4
            body = frame[hlen:]
            if key == 18:
                seeds["clamp"] = b"\x01" + bytes([ver]) + body
            else:
                seeds["ep"] = b"\x02" + bytes([key, ver]) + body
            seeds["resp"] = b"\x03" + bytes([key, ver]) + frame
        for tag, seed in seeds.items():
            path = os.path.join(out, "%s_%s" % (tag, name[:-4]))
            with open(path, "wb") as f:
                f.write(seed)


# -- configuration loader (fuzz_conf) ---------------------------------

VC = ('virtual_clusters = ( { name = "a";\n'
      '  bootstrap = "127.0.0.1:9192";\n'
      '  upstream = { bootstrap = "localhost:9092, [::1]:9093"; };\n'
      '%s} );\n')
ENC = ('  record_encryption = {\n'
       '    kms = "LocalKms"; kmsConfig = { keystore = "/k"; };\n'
       '    selector = "TemplateKekSelector";\n'
       '    selectorConfig = { template = "KEK-$(topicName)"; };\n'
       '    unresolvedKeyPolicy = "%s";\n%s'
       '  };\n')
CONFS = {
    "minimal": VC % "",
    "tuned": ('workers = 3;\nlog = { level = "debug"; };\n'
              'max_frame_bytes = 2048;\n' +
              VC % ('  advertised_host = "proxy.example";\n'
                    '  node_start_port = 10000; max_node_id = 9;\n')),
    "integration": (
        "# krxd config written by tests/integration/conftest.py\n"
        "workers = 1;\n"
        'pid_file = "/tmp/t/krxd.pid";\n'
        'control_socket = "/tmp/t/control.sock";\n'
        "max_frame_bytes = 1048576;\n"
        'log = { level = "debug"; };\n'
        'cache = { path = "/tmp/t/dekcache"; };\n'
        "virtual_clusters = (\n"
        '  { name = "demo";\n'
        '    bootstrap = "127.0.0.1:19192";\n'
        '    advertised_host = "127.0.0.1";\n'
        "    node_start_port = 19193;\n"
        "    max_node_id = 2;\n"
        '    upstream = { bootstrap = "127.0.0.1:9092"; };\n' +
        ENC % ("PASSTHROUGH_UNENCRYPTED", "") + "  } );\n"),
    "enc_reject": VC % (ENC % (
        "REJECT", "    experimental = { maxEncryptionsPerDek = 100;\n"
        "      encryptionDekRefreshAfterWriteSeconds = 60;\n"
        "      encryptionDekExpireAfterWriteSeconds = 120; };\n")),
    "two_clusters": (
        'virtual_clusters = (\n'
        '{ name = "a"; bootstrap = "h:9192"; upstream = { bootstrap ='
        ' "b:1"; }; },\n'
        '{ name = "b"; bootstrap = "[::1]:9292"; max_node_id = 1023;\n'
        '  node_start_port = 10000; upstream = { bootstrap = "b:2"; }; }'
        ' );\n'),
    "bad_unknown": "workers = 2;\nbogus = 1;\n" + VC % "",
    "bad_syntax": "workers = ;\n",
    "bad_port": ('virtual_clusters = ( { name = "a"; bootstrap = '
                 '"h:70000";\nupstream = { bootstrap = "h:1"; }; } );'),
    "bad_template": VC % ENC.replace("KEK-$(topicName)", "$(topic)") % (
        "REJECT", ""),
    "bad_overlap": VC % '  node_start_port = 9190;\n',
}


def gen_conf(out):
    with open("conf/krxd.conf.example", "rb") as f:
        write(out, "example", f.read())
    for name, text in CONFS.items():
        write(out, name, text.encode())


# -- LocalKms keystore and EDEKs (fuzz_keystore, fuzz_edek) -------------

# The fixed keystore of fuzz_edek.c and fuzz_keysvc.c: name, version,
# key, created.
KEKS = [("KEK-a", 1, bytes(range(32)), 1700000000),
        ("KEK-a", 2, bytes(range(32, 64)), 1700000100),
        ("KEK-orders", 1, bytes([0x11] * 32), 1700000200)]


def keystore_text(keks):
    lines = ["krx-keystore 1\n"]
    for name, v, key, created in keks:
        lines.append("kek %s %d %s %d\n" % (
            name, v, base64.b64encode(key).decode(), created))
    return "".join(lines).encode()


def gen_keystore(out):
    write(out, "fixed", keystore_text(KEKS))
    write(out, "empty", b"krx-keystore 1\n")
    write(out, "long_names", keystore_text(
        [("n" * 200, 4294967295, bytes([7] * 32), 9223372036854775807),
         ("A.b_c-9", 3, bytes([8] * 32), 0), ("x", 1, bytes(32), 1)]))
    write(out, "bad_version", b"krx-keystore 2\n")
    write(out, "bad_crlf", keystore_text(KEKS).replace(b"\n", b"\r\n"))
    write(out, "bad_dup", keystore_text(KEKS + KEKS[:1]))
    write(out, "bad_noeol", keystore_text(KEKS)[:-1])


def uvarint(n):
    b = bytearray()
    while True:
        if n < 0x80:
            b.append(n)
            return bytes(b)
        b.append((n & 0x7f) | 0x80)
        n >>= 7


def edek(name, version, key, dek, iv, lenbytes=None):
    """A LocalKms EDEK (format 1, crypto/localkms.h) of dek under key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    hdr = (b"\x01" + (lenbytes or uvarint(len(name))) + name +
           struct.pack(">I", version) + iv)
    return hdr + AESGCM(key).encrypt(iv, dek, b"krx-localkms-1" + hdr)


def edeks():
    """(tag, EDEK) pairs: real ones under KEKS, then variants."""
    out = []
    for i, (name, v, key, _) in enumerate(KEKS):
        out.append(("%s_v%d" % (name, v), edek(
            name.encode(), v, key, bytes([0x40 + i] * 32),
            bytes([i] * 12))))
    key = KEKS[0][2]
    for n in (1, 127, 128, 200):
        out.append(("name%d" % n, edek(b"k" * n, 1, key, bytes(32),
                                       bytes(12))))
    out.append(("unknown_version", edek(b"KEK-a", 3, key, bytes(32),
                                        bytes(12))))
    out.append(("long_len", edek(b"KEK-a", 1, key, bytes(32), bytes(12),
                                 lenbytes=b"\x85\x00")))
    return out


def gen_edek(out):
    for tag, e in edeks():
        write(out, "edek_" + tag, b"\x00" + e)
    for name in (b"KEK-a", b"KEK-orders", b"KEK-b", b"bad name"):
        write(out, "kek_" + name.decode().replace(" ", "_"),
              b"\x01" + name)


# -- keysvc requests and the worker's replies (fuzz_keysvc, fuzz_keyreply)

RESOLVE, GENERATE, DECRYPT, STATS, REPLY = 50, 51, 52, 53, 54


def ipc(mtype, payload, mid=7, flags=0):
    """An IPC message (proto/ipc.h): header in host (little-endian) order."""
    return struct.pack("<IIIHH", mtype, 16 + len(payload), mid, flags,
                       1) + payload


def string(b):
    return struct.pack(">I", len(b)) + b


def gen_keysvc(out):
    for vc in range(4):
        for name in (b"KEK-a", b"KEK-orders", b"KEK-b"):
            tag = "%d_%s" % (vc, name.decode())
            write(out, "resolve_" + tag,
                  ipc(RESOLVE, struct.pack(">I", vc) + string(name)))
            write(out, "generate_" + tag,
                  ipc(GENERATE, struct.pack(">I", vc) + string(name)))
        batch = [e for _, e in edeks()]
        write(out, "decrypt_%d_all" % vc, ipc(DECRYPT, struct.pack(
            ">II", vc, len(batch)) + b"".join(string(e) for e in batch)))
        write(out, "decrypt_%d_one" % vc, ipc(DECRYPT, struct.pack(
            ">II", vc, 1) + string(batch[0])))
    write(out, "stats", ipc(STATS, b""))


def gen_keyreply(out):
    dek = string(bytes(range(32)))
    e = string(edeks()[0][1])
    replies = {  # kind (selector bits 0-1): payloads by name
        0: {"ok": b"\x00" + string(b"KEK-a"), "notfound": b"\x01" +
            string(b""), "unavailable": b"\x02" + string(b"")},
        1: {"ok": b"\x00" + e + dek, "notfound": b"\x01" + string(b"") +
            string(b""), "denied": b"\x03" + string(b"") + string(b"")},
        2: {"ok": struct.pack(">I", 1) + b"\x00" + dek,
            "invalid": struct.pack(">I", 1) + b"\x04" + string(b""),
            "two": struct.pack(">I", 2) + b"\x00" + dek + b"\x00" + dek},
    }
    for kind, by_name in replies.items():
        for name, payload in by_name.items():
            write(out, "%d_%s" % (kind, name), bytes([kind]) + payload)
            write(out, "raw%d_%s" % (kind, name), bytes([kind | 4]) +
                  ipc(REPLY, payload, mid=1))
    write(out, "3_ok", bytes([3]) + replies[2]["ok"])
    # raw: a reply to another id, then the one awaited
    write(out, "raw0_two", bytes([4]) + ipc(REPLY, replies[0]["ok"], 9) +
          ipc(REPLY, replies[0]["ok"], 1))
    write(out, "raw2_fd", bytes([6]) + ipc(REPLY, replies[2]["ok"], 1, 2))


def write(out, name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


GENERATORS = {"conf": gen_conf, "keystore": gen_keystore,
              "edek": gen_edek, "keysvc": gen_keysvc,
              "keyreply": gen_keyreply}


def gen_targets(targets):
    if "keys" in targets:
        targets = list(GENERATORS)
    for t in targets:
        out = os.path.join("tests/fuzz/corpus", t)
        os.makedirs(out, exist_ok=True)
        GENERATORS[t](out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and (sys.argv[1] in GENERATORS or
                              sys.argv[1] == "keys"):
        gen_targets(sys.argv[1:])
    else:
        main()
