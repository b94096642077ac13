#!/bin/sh
# Resolve the Kafka broker and tools from Maven Central into $KRX_KAFKA_LIBS
# (default: .cache/kafka/libs under the checkout). Idempotent: a stamp file
# holding the pom's checksum skips the work when nothing changed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
libs=${KRX_KAFKA_LIBS:-$top/.cache/kafka/libs}
stamp="$libs/.pom.sha256"
sum=$(sha256sum "$here/pom.xml" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
	exit 0
fi
rm -rf "$libs"
mkdir -p "$libs"
mvn -B -q -f "$here/pom.xml" dependency:copy-dependencies \
	-DoutputDirectory="$libs" -DincludeScope=runtime
echo "$sum" > "$stamp"
echo "kafka jars in $libs"
