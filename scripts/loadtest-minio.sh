#!/usr/bin/env bash
# MinIO's access-management plugin contract over HTTP
# (POST /v1/data/httpapi/authz/allow, a MinIO-shaped body, 100 roles of 10
# statements), 16 connections, hey on loopback: opa-sts's policy next to a
# straightforward IAM-in-Rego policy on stock built-ins, and next to a
# trivial `allow := true` (the cost of OPA's HTTP path alone), in the same
# run.
#
#   bash scripts/loadtest-minio.sh [seconds] [roles]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECS="${1:-10}"; ROLES="${2:-100}"
BIN="${OPA_STS_BIN:-$ROOT/bin/opa-sts}"
command -v hey >/dev/null || { echo "hey not found: apt-get install hey" >&2; exit 1; }
[ -x "$BIN" ] || make -C "$ROOT" build >/dev/null
DIR=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DIR"' EXIT
python3 "$ROOT/test/bench/gen_minio_data.py" "$ROLES" "$DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

serve() { # name policy-paths...
  local name=$1; shift
  local port; port=$(free_port)
  "$BIN" run --server --addr "127.0.0.1:$port" --log-level error "$@" "$DIR/data.json" > "$DIR/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local url="http://127.0.0.1:$port/v1/data/httpapi/authz/allow"
  curl -sf -X POST --data @"$DIR/body.json" "$url" | grep -q '"result":true' || { echo "$name: request not allowed" >&2; cat "$DIR/$name.log" >&2; exit 1; }
  echo "== $name ($ROLES roles, 16 connections, ${SECS}s)"
  hey -z "${SECS}s" -c 16 -m POST -T application/json -D "$DIR/body.json" "$url" \
    | grep -E 'Requests/sec|50% in|99% in|\[200\]|\[[45][0-9][0-9]\]' | grep -v '|' | sed 's/^ */  /'
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
}

serve opa-sts "$ROOT/policies/sts/mapping.rego" "$ROOT/policies/httpapi/authz/authz.rego"
serve stock-iam-in-rego "$ROOT/test/bench/minio-stock/authz.rego"
printf 'package httpapi.authz\n\nallow := true\n' > "$DIR/trivial.rego"
serve trivial-allow-true "$DIR/trivial.rego"
