"""Compressed batches under different DEKs, fetched in one response.

Regression (found while hardening, issue 9): the fetch filter remembered
the EDEK of the last record it decrypted by pointer, and a compressed
batch's records live in a decompression scratch that the next batch
overwrites in place. When two consecutive gzip batches of the same
layout were encrypted under different DEKs, the second batch's EDEK sat
at the same address, compared equal, and was decrypted with the first
DEK: "a value does not authenticate", error 2 for the partition, and the
consumer stuck (seen with librdkafka producers on two workers).

Here maxEncryptionsPerDek = 3 and every Produce carries one gzip batch of
three records of one shape, so each batch gets a DEK of its own. One
Fetch through krxd must return every value decrypted.
"""

import enctest
import tools

BATCHES = 6


def test_enc_fetch_dek_switch(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1,
                            experimental={"maxEncryptionsPerDek": 3})
    tools.create_topics(kafka.bootstrap, {topic_name: 1})
    enctest.kek(krxd, "create", f"KEK-{topic_name}")

    conn = enctest.KafkaConn(krxd.host, krxd.node_port(1))
    try:
        want = []
        for b in range(BATCHES):
            recs = [(b"k", f"value-{b}-{i}".encode(), ()) for i in range(3)]
            want += [v for _, v, _ in recs]
            res = conn.produce({topic_name: {0: enctest.encode_batch(
                recs, codec=1)}})
            assert res[(topic_name, 0)][0] == 0, res

        # At the broker: one EDEK per batch, all of one length.
        direct = enctest.read_topics(kafka.bootstrap, [topic_name])
        edeks = [enctest.parse_wrapper(r[4])["edek"]
                 for r in direct[topic_name][0]]
        assert len(set(edeks)) == BATCHES, "one DEK per batch expected"
        assert len({len(e) for e in edeks}) == 1

        _, res = conn.fetch({topic_name: {0: 0}})
        part = res[(topic_name, 0)]
        assert part["error"] == 0, f"partition error {part['error']}"
        got = [r["value"] for b in enctest.decode_batches(part["records"])
               for r in b["records"]]
        assert got == want
    finally:
        conn.close()
    assert "does not authenticate" not in krxd.log_text()
