#!/bin/sh
# Creates the TLS material for the fake Kubernetes API server in DIR:
#   ca.crt/ca.key              the CA the client is told to trust
#   server.crt/server.key      signed by it, for localhost, 127.0.0.1 and ::1
#   wronghost.crt/wronghost.key signed by it, but for another host only
#   other-ca.crt/other-ca.key  a CA that signed nothing the server presents
# EC P-256 keys: fast to generate, so every test run makes fresh ones.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
days=2
subj_ca=/CN=ha-sync-test-ca
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days $days -subj "$subj_ca" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key -out other-ca.crt \
  -days $days -subj /CN=ha-sync-other-ca -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

leaf() {  # name san
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days $days \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server 'DNS:localhost,IP:127.0.0.1,IP:::1'
leaf wronghost 'DNS:elsewhere.example,IP:10.255.255.1'
