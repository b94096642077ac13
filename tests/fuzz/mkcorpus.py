#!/usr/bin/env python3
"""Build the seed corpus of fuzz_kafka from the frames in tests/data.

Usage: mkcorpus.py [DATADIR] [OUTDIR]  (defaults: tests/data,
tests/fuzz/corpus/kafka). Each seed starts with the selector bytes that
fuzz_kafka.c documents; see tests/fuzz/README.
"""

import os
import re
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


if __name__ == "__main__":
    main()
