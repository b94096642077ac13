#!/bin/sh
# make.sh: remake the TLS fixtures of tests/unit/tlsstore_test.c and
# jks_test.c with openssl and the JDK's keytool. The generated files are
# committed, so the tests never need keytool; run this only to change
# them (the private keys of the two CAs are thrown away).
#
#   ca.pem             "krx test CA" (EC P-256), signs server and client
#   other-ca.pem       "krx other CA" (EC P-256), signs nothing used here
#   server.{pem,key}   CN=localhost, SAN DNS:localhost IP:127.0.0.1 (EC)
#   client.{pem,key}   CN=krx-client, clientAuth (RSA 2048), unencrypted
#                      PKCS#8; client-enc.key the same key encrypted
#                      (PKCS#8, AES-256) under "keypass"
#   client-chain.pem   client.pem then ca.pem
#   trust.p12          ca.pem as a trusted entry, by keytool, "storepass"
#   trust-openssl.p12  ca.pem and other-ca.pem by openssl (no Java trust
#                      attribute), "storepass"
#   trust-plain.p12    ca.pem by openssl, not encrypted, MAC "storepass"
#   trust.jks          ca.pem and other-ca.pem as trusted entries "ca" and
#                      "other", store password "storepass"
#   client.p12         client key + client.pem + ca.pem by openssl, alias
#                      "client", "storepass" for the store and the key
#   client-keytool.p12 the same entry written by keytool from client.jks
#   client.jks         the same entry (chain client, CA) by keytool
#                      -importkeystore: store "storepass", key "keypass"
#   multi.jks          trusted "ca", key entries "client" and "server"
#                      (key password "keypass"), store "storepass"
#   unicode.jks        the client entry, store and key password
#                      "p\u00e4\u20ac\U0001d11e-jks" (UTF-8 in the password
#                      file keytool reads; a surrogate pair in Java)
#
# Usage: tests/data/tls/make.sh   (writes beside itself)
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
# The JDK of tests/kafka/broker.py's java_bin(): $JAVA_HOME, else the
# java on PATH (keytool beside it), else keytool on PATH.
keytool=
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/keytool" ]; then
	keytool=$JAVA_HOME/bin/keytool
elif java=$(command -v java) &&
    [ -x "$(dirname "$(readlink -f "$java")")/keytool" ]; then
	keytool=$(dirname "$(readlink -f "$java")")/keytool
else
	keytool=$(command -v keytool) || {
		echo "make.sh: no keytool (set JAVA_HOME)" >&2; exit 1; }
fi
days=36500
sp=storepass
kp=keypass
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$1" 2>/dev/null; }

# CA: self-signed, $1 file stem, $2 common name.
mkca() {
	ec "$1.key"
	openssl req -new -x509 -key "$1.key" -out "$1.pem" -days $days \
	    -subj "/O=krx/CN=$2" -sha256 \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign
}

# Leaf signed by ca: $1 stem, $2 subject, $3 extensions file.
mkleaf() {
	openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out "$1.pem" -days $days -sha256 \
	    -extfile "$3" 2>/dev/null
}

mkca ca "krx test CA"
mkca other-ca "krx other CA"

ec server.key
cat >server.ext <<X
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
X
mkleaf server "/O=krx/CN=localhost" server.ext

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out client.key 2>/dev/null
cat >client.ext <<X
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
X
mkleaf client "/O=krx/CN=krx-client" client.ext
openssl pkcs8 -topk8 -in client.key -out client-enc.key \
    -v2 aes-256-cbc -passout pass:$kp
cat client.pem ca.pem >client-chain.pem

# Trust stores.
$keytool -importcert -noprompt -alias ca -file ca.pem \
    -keystore trust.p12 -storetype PKCS12 -storepass $sp 2>/dev/null \
    >/dev/null
cat ca.pem other-ca.pem >trust-both.pem
openssl pkcs12 -export -nokeys -in trust-both.pem -out trust-openssl.p12 \
    -passout pass:$sp
openssl pkcs12 -export -nokeys -in ca.pem -certpbe NONE \
    -out trust-plain.p12 -passout pass:$sp
for a in ca other; do
	f=ca.pem; [ $a = other ] && f=other-ca.pem
	$keytool -importcert -noprompt -alias $a -file $f \
	    -keystore trust.jks -storetype JKS -storepass $sp \
	    >/dev/null 2>&1
done

# Key stores.
openssl pkcs12 -export -inkey client.key -in client.pem -certfile ca.pem \
    -name client -out client.p12 -passout pass:$sp
openssl pkcs12 -export -inkey server.key -in server.pem -certfile ca.pem \
    -name server -out server.p12 -passout pass:$sp
$keytool -importkeystore -noprompt -srckeystore client.p12 \
    -srcstoretype PKCS12 -srcstorepass $sp -srcalias client \
    -destkeystore client.jks -deststoretype JKS -deststorepass $sp \
    -destalias client -destkeypass $kp 2>/dev/null
$keytool -importkeystore -noprompt -srckeystore client.jks \
    -srcstoretype JKS -srcstorepass $sp -srcalias client -srckeypass $kp \
    -destkeystore client-keytool.p12 -deststoretype PKCS12 \
    -deststorepass $sp -destalias client 2>/dev/null
for a in client server; do
	$keytool -importkeystore -noprompt -srckeystore $a.p12 \
	    -srcstoretype PKCS12 -srcstorepass $sp -srcalias $a \
	    -destkeystore multi.jks -deststoretype JKS -deststorepass $sp \
	    -destalias $a -destkeypass $kp 2>/dev/null
done
printf 'p\303\244\342\202\254\360\235\204\236-jks' >unicode.pw
$keytool -J-Dfile.encoding=UTF-8 -importkeystore -noprompt \
    -srckeystore client.p12 -srcstoretype PKCS12 -srcstorepass $sp \
    -srcalias client -destkeystore unicode.jks -deststoretype JKS \
    -deststorepass:file unicode.pw -destalias client \
    -destkeypass:file unicode.pw 2>/dev/null
$keytool -importcert -noprompt -alias ca -file ca.pem \
    -keystore multi.jks -storetype JKS -storepass $sp >/dev/null 2>&1

cp ca.pem other-ca.pem server.pem server.key client.pem client.key \
    client-enc.key client-chain.pem trust.p12 trust-openssl.p12 \
    trust-plain.p12 trust.jks client.p12 client-keytool.p12 client.jks \
    multi.jks unicode.jks "$dir/"
for f in "$dir"/*; do [ "$f" = "$dir/make.sh" ] || chmod 0644 "$f"; done
echo "make.sh: fixtures written to $dir"
