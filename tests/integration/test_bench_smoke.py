"""The benchmark harness (bench/run.sh, make bench) in its --smoke mode:
a few thousand records direct, through krxd pass-through, through krxd
encrypting with LocalKms and with AwsKmsService on moto, against the
suite's broker; it must exit 0 and write a table with a row of figures
for each of (a), (b), (c) and (e), their one-at-a-time produce round
trips, and (e)'s ratio to (c)."""

import os
import re
import subprocess

import krxtest

RUN_SH = os.path.join(krxtest.TOP, "bench", "run.sh")

ROWS = ("(a) direct", "(b) krxd pass-through", "(c) krxd encrypt+decrypt",
        "(e) krxd encrypt+decrypt, AwsKmsService")


def test_bench_smoke(kafka, tmp_path):
    env = dict(krxtest._sanitizer_env())
    env.setdefault("KRXD", krxtest.KRXD)
    env.setdefault("KRXCTL", krxtest.KRXCTL)
    r = subprocess.run(
        [RUN_SH, "--smoke", "--broker", kafka.bootstrap,
         "--out-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=240, env=env, cwd=krxtest.TOP)
    assert r.returncode == 0, \
        f"bench/run.sh --smoke exited {r.returncode}\n" \
        f"stderr:\n{r.stderr[-4000:]}\nstdout:\n{r.stdout[-4000:]}"
    md = (tmp_path / "smoke.md").read_text()
    assert md.strip() in r.stdout
    table = md.split("## Throughput and latency", 1)[1].split("\n## ", 1)[0]
    for name in ROWS:
        row = [ln for ln in table.splitlines()
               if ln.startswith(f"| {name} |")]
        assert len(row) == 1, f"no row for {name} in:\n{table}"
        cells = [c.strip() for c in row[0].strip("|").split("|")]
        # producer rec/s, MiB/s, and consumer MiB/s are positive numbers
        for i in (1, 2, 6):
            assert re.fullmatch(r"[0-9.]+", cells[i]) and \
                float(cells[i]) > 0, f"{name}: bad cell {i} in {row[0]}"
    # the one-at-a-time round trips (bench/rtt.py) have a p99 in µs
    rtt = md.split("## Produce round trip", 1)[1].split("\n## ", 1)[0]
    for name in ROWS:
        row = [ln for ln in rtt.splitlines() if ln.startswith(f"| {name} |")]
        assert len(row) == 1, f"no round-trip row for {name} in:\n{rtt}"
        p99 = row[0].strip("|").split("|")[4].strip()
        assert re.fullmatch(r"[0-9]+", p99) and int(p99) > 0, row[0]
    cmp = md.split("## Compared with direct", 1)[1]
    assert "(c) krxd encrypt+decrypt" in cmp
    # (e) on moto against (c) on LocalKms, within the round
    assert re.search(r"AwsKmsService \(e\) vs LocalKms \(c\), within each "
                     r"round: produce [0-9]+%, consume [0-9]+%", cmp), cmp
    assert re.search(r"\| krxd .*\| 100/100 \|", md), md
