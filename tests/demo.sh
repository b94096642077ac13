#!/bin/bash
# make demo: a real Kafka broker, krxd in front of it with record
# encryption (the embedded LocalKms), a few records produced through krxd
# with kcat, then read back through krxd (plaintext) and directly from the
# broker (ciphertext). Everything runs on loopback in a temporary directory
# and is stopped on exit.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
KRXD=${KRXD:-$top/build/krxd}
KRXCTL=${KRXCTL:-$top/build/krx-ctl}
PY=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/krx-demo.XXXXXX")
krxd_pid=

cleanup() {
	set +e
	if [ -n "$krxd_pid" ] && kill -0 "$krxd_pid" 2>/dev/null; then
		"$KRXCTL" -s "$work/control.sock" stop >/dev/null 2>&1 ||
		    kill "$krxd_pid"
		for _ in $(seq 100); do
			kill -0 "$krxd_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$krxd_pid" 2>/dev/null
	fi
	if [ -f "$work/kafka/broker.json" ]; then
		$PY "$top/tests/kafka/broker.py" stop --dir "$work/kafka"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n--- %s\n' "$*"; }

[ -x "$KRXD" ] || { echo "demo: $KRXD not built (run make)" >&2; exit 1; }

step "starting a Kafka 4.1 broker (KRaft, node 1)"
out=$($PY "$top/tests/kafka/broker.py" start --dir "$work/kafka")
broker=$(printf '%s\n' "$out" | sed -n 's/^BOOTSTRAP=//p')
echo "broker at $broker"

# bootstrap port, then node ports 0..2 (the broker is node 1)
base=$(cd "$top/tests/kafka" && $PY -c \
    'import broker; print(broker.free_port_range(4))')
cat >"$work/krxd.conf" <<CONF
workers = 2;
pid_file = "$work/krxd.pid";
control_socket = "$work/control.sock";
log = { level = "info"; };
$( [ "$(id -u)" = 0 ] && echo 'allow_root = true;' )
cache = { path = "$work/dekcache"; };
virtual_clusters = (
  { name = "demo";
    bootstrap = "127.0.0.1:$base";
    advertised_host = "127.0.0.1";
    node_start_port = $((base + 1));
    max_node_id = 2;
    upstream = { bootstrap = "$broker"; };
    record_encryption = {
      kms = "LocalKms";
      kmsConfig = { keystore = "$work/keks"; };
      selector = "TemplateKekSelector";
      selectorConfig = { template = "KEK-\$(topicName)"; };
      unresolvedKeyPolicy = "PASSTHROUGH_UNENCRYPTED";
    };
  } );
CONF
proxy=127.0.0.1:$base

step "starting krxd (bootstrap $proxy, broker 1 advertised as 127.0.0.1:$((base + 2)))"
"$KRXD" -g -c "$work/krxd.conf" >"$work/krxd.log" 2>&1 &
krxd_pid=$!
ready=
for _ in $(seq 200); do
	if st=$("$KRXCTL" -s "$work/control.sock" status 2>/dev/null) &&
	    [ "$(printf '%s\n' "$st" | grep -c ' running ')" -eq 3 ]
	then
		ready=1
		break
	fi
	kill -0 "$krxd_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "demo: krxd did not come up; its log:" >&2
	cat "$work/krxd.log" >&2
	exit 1
fi
printf '%s\n' "$st"

step "metadata through krxd (kcat -L)"
kcat -L -b "$proxy" | sed -n '1,3p'

topic=krx-demo
(cd "$top/tests/kafka" && $PY -c \
    "import tools; tools.create_topics('$broker', {'$topic': 1})")

step "creating KEK-$topic in the LocalKms keystore (krx-ctl kek create)"
"$KRXCTL" -s "$work/control.sock" kek create "KEK-$topic"
"$KRXCTL" -s "$work/control.sock" kms check "KEK-$topic"

step "producing 5 records through krxd"
printf '%s\n' "alice:hello" "bob:kafka through krx" "carol:record three" \
    "dave:1234567890" "erin:last one" |
    kcat -P -b "$proxy" -t "$topic" -K : -H demo=yes
fmt='  offset %o  key %k  value %s  headers %h\n'

step "consumed through krxd ($proxy)"
kcat -C -b "$proxy" -t "$topic" -o beginning -e -q -f "$fmt"

step "read directly from the broker ($broker): ciphertext"
kcat -C -b "$broker" -t "$topic" -o beginning -e -q \
    -f '  offset %o  key %k  value (%S bytes) %s\n  headers %h\n' |
    LC_ALL=C tr -c '[:print:]\n' '.'

step "key service counters (krx-ctl cache stats)"
"$KRXCTL" -s "$work/control.sock" cache stats | grep -v ' 0$' 

step "stopping krxd and the broker"
"$KRXCTL" -s "$work/control.sock" stop
wait "$krxd_pid" && echo "krxd exited with status 0"
krxd_pid=
