"""maxEncryptionsPerDek: a DEK encrypts at most that many records.

With maxEncryptionsPerDek = 100 and one worker, three producers (three
connections sharing the KEK's DEK pool, so one DEK generation round can
leave some of them waiting for the next) send 10,000 records through
krxd at once, in batches of several hundred records (large linger.ms and
batch.size), so batches must be split across DEKs. Every record is
delivered. At the broker (raw Fetch): batches of more than 100 records
exist, there are at least 100 distinct EDEKs, no EDEK wraps more than 100
records, no (DEK, IV) pair repeats, some batch holds records under two
DEKs, and the test's own code decrypts every value to what was sent.
Through krxd all records come back decrypted, in order, none lost.
"""

import threading
from collections import Counter

from confluent_kafka import Producer

import enctest
import tools

N = 10_000
BUDGET = 100
PRODUCERS = 3


def test_enc_dek_budget(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=1,
                            experimental={"maxEncryptionsPerDek": BUDGET})
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: PRODUCERS})
    enctest.kek(krxd, "create", f"KEK-{topic}")

    sent = {q: [] for q in range(PRODUCERS)}
    errors = []

    def run(q):
        p = Producer({"bootstrap.servers": krxd.bootstrap, "linger.ms": 300,
                      "batch.num.messages": 5000, "batch.size": 4_000_000,
                      "enable.idempotence": True, "log_level": 3,
                      "message.timeout.ms": 60000})
        for i in range(N // PRODUCERS + (q < N % PRODUCERS)):
            k, v = f"k{i % 37}".encode(), f"p{q}-record-{i:05d}".encode()
            p.produce(topic, key=k, value=v, partition=q,
                      on_delivery=lambda e, m: e and errors.append(e))
            sent[q].append((k, v))
            if i % 1000 == 999:
                p.poll(0)
        if p.flush(90) != 0:
            errors.append(f"producer {q}: records left undelivered")

    threads = [threading.Thread(target=run, args=(q,))
               for q in range(PRODUCERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, f"delivery: {errors[:3]}"
    assert sum(len(s) for s in sent.values()) == N

    conn = enctest.KafkaConn(kafka.host, kafka.port)
    try:
        batches = {q: enctest.fetch_all(conn, topic, q)
                   for q in range(PRODUCERS)}
    finally:
        conn.close()
    dec = enctest.Decryptor(krxd.keystore)
    per_edek = Counter()
    ivs = set()
    split = 0
    for q in range(PRODUCERS):
        recs = [r for b in batches[q] for r in b["records"]]
        assert [r["offset"] for r in recs] == list(range(len(sent[q])))
        for r, (k, v) in zip(recs, sent[q]):
            assert r["key"] == k
            assert r["headers"] == [(enctest.ENC_HEADER, b"\x02")], \
                r["headers"]
            plain, w = dec.open(r["value"])
            assert plain == v, f"[{q}]@{r['offset']}: {plain!r} != {v!r}"
            per_edek[w["edek"]] += 1
            assert (w["edek"], w["iv"]) not in ivs, \
                f"[{q}]@{r['offset']}: IV reused under one DEK"
            ivs.add((w["edek"], w["iv"]))
        for b in batches[q]:
            eds = {enctest.parse_wrapper(r["value"])["edek"]
                   for r in b["records"]}
            split += len(eds) > 1
    counts = [b["count"] for q in batches for b in batches[q]]
    assert max(counts) > BUDGET, f"no batch over {BUDGET} records: {counts}"
    assert len(per_edek) >= N // BUDGET, \
        f"only {len(per_edek)} distinct EDEKs for {N} records"
    assert max(per_edek.values()) <= BUDGET, \
        f"a DEK encrypted {max(per_edek.values())} records"
    assert split > 0, "no batch holds records under more than one DEK"

    via = enctest.read_topics(krxd.bootstrap, [topic])[topic]
    for q in range(PRODUCERS):
        assert [r[2] for r in via[q]] == list(range(len(sent[q]))), \
            f"offsets via krxd, partition {q}"
        assert [(r[3], r[4], r[5]) for r in via[q]] == \
            [(k, v, None) for k, v in sent[q]], f"records via krxd [{q}]"
