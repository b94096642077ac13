#!/bin/bash
# Install everything a fresh Debian 12 needs to build and test krx: the C
# toolchain and libraries, kcat, Java 17 and Maven (Kafka broker and tools),
# the Python clients (confluent-kafka, pytest), cryptography (the key
# tests check AES-GCM bytes themselves; the KMS test doubles use it) and
# moto's server (AWS KMS/STS for tests/kms, with boto3), prometheus-client
# (the metrics tests parse krxd's exposition with it), the packaging tools
# (lintian, mandoc, systemd for systemd-analyze/-sysusers/-tmpfiles, man-db
# for systemd-analyze's Documentation= check; dpkg-dev comes with
# build-essential), chromium (headless, the status page test), then the
# Kafka jars (tests/kafka/fetch.sh). Idempotent and quiet: what is present is skipped.
# Run as root (CI) or with sudo available.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

APT_PKGS=(
	build-essential pkg-config libssl-dev libevent-dev libcurl4-openssl-dev
	libconfig-dev liblmdb-dev lmdb-utils libcriterion-dev librdkafka-dev
	kcat zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev libsystemd-dev
	clang libclang-rt-14-dev clang-format socat iproute2 haproxy
	openjdk-17-jdk-headless maven python3-pip
	lintian mandoc man-db systemd chromium
)
PIP_PKGS=("confluent-kafka>=2.6" "pytest>=7" "cryptography>=3.4"
	"moto[server]>=5" "kubernetes-validate>=1.33"
	"prometheus-client>=0.16")

say() { printf 'setup: %s\n' "$*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}

# -- Debian packages ------------------------------------------------------
missing=()
for p in "${APT_PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	say "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	as_root apt-get update -qq
	as_root apt-get install -y -qq --no-install-recommends \
	    "${missing[@]}" >/dev/null
else
	say "Debian packages present"
fi

# -- Java 17 ---------------------------------------------------------------
if ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
	jdk=$(ls -d /usr/lib/jvm/java-17-openjdk-* 2>/dev/null | head -n1)
	if [ -n "$jdk" ]; then
		as_root update-alternatives --set java "$jdk/bin/java" >/dev/null
	fi
	java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])' || {
		say "java 17 or later is not the default java"; exit 1; }
fi

# -- Python packages --------------------------------------------------------
PY=${PYTHON:-python3}
if $PY - <<'PYEOF' 2>/dev/null
import confluent_kafka, pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import boto3, flask, flask_cors, moto, moto.server, kubernetes_validate
import prometheus_client.parser
v = tuple(int(x) for x in confluent_kafka.__version__.split(".")[:2])
m = tuple(int(x) for x in moto.__version__.split(".")[:1])
raise SystemExit(0 if v >= (2, 6) and m >= (5,) else 1)
PYEOF
then
	say "confluent-kafka, pytest, cryptography, moto, prometheus-client present"
else
	say "pip install ${PIP_PKGS[*]}"
	log=$(mktemp)
	if ! $PY -m pip install -q --disable-pip-version-check \
	    "${PIP_PKGS[@]}" >"$log" 2>&1; then
		if grep -q externally-managed "$log"; then
			$PY -m pip install -q --disable-pip-version-check \
			    --break-system-packages "${PIP_PKGS[@]}"
		else
			cat "$log" >&2
			rm -f "$log"
			exit 1
		fi
	fi
	rm -f "$log"
	$PY -c 'import confluent_kafka, pytest, cryptography, boto3, moto.server
import prometheus_client.parser'
fi

# -- Kafka jars ------------------------------------------------------------
say "kafka jars"
sh "$top/tests/kafka/fetch.sh"
