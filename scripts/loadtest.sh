#!/usr/bin/env bash
# Issuances per second through the STS HTTP endpoint, with a load generator
# (hey, Debian package "hey") on loopback: RS256 client tokens from the
# development issuer, warm JWKS cache, the bbolt session store, decision
# logging off (as with a remote decision-log service, which is asynchronous).
#
#   bash scripts/loadtest.sh [seconds]        # default 10 s per run
#   STORE=etcd bash scripts/loadtest.sh      # sessions in a 3-node etcd cluster on loopback (Debian's etcd-server)
#
# Every run is bounded in time and sends traffic to 127.0.0.1 only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-10}"
BIN="${OPA_STS_BIN:-$ROOT/bin/opa-sts}"
command -v hey >/dev/null || { echo "hey not found: apt-get install hey" >&2; exit 1; }
[ -x "$BIN" ] || make -C "$ROOT" build >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(free_port); STS_PORT=$(free_port)
DIR=$(mktemp -d)
ETCD_PIDS=()
trap 'kill $PID "${ETCD_PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
STORE_JSON="{\"type\": \"bolt\", \"path\": \"$DIR/sessions.db\"}"
if [ "${STORE:-bolt}" = etcd ]; then
  command -v etcd >/dev/null || { echo "etcd not found: apt-get install etcd-server" >&2; exit 1; }
  CLUSTER=""; CLIENTS=()
  for i in 1 2 3; do
    C[$i]=$(free_port); P[$i]=$(free_port)
    CLUSTER="${CLUSTER:+$CLUSTER,}n$i=http://127.0.0.1:${P[$i]}"
    CLIENTS+=("\"http://127.0.0.1:${C[$i]}\"")
  done
  for i in 1 2 3; do
    etcd --name "n$i" --data-dir "$DIR/n$i.etcd" --listen-client-urls "http://127.0.0.1:${C[$i]}" \
      --advertise-client-urls "http://127.0.0.1:${C[$i]}" --listen-peer-urls "http://127.0.0.1:${P[$i]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${P[$i]}" --initial-cluster "$CLUSTER" \
      --initial-cluster-state new --initial-cluster-token loadtest --log-level error > "$DIR/n$i.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  for _ in $(seq 100); do etcdctl --endpoints "http://127.0.0.1:${C[1]}" endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
  STORE_JSON="{\"type\": \"etcd\", \"etcd\": {\"endpoints\": [$(IFS=,; echo "${CLIENTS[*]}")]}}"
fi

mkdir -p "$DIR/policy"
cp -r "$ROOT/policies/sts" "$ROOT/policies/system" "$ROOT/policies/httpapi" "$ROOT/policies/s3" "$DIR/policy/"
find "$DIR/policy" -name '*_test.rego' -delete
ISS="http://127.0.0.1:$STS_PORT/dev"
cat > "$DIR/policy/data.json" <<JSON
{"opa_sts": {
  "providers": [{"issuer": "$ISS", "discovery_url": "$ISS/.well-known/openid-configuration", "audiences": ["sts"]}],
  "roles": {"rw": {"statements": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::load/*"]}]}},
  "bindings": [{"role": "rw", "issuer": "$ISS", "clients": ["load-client"]}]}}
JSON
cat > "$DIR/config.json" <<JSON
{"persistence_directory": "$DIR",
 "plugins": {"sts": {"addr": "127.0.0.1:$STS_PORT",
   "store": $STORE_JSON,
   "dev_issuer": {"enabled": true, "token_ttl_seconds": 3600, "clients": [{"id": "load-client", "secret": "load-client-secret"}]}}}}
JSON
"$BIN" run --server --addr "127.0.0.1:$API_PORT" --log-level error -c "$DIR/config.json" "$DIR/policy" > "$DIR/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$STS_PORT/.well-known/jwks.json" >/dev/null && break; sleep 0.1; done

TOKEN=$(curl -sf -u load-client:load-client-secret -d grant_type=client_credentials "$ISS/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
BODY="Action=AssumeRoleWithClientGrants&Version=2011-06-15&DurationSeconds=3600&Token=$TOKEN"
URL="http://127.0.0.1:$STS_PORT/"
curl -sf -X POST --data "$BODY" "$URL" | grep -q '<AccessKeyId>' || { echo "warm-up request failed" >&2; cat "$DIR/server.log" >&2; exit 1; }

run() { # concurrency
  hey -z "${SECS}s" -c "$1" -m POST -T application/x-www-form-urlencoded -d "$BODY" "$URL" \
    | grep -E 'Requests/sec|50% in|90% in|99% in|\[200\]|\[[45][0-9][0-9]\]' | sed 's/^ */  /'
}
echo "== 16 concurrent clients, ${SECS}s"; run 16
echo "== 1 client, ${SECS}s"; run 1
