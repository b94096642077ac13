"""Large Fetch responses of a pass-through virtual cluster are sent on
while they arrive (worker/stream.c), not stored whole first.

8 MiB of records are produced straight to the broker; one Fetch through
krxd asks for all of them at once. The response cannot fit in the
socket buffers in one go, so krxd must start sending it before its end
arrives: `krx-ctl cache stats` counts it in
workers.fetch_responses_streamed. The client gets the very bytes a direct
Fetch gets (same records, same sizes, the frame size sent first being
right); the next Fetch on the same connection (a small one) still works,
as does a second large one.
"""

import os
import re

import enctest
import tools

RECORDS = 8000
SIZE = 1024
PER_BATCH = 100


def streamed(krxd):
    """workers.fetch_responses_streamed; without record encryption
    `cache stats` prints the workers' counters alone."""
    out = krxd.ctl("cache", "stats").stdout
    assert not re.search(r"^keysvc\.", out, re.M), out
    m = re.search(r"^workers\.fetch_responses_streamed (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1))


def test_fetch_streamed(kafka, krxd_factory, topic_name):
    krxd = krxd_factory.make(workers=1)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    direct = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        for i in range(RECORDS // PER_BATCH):
            batch = [(b"k%d" % i, os.urandom(SIZE), None)
                     for _ in range(PER_BATCH)]
            res = direct.produce({topic: {0: enctest.encode_batch(batch)}})
            assert res[(topic, 0)][0] == 0, res
        want, wres = direct.fetch({topic: {0: 0}}, part_max=64 << 20)
    finally:
        direct.close()
    assert len(want) > RECORDS * SIZE
    assert streamed(krxd) == 0

    conn = enctest.KafkaConn(krxd.host, krxd.bootstrap_port)
    try:
        got, res = conn.fetch({topic: {0: 0}}, part_max=64 << 20)
        assert res[(topic, 0)]["records"] == wres[(topic, 0)]["records"]
        assert got == want
        assert streamed(krxd) >= 1
        # A small response after it, then a large one again.
        _, small = conn.fetch({topic: {0: RECORDS - 1}}, part_max=1)
        recs = [r for b in enctest.decode_batches(
                small[(topic, 0)]["records"]) for r in b["records"]]
        assert recs and recs[-1]["offset"] == RECORDS - 1
        got2, _ = conn.fetch({topic: {0: 0}}, part_max=64 << 20)
        assert got2 == want
    finally:
        conn.close()
