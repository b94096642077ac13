"""Fetch size limits count clear records, not their encrypted form.

An encrypted 1 KiB record is about 15% bigger at the broker, so a Fetch
asking for 200,000 bytes of a partition would bring the client 15% fewer
records through krxd than the same Fetch brings directly from a topic in
clear. krxd learns the ratio of fetched to clear bytes from the
responses it decrypts on a connection and raises the limits of that
connection's next Fetch requests by it: the second Fetch through krxd
returns more records than the first (which had no ratio to go by), and
their clear size is still within what the client asked for (plus the one
batch a broker may always add). Every record comes back decrypted.
"""

import os

import enctest
import tools

BATCHES = 60
PER_BATCH = 10
SIZE = 1024
PART_MAX = 200_000


def records_of(res, topic):
    r = res[(topic, 0)]
    assert r["error"] == 0, f"fetch error {r['error']}"
    return [rec for b in enctest.decode_batches(r["records"] or b"")
            for rec in b["records"]]


def test_enc_fetch_size(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    values = []
    conn = enctest.KafkaConn(krxd.host, krxd.bootstrap_port)
    try:
        for _ in range(BATCHES):
            batch = [(b"k", os.urandom(SIZE), None) for _ in range(PER_BATCH)]
            values += [v for _, v, _ in batch]
            res = conn.produce({topic: {0: enctest.encode_batch(batch)}})
            assert res[(topic, 0)][0] == 0, res
    finally:
        conn.close()

    conn = enctest.KafkaConn(krxd.host, krxd.bootstrap_port)
    try:
        first = records_of(conn.fetch({topic: {0: 0}},
                                      part_max=PART_MAX)[1], topic)
        second = records_of(conn.fetch({topic: {0: 0}},
                                       part_max=PART_MAX)[1], topic)
    finally:
        conn.close()

    for recs in (first, second):
        assert [r["offset"] for r in recs] == list(range(len(recs)))
        assert [r["value"] for r in recs] == values[:len(recs)]
        assert all(r["headers"] == [] for r in recs)
    # Without krxd's correction the second Fetch gets what the first got.
    assert len(second) >= len(first) + PER_BATCH, \
        f"first fetch {len(first)} records, second {len(second)}"
    clear = sum(len(r["value"]) + len(r["key"]) for r in second)
    assert clear <= PART_MAX + PER_BATCH * (SIZE + 1), \
        f"second fetch: {clear} clear bytes for a limit of {PART_MAX}"
