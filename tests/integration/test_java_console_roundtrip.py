"""Kafka's Java console producer and consumer through krxd.

10,000 keyed records with headers over 3 topics x 3 partitions are produced
with org.apache.kafka.tools.ConsoleProducer through krxd, read back through
krxd with ConsoleConsumer, and compared per partition with the broker's own
answer to a direct read: same offsets, timestamps, headers, keys and values,
byte for byte, complete and in produce order. The Java clients' connection
log shows that they dialled only krxd's addresses (metadata rewritten).
"""

import subprocess
import random

import krxtest
import tools

N = 10000
TOPICS = 3
PARTITIONS = 3
READER = {"parse.key": "true", "parse.headers": "true",
          "null.marker": "<null>"}


def make_lines(n, ntopics, seed=1):
    """Per topic, the input lines 'h1:v1,h2:v2<TAB>key<TAB>value'; the seq
    header numbers each record within its topic."""
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 .:;-_/äöüßéλ€"
    per_topic = [[] for _ in range(ntopics)]
    for i in range(n):
        t = i % ntopics
        seq = len(per_topic[t])
        key = f"key-{rnd.randrange(40):02d}"
        if i % 97 == 0:
            key = "<null>"  # a null key: the producer spreads these
        val = "".join(rnd.choice(alphabet)
                      for _ in range(rnd.randrange(0, 200)))
        hdrs = f"seq:{seq},src:java-console,n:{rnd.randrange(10**6)}"
        per_topic[t].append(f"{hdrs}\t{key}\tv{seq}|{val}")
    return per_topic


def produce_all(bootstrap, topics, per_topic):
    procs = []
    for t, lines in zip(topics, per_topic):
        data = "".join(ln + "\n" for ln in lines).encode()
        cmd = tools.java_tool_cmd(
            tools.CONSOLE_PRODUCER,
            ["--bootstrap-server", bootstrap, "--topic", t,
             "--request-timeout-ms", "30000", "--max-block-ms", "60000",
             "--property", "parse.key=true", "--property",
             "parse.headers=true", "--property", "null.marker=<null>",
             "--producer-property", "acks=all",
             "--producer-property", "linger.ms=20"],
            trace_connections=True)
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append((p, data))
    errs = []
    for p, data in procs:
        out, err = p.communicate(data, timeout=240)
        assert p.returncode == 0, \
            f"ConsoleProducer failed: {err.decode(errors='replace')[-3000:]}"
        errs.append(err)
    return errs


def consume_all(bootstrap, topics, counts):
    procs = []
    for t, n in zip(topics, counts):
        args = ["--bootstrap-server", bootstrap, "--topic", t,
                "--from-beginning", "--max-messages", str(n),
                "--timeout-ms", "60000"]
        for k, v in tools.DUMP_FORMAT.items():
            args += ["--property", f"{k}={v}"]
        cmd = tools.java_tool_cmd(tools.CONSOLE_CONSUMER, args,
                                  trace_connections=True)
        procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    out = []
    for p, t in zip(procs, topics):
        o, e = p.communicate(timeout=240)
        assert p.returncode == 0, \
            f"ConsoleConsumer on {t} failed: {e.decode(errors='replace')}"
        out.append(([ln for ln in o.split(b"\n") if ln], e))
    return out


def test_java_console_roundtrip(kafka, krxd, topic_name):
    topics = [f"{topic_name}-{i}" for i in range(TOPICS)]
    tools.create_topics(kafka.bootstrap, {t: PARTITIONS for t in topics})
    per_topic = make_lines(N, TOPICS)

    # Produce through krxd; the producers must only have dialled krxd.
    for err in produce_all(krxd.bootstrap, topics, per_topic):
        dialled = tools.dialled_addresses(err)
        krxtest.assert_only_krxd_addresses(
            krxd, {a for _, a in dialled}, kafka, "ConsoleProducer")
        assert (1, krxd.node_address(1)) in dialled, dialled

    counts = [len(x) for x in per_topic]
    via_krxd = consume_all(krxd.bootstrap, topics, counts)
    direct = consume_all(kafka.bootstrap, topics, counts)

    total = 0
    for t, sent, (plines, perr), (dlines, _) in zip(topics, per_topic,
                                                     via_krxd, direct):
        dialled = tools.dialled_addresses(perr)
        krxtest.assert_only_krxd_addresses(
            krxd, {a for _, a in dialled}, kafka, "ConsoleConsumer")
        assert len(plines) == len(sent), \
            f"{t}: {len(plines)} records through krxd, {len(sent)} sent"
        prox = krxtest.console_records(plines)
        dirc = krxtest.console_records(dlines)
        assert sorted(dirc) == list(range(PARTITIONS)), \
            f"{t}: direct read saw partitions {sorted(dirc)}"
        assert sorted(prox) == sorted(dirc)

        sent_by_seq = {}
        for ln in sent:
            hdrs, key, val = ln.split("\t")
            sent_by_seq[int(hdrs.split(",")[0].split(":")[1])] = \
                (hdrs.encode(), key.encode(), val.encode())
        seen = set()
        for p in range(PARTITIONS):
            # byte-identical to the broker's own answer, line by line
            assert [r[5] for r in prox[p]] == [r[5] for r in dirc[p]], \
                f"{t}[{p}] differs between krxd and the broker"
            offs = [r[0] for r in prox[p]]
            assert offs == list(range(len(offs))), f"{t}[{p}] offsets"
            seqs = []
            for off, ts, hdrs, key, val, _ in prox[p]:
                seq = int(hdrs.split(b",")[0].split(b":")[1])
                assert (hdrs, key, val) == sent_by_seq[seq], \
                    f"{t}[{p}]@{off} is not what was produced"
                assert ts > 0
                seqs.append(seq)
            assert seqs == sorted(seqs), f"{t}[{p}] out of produce order"
            seen.update(seqs)
        assert seen == set(sent_by_seq), f"{t}: records missing"
        total += len(seen)
    assert total == N
    krxd.assert_served(kafka)
