#!/usr/bin/env bash
# Runs one byoda pod on loopback with the project's sample contract: what
# `make run` does. On first run it creates, under RUN_DIR, a development PKI
# (network byoda.test, the sample service, an account and a membership), a
# key-encryption key and an owner password; later runs reuse them and the
# pod's data. The key-encryption key and the password (24 random
# characters) are 0600: the pod refuses secret files others can read, and
# passwords under 12 characters. Ctrl-C stops the pod cleanly.
#
# Environment: BYODA (the binary), RUN_DIR (default bin/run), POD_LISTEN
# (owner port, default 127.0.0.1:8443), POD_PEER_LISTEN (peer port, default
# 127.0.0.1:8444). Delete RUN_DIR to start over.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BYODA="${BYODA:-$ROOT/bin/byoda}"
RUN_DIR="${RUN_DIR:-$ROOT/bin/run}"
POD_LISTEN="${POD_LISTEN:-127.0.0.1:8443}"
POD_PEER_LISTEN="${POD_PEER_LISTEN:-127.0.0.1:8444}"
NETWORK=byoda.test
CONTRACT="$ROOT/config/samples/contracts/addressbook-demo.json"
SID=4711

PKI="$RUN_DIR/pki"
DATA="$RUN_DIR/data"
umask 077
mkdir -p "$RUN_DIR" "$DATA"

# The PKI, one step at a time so that an interrupted first run resumes.
if [[ ! -f "$PKI/network.json" ]]; then
	"$BYODA" pki init --dir "$PKI" --network "$NETWORK" >/dev/null
fi
if [[ ! -f "$PKI/service-$SID/service-ca.crt" ]]; then
	"$BYODA" pki service --dir "$PKI" --service-id "$SID" >/dev/null
fi
if [[ ! -s "$RUN_DIR/account-id" ]]; then
	"$BYODA" pki account --dir "$PKI" >"$RUN_DIR/account-id.tmp"
	mv "$RUN_DIR/account-id.tmp" "$RUN_DIR/account-id"
fi
ACCOUNT="$(cat "$RUN_DIR/account-id")"
if ! compgen -G "$PKI/service-$SID/member-*/member.crt" >/dev/null; then
	"$BYODA" pki member --dir "$PKI" --service-id "$SID" >/dev/null
fi

# The key-encryption key: made once. The pod never makes one itself, and
# without this file the data under $DATA cannot be read.
if [[ ! -s "$DATA/kek" ]]; then
	head -c 32 /dev/urandom | basenc --base64url >"$DATA/kek.tmp"
	mv "$DATA/kek.tmp" "$DATA/kek"
fi
if [[ ! -s "$RUN_DIR/owner-password" ]]; then
	head -c 18 /dev/urandom | basenc --base64url >"$RUN_DIR/owner-password.tmp"
	mv "$RUN_DIR/owner-password.tmp" "$RUN_DIR/owner-password"
fi
# The pod refuses secret files that other users can read: keep them 0600,
# also in a RUN_DIR an older version of this script made.
chmod 600 "$DATA/kek" "$RUN_DIR/owner-password"
PASSWORD="$(cat "$RUN_DIR/owner-password")"

HOST="$ACCOUNT.accounts.$NETWORK"
PORT="${POD_LISTEN##*:}"
IP="${POD_LISTEN%:*}"
OWNER="https://$HOST:$PORT"
CURL="curl -s --cacert $PKI/network/root-ca.crt --resolve $HOST:$PORT:$IP"

cat <<EOF
byoda pod on loopback (data in $RUN_DIR; delete it to start over)

  owner port  $OWNER  (HTTPS, account certificate; resolve $HOST to $IP)
  peer port   https://$POD_PEER_LISTEN  (TLS 1.3, client certificate of network $NETWORK)
  GraphQL     $OWNER/api/v1/data/service-$SID
  status      $OWNER/api/v1/status
  metrics     $OWNER/metrics

  owner login  username $ACCOUNT
               password $PASSWORD
               service  $SID

Log in and query:

  TOKEN=\$($CURL -H 'Content-Type: application/json' \\
    -d '{"username":"$ACCOUNT","password":"$PASSWORD","service_id":$SID}' \\
    $OWNER/api/v1/pod/authtoken | sed -E 's/.*"auth_token":"([^"]+)".*/\1/')
  $CURL -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"query":"mutation { mutate_person(given_name: \"Suzie\", family_name: \"Doe\") }"}' \\
    $OWNER/api/v1/data/service-$SID
  $CURL -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
    -d '{"query":"{ person { given_name family_name } }"}' $OWNER/api/v1/data/service-$SID

Log out everywhere (revokes every token, for every service):

  $CURL -X POST -H "Authorization: Bearer \$TOKEN" $OWNER/api/v1/pod/logout-everywhere

Ctrl-C stops the pod.

EOF

exec "$BYODA" pod \
	--network "$NETWORK" \
	--pki-dir "$PKI" \
	--account "$ACCOUNT" \
	--data-dir "$DATA" \
	--listen "$POD_LISTEN" \
	--peer-listen "$POD_PEER_LISTEN" \
	--owner-password-file "$RUN_DIR/owner-password" \
	--contract "$CONTRACT"
