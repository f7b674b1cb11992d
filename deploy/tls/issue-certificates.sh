#!/usr/bin/env bash
# A private CA for breakerd and its clients, with the openssl command (Debian `openssl`).
#
#   bash deploy/tls/issue-certificates.sh DIR SERVER_NAMES [CLIENT_NAME ...]
#
#   DIR            where to write (created; existing CA files there are reused, so run it again to add clients
#                  or to renew the server's certificate with the same CA)
#   SERVER_NAMES   breakerd's names, comma-separated, as clients dial them: DNS names and IP addresses, e.g.
#                  breakerd.internal,breakerd.prod.svc.cluster.local,10.0.0.5
#   CLIENT_NAME    one client certificate each (for --tls-client-ca, mutual TLS); the name becomes the
#                  connection's client name in breakerd's logs and audit log unless `hello` gives one
#
# Writes ca.pem/ca.key (keep ca.key offline), server.pem/server.key, and CLIENT.pem/CLIENT.key. Keys are
# P-256, mode 0600; the CA is valid 10 years, the others DAYS (default 397) days.
#   breakerd --tls-cert DIR/server.pem --tls-key DIR/server.key [--tls-client-ca DIR/ca.pem]
#   breakerctl --tls-ca DIR/ca.pem [--tls-cert DIR/NAME.pem --tls-key DIR/NAME.key] ...
set -euo pipefail
[ $# -ge 2 ] || { sed -n '3,13p' "$0" >&2; exit 2; }
dir=$1; names=$2; shift 2
days=${DAYS:-397}
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 3650 -subj "/CN=highway-breaker private CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    echo "made the CA: $dir/ca.pem (keep $dir/ca.key offline)"
fi

# subjectAltName from the comma-separated names: IP: for addresses, DNS: for the rest.
san=""
IFS=',' read -ra parts <<<"$names"
for n in "${parts[@]}"; do
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san=${san%,}

issue() {  # NAME CN EXTENSIONS
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "/CN=$2" 2>/dev/null
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days "$days" \
        -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
    chmod 0600 "$1.key"
    echo "issued $dir/$1.pem ($2, $days days)"
}

issue server "${parts[0]}" "subjectAltName=$san
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
for client in "$@"; do
    issue "$client" "$client" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
done
chmod 0644 ca.pem ./*.pem
