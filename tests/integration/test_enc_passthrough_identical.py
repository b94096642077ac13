"""Unencrypted records are fetched through an encrypting krxd unchanged.

A topic without a KEK holds batches in every codec (produced directly to
the broker and, in clear by PASSTHROUGH_UNENCRYPTED, through krxd), a
transaction's control batch, and a record whose header merely resembles
the encryption header (another key). A raw Fetch v11 client asks krxd
(record encryption on) and the broker the same questions:
- the whole Fetch response body through krxd is byte-identical to the
  broker's, with large and with tiny partition limits (a truncated
  batch at the end);
- in one Fetch that also asks for an encrypted topic, the clear
  partition's records are still byte-identical, while the encrypted
  partition comes back decrypted (valid CRCs, plaintext values, the
  encryption header gone).
"""

from confluent_kafka import Producer

import enctest
import krxtest
import tools

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def produce(bootstrap, topic, codec, tag, n=60, **conf):
    c = {"bootstrap.servers": bootstrap, "compression.type": codec,
         "linger.ms": 20, "log_level": 3}
    c.update(conf)
    p = Producer(c)
    for i in range(n):
        p.produce(topic, partition=0, key=f"{tag}-{i}".encode(),
                  value=f"{tag} value {i} ".encode() * (1 + i % 7),
                  headers=[("tag", tag.encode()),
                           ("kroxylicious.io/encryptionX", b"\x02")])
    assert p.flush(30) == 0
    return p


def test_enc_passthrough_identical(kafka, krxd_factory, topic_name, enc_kms):
    krxd = enctest.enc_krxd(krxd_factory, kms=enc_kms)
    clear, enc = f"{topic_name}-clear", f"{topic_name}-enc"
    tools.create_topics(kafka.bootstrap, {clear: 1, enc: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    for c in CODECS:
        produce(kafka.bootstrap, clear, c, f"direct-{c}")
        produce(krxd.bootstrap, clear, c, f"krxd-{c}")
    tx = Producer({"bootstrap.servers": kafka.bootstrap, "log_level": 3,
                   "transactional.id": f"tx-{topic_name}"})
    tx.init_transactions(30)
    tx.begin_transaction()
    tx.produce(clear, partition=0, key=b"tx", value=b"in a transaction")
    tx.commit_transaction(30)
    produce(krxd.bootstrap, enc, "none", "enc", n=30)

    direct = enctest.KafkaConn(kafka.host, kafka.port)
    via = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        # The commit marker is written after commit_transaction returns:
        # wait for it, so that both sides see the same log.
        end = 10 * 60 + 2           # the records and the commit marker
        krxtest.wait_for(lambda: direct.fetch({clear: {0: 0}}, part_max=1)
                         [1][(clear, 0)]["lso"] == end, 30,
                         f"{clear}'s commit marker")
        hw = None
        for part_max in (10_000_000, 3000, 700):
            off = 0
            while True:
                q = {clear: {0: off}}
                d_raw, d = direct.fetch(q, part_max=part_max)
                v_raw, v = via.fetch(q, part_max=part_max)
                assert v_raw == d_raw, \
                    f"Fetch of {clear}@{off} (limit {part_max}) differs " \
                    f"through krxd"
                hw = d[(clear, 0)]["hw"]
                bs = enctest.decode_batches(d[(clear, 0)]["records"] or b"")
                if not bs:
                    break
                off = bs[-1]["base_offset"] + bs[-1]["last_offset_delta"] + 1
                if off >= hw:
                    break
        assert hw == end

        q = {clear: {0: 0}, enc: {0: 0}}
        _, d = direct.fetch(q)
        _, v = via.fetch(q)
        assert v[(clear, 0)] == d[(clear, 0)], \
            "clear partition changed when fetched with an encrypted one"
        assert v[(enc, 0)]["records"] != d[(enc, 0)]["records"]
        recs = [r for b in enctest.decode_batches(v[(enc, 0)]["records"])
                for r in b["records"]]
        assert [(r["key"], r["value"], r["headers"]) for r in recs] == \
            [(f"enc-{i}".encode(), f"enc value {i} ".encode() * (1 + i % 7),
              [("tag", b"enc"), ("kroxylicious.io/encryptionX", b"\x02")])
             for i in range(30)]
        # and the broker holds them encrypted
        raw = [r for b in enctest.decode_batches(d[(enc, 0)]["records"])
               for r in b["records"]]
        assert all(r["headers"][0] == (enctest.ENC_HEADER, b"\x02")
                   for r in raw) and len(raw) == 30
    finally:
        direct.close()
        via.close()
