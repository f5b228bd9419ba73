#!/bin/sh
# Creates a site CA for pact's node enrollment: ca.crt and ca.key (ECDSA
# P-256, unencrypted PKCS#8, mode 0600) in DIR. Point every journal at the
# same pair ([journal.enrollment] ca_cert_file/ca_key_file, or PACT_CA_CERT /
# PACT_CA_KEY) and put ca.crt into the node image as /etc/pact/ca.crt.
# Without a site CA the journal generates an ephemeral one instead.
#
# usage: setup-ca.sh [-d DIR] [-n NAME] [-y YEARS]
set -eu
dir=/etc/pact
name=pact-ca
years=10
while getopts d:n:y:h opt; do
  case $opt in
    d) dir=$OPTARG ;;
    n) name=$OPTARG ;;
    y) years=$OPTARG ;;
    h) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [-d DIR] [-n NAME] [-y YEARS]" >&2; exit 1 ;;
  esac
done
case $years in
  ''|*[!0-9]*) echo "setup-ca.sh: -y needs a whole number of years: got '$years'" >&2; exit 1 ;;
esac
command -v openssl >/dev/null 2>&1 || { echo "setup-ca.sh: openssl not found" >&2; exit 1; }
if [ -e "$dir/ca.key" ] || [ -e "$dir/ca.crt" ]; then
  echo "setup-ca.sh: $dir/ca.key or $dir/ca.crt exists already: not overwriting a CA" >&2
  exit 1
fi
mkdir -p "$dir"
umask 077
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key" 2>/dev/null
openssl req -x509 -new -key "$dir/ca.key" -sha256 -days $((years * 365)) \
  -subj "/CN=$name" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out "$dir/ca.crt"
chmod 600 "$dir/ca.key"
chmod 644 "$dir/ca.crt"
echo "CA written: $dir/ca.crt (share), $dir/ca.key (journals only, 0600)"
openssl x509 -in "$dir/ca.crt" -noout -fingerprint -sha256
