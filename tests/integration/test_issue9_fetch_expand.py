"""Issue 9, finding 5: decrypted Fetch output stays about as big as the
broker's, and the worker's memory stays bounded.

1. Planted at the broker: BATCHES gzip batches, each one encrypted
   record (a real one, produced through krxd and copied from the broker)
   followed by ZEROS records of 1 MiB of zeros in clear: about 32 KiB
   on the wire for 32 MiB of records each. Before the fix krxd re-emitted
   every such batch uncompressed, holding all of them at once (256 MiB
   for one Fetch). Now a raw Fetch through krxd answers gzip batches
   (the batch's own codec) of about the broker's size, the values are
   right, and the peak RSS (VmHWM) of every worker stays under
   HWM_BOUND.
2. BATCHES more such batches: the 256 MiB of records a Fetch response
   may make krxd go through (at least) are spent after BATCHES batches,
   so a Fetch from offset 1 answers the first BATCHES batches (error 0)
   and the next Fetch the rest: fewer records per response, no
   partition stuck, memory still under the bound.
3. Through krxd with compression zstd: 20 records of 256 KiB of zeros,
   read back through krxd with confluent-kafka: the values are right
   (krxd's recompressed zstd batches decode in librdkafka).
"""

from confluent_kafka import Producer

import enctest
import krxtest
import tools

BATCHES = 8
ZEROS = 32                  # 1 MiB records per planted batch
MIB = 1 << 20
HWM_BOUND = 200 * MIB * krxtest.RSS_SLACK  # before the fix: over 300 MiB


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_issue9_fetch_expand(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory)
    topic, ztopic = f"{topic_name}-bomb", f"{topic_name}-zstd"
    tools.create_topics(kafka.bootstrap, {topic: 1, ztopic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    enctest.kek(krxd, "create", f"KEK-{ztopic}")
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3})
    p.produce(topic, key=b"e", value=b"the secret", partition=0)
    assert p.flush(30) == 0

    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    _, res = dconn.fetch({topic: {0: 0}})
    (enc,) = enctest.decode_batches(res[(topic, 0)]["records"])[0]["records"]
    assert enc["headers"][0][0] == enctest.ENC_HEADER
    zeros = bytes(MIB)
    recs = [(b"e", enc["value"], enc["headers"])] + \
        [(b"z", zeros, ())] * ZEROS
    batch = enctest.encode_batch(recs, codec=1)
    assert len(batch) < 64 * 1024, len(batch)
    for i in range(BATCHES):
        res = dconn.produce({topic: {0: batch}})
        assert res[(topic, 0)][0] == 0, res
    _, res = dconn.fetch({topic: {0: 1}})
    direct = len(res[(topic, 0)]["records"])
    dconn.close()

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        raw, res = conn.fetch({topic: {0: 1}}, max_bytes=50_000_000,
                              part_max=50_000_000)
    finally:
        conn.close()
    for pid in krxd.worker_pids():
        hwm = vm_hwm(pid)
        assert hwm < HWM_BOUND, f"worker {pid} VmHWM {hwm >> 20} MiB"
    r = res[(topic, 0)]
    assert r["error"] == 0, r
    # About the broker's size, not BATCHES * ZEROS MiB.
    assert len(raw) < 2 * direct + 65536, (len(raw), direct)
    batches = enctest.decode_batches(r["records"])
    assert len(batches) == BATCHES
    for b in batches:
        assert b["attributes"] & 7 == 1, "not gzip any more"
        vals = [rec["value"] for rec in b["records"]]
        assert vals[0] == b"the secret"
        assert vals[1:] == [zeros] * ZEROS

    # The budget: 2 * BATCHES planted, BATCHES per response.
    dconn = enctest.KafkaConn(kafka.host, kafka.port)
    for i in range(BATCHES):
        res = dconn.produce({topic: {0: batch}})
        assert res[(topic, 0)][0] == 0, res
    dconn.close()
    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        off, seen = 1, []
        for _ in range(2):
            _, res = conn.fetch({topic: {0: off}}, max_bytes=50_000_000,
                                part_max=50_000_000)
            r = res[(topic, 0)]
            assert r["error"] == 0, r
            bs = enctest.decode_batches(r["records"])
            assert len(bs) == BATCHES, [b["base_offset"] for b in bs]
            seen += [b["base_offset"] for b in bs]
            off = bs[-1]["base_offset"] + bs[-1]["last_offset_delta"] + 1
    finally:
        conn.close()
    assert seen == [1 + i * (ZEROS + 1) for i in range(2 * BATCHES)]
    for pid in krxd.worker_pids():
        hwm = vm_hwm(pid)
        assert hwm < HWM_BOUND, f"worker {pid} VmHWM {hwm >> 20} MiB"

    # zstd through krxd, back through krxd.
    p = Producer({"bootstrap.servers": krxd.bootstrap, "log_level": 3,
                  "compression.type": "zstd", "linger.ms": 50})
    zval = bytes(256 * 1024)
    for i in range(20):
        p.produce(ztopic, key=str(i).encode(), value=zval, partition=0)
    assert p.flush(30) == 0
    via = enctest.read_topics(krxd.bootstrap, [ztopic])[ztopic][0]
    assert [(r[3], r[4]) for r in via] == \
        [(str(i).encode(), zval) for i in range(20)]
    for pid in krxd.worker_pids():
        assert vm_hwm(pid) < HWM_BOUND
