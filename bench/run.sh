#!/bin/sh
# make bench: Kafka's perf tools against one broker on loopback, direct,
# through krxd (pass-through, then encrypting) and through Kroxylicious'
# RecordEncryption when its jars resolve, and with TLS on both sides
# (direct, HAProxy terminating TLS, krxd); then krxd's RSS with idle
# connections and the hot-path microbenchmark (bench/micro.c). Prints a
# markdown report and writes bench/results/latest.md plus a timestamped
# copy. Options: bench/run.sh --help (make bench BENCH_ARGS="...").
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
export BUILD
# KRXD and KRXCTL, when set (as by make integration), name the binaries.
if [ -z "${KRXD:-}" ] && { [ ! -x "$BUILD/krxd" ] || [ ! -x "$BUILD/krx-ctl" ]; }
then
	make -s BUILD="$BUILD" all
fi
sh tests/kafka/fetch.sh
# 1,000 idle client connections need about 2,000 descriptors in krxd
# (client + upstream) and 1,000 in the script.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 8192 2>/dev/null || :
exec "${PYTHON:-python3}" "$here/bench.py" "$@"
