#!/usr/bin/env bash
# fleet-certs.sh DIR NODE... — a fleet CA and certificates for the authenticated bus
# (docs/controlplane.md, "Bus authentication").
#
#   DIR/ca.pem, DIR/ca.key        the fleet CA (EC P-256, 10 years). Reused when it exists, so
#                                 running the script again adds nodes to the same fleet.
#   DIR/cp.pem, DIR/cp.key        the control plane: CN and SAN DNS "switchyard-cp",
#                                 extendedKeyUsage serverAuth (made once, kept when present)
#   DIR/NODE.pem, DIR/NODE.key    one per node: CN = the node id, extendedKeyUsage clientAuth
#
# Keys are written mode 0600. Keep ca.key off the fleet's hosts (it only mints certificates).
# A node id is 1..64 characters of [A-Za-z0-9._:-] and cannot be "switchyard-cp".
# Env: DAYS (certificate lifetime, default 825), CA_DAYS (default 3650).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [NODE...]" >&2
  exit 2
fi
dir=$1
shift
days=${DAYS:-825}
ca_days=${CA_DAYS:-3650}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.pem" ]; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -days "$ca_days" -subj "/CN=switchyard fleet CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  chmod 0644 "$dir/ca.pem"
fi

# issue NAME EKU [SAN]
issue() {
  local name=$1 eku=$2 san=${3:-} ext
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    if [ -n "$san" ]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/$name.key" \
    -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/$name.pem" -days "$days" -extfile "$ext" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
  chmod 0600 "$dir/$name.key"
  chmod 0644 "$dir/$name.pem"
}

if [ ! -f "$dir/cp.pem" ]; then
  issue switchyard-cp serverAuth "DNS:switchyard-cp"
  mv "$dir/switchyard-cp.pem" "$dir/cp.pem"
  mv "$dir/switchyard-cp.key" "$dir/cp.key"
fi

for node in "$@"; do
  if ! [[ $node =~ ^[A-Za-z0-9._:-]{1,64}$ ]] || [ "$node" = switchyard-cp ]; then
    echo "$0: bad node id: $node" >&2
    exit 2
  fi
  issue "$node" clientAuth
done
echo "fleet certificates in $dir: ca.pem cp.pem/cp.key${*:+ $(printf '%s.pem/.key ' "$@")}"
