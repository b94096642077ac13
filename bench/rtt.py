#!/usr/bin/env python3
"""Produce round trip, one record at a time, in microseconds.

ProducerPerformance reports whole milliseconds, too coarse for the
"added p99 <= 1 ms" target. This sends one record, waits for its
acks=all acknowledgement, and only then sends the next, so each sample
is one Produce request's round trip through whatever is at --bootstrap
(librdkafka with linger.ms=0; its own overhead is the same for every
scenario; --ca FILE: over TLS, trusting that CA). Prints one JSON
object: count, avg, p50, p90, p99, p999, max in microseconds.
"""
import argparse
import json
import os
import sys
import time

from confluent_kafka import Producer


def percentile(sorted_xs, q):
    i = min(len(sorted_xs) - 1, max(0, int(round(q * len(sorted_xs))) - 1))
    return sorted_xs[i]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--ca", default=None,
                    help="speak TLS, trusting this PEM CA file")
    opts = ap.parse_args(argv)

    conf = {"bootstrap.servers": opts.bootstrap, "acks": "all",
            "linger.ms": 0, "enable.idempotence": False,
            "compression.type": "none"}
    if opts.ca:
        conf.update({"security.protocol": "SSL",
                     "ssl.ca.location": opts.ca})
    p = Producer(conf)
    value = os.urandom(opts.size)
    failed = []

    def done(err, _msg):
        if err is not None:
            failed.append(str(err))

    samples = []
    for i in range(opts.warmup + opts.count):
        t0 = time.perf_counter_ns()
        p.produce(opts.topic, value=value, on_delivery=done)
        if p.flush(30) != 0:
            sys.exit("rtt: a record was not acknowledged within 30 s")
        t1 = time.perf_counter_ns()
        if failed:
            sys.exit(f"rtt: delivery failed: {failed[0]}")
        if i >= opts.warmup:
            samples.append((t1 - t0) / 1000.0)
    samples.sort()
    out = {"count": len(samples),
           "avg": sum(samples) / len(samples),
           "p50": percentile(samples, 0.50),
           "p90": percentile(samples, 0.90),
           "p99": percentile(samples, 0.99),
           "p999": percentile(samples, 0.999),
           "max": samples[-1]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
