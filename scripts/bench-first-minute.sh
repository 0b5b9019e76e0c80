#!/usr/bin/env bash
# The newcomer's first minute, measured: a fresh clone of this commit,
# `make run` (on free loopback ports), then, polling as a newcomer would
# retry, the time to the first credential (dev token -> STS) and to the
# first successful `aws s3 cp` through the printed credential_process
# profile. Uses the Go module, build and tools caches as they are on this
# machine (say which in the figures: a cold tools cache adds versitygw's
# build).
#
#   bash scripts/bench-first-minute.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AWS="${AWS:-aws}"
command -v "$AWS" >/dev/null || { echo "the AWS CLI ($AWS) is not installed" >&2; exit 1; }
TMP=$(mktemp -d)
RUN_PID=
cleanup() {
  if [[ -n "$RUN_PID" ]]; then kill -INT -- "-$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API=127.0.0.1:$(free_port); STS=127.0.0.1:$(free_port); S3=127.0.0.1:$(free_port)
git clone -q "$ROOT" "$TMP/opa-sts"
cd "$TMP/opa-sts"
echo hello > "$TMP/hello.txt"

now() { date +%s.%N; }
t0=$(now)
set -m
make run ADDR="$API" DEV_ARGS="--sts-addr $STS --s3-addr $S3 --data-dir $TMP/dev" > "$TMP/run.log" 2>&1 &
RUN_PID=$!
set +m

deadline=$(( $(date +%s) + 300 ))
t_cred=
until [[ -n "$t_cred" ]]; do
  (( $(date +%s) < deadline )) || { echo "no credential within 300 s" >&2; tail -30 "$TMP/run.log" >&2; exit 1; }
  TOKEN=$(curl -sf -u dev-client:dev-client-secret -d grant_type=client_credentials "http://$STS/dev/token" 2>/dev/null | sed -E 's/.*"access_token":"([^"]+)".*/\1/' || true)
  if [[ -n "$TOKEN" ]] && curl -sf "http://$STS/" -d Action=AssumeRoleWithClientGrants -d Version=2011-06-15 --data-urlencode "Token=$TOKEN" 2>/dev/null | grep -q '<SessionToken>'; then
    t_cred=$(now)
  else
    sleep 0.2
  fi
done
t_cp=
until [[ -n "$t_cp" ]]; do
  (( $(date +%s) < deadline )) || { echo "no aws s3 cp within 300 s" >&2; tail -30 "$TMP/run.log" >&2; exit 1; }
  if [[ -f "$TMP/dev/aws-config" ]] && AWS_CONFIG_FILE="$TMP/dev/aws-config" AWS_PROFILE=opa-sts-dev AWS_EC2_METADATA_DISABLED=true \
      "$AWS" --endpoint-url "http://$S3" s3 cp "$TMP/hello.txt" s3://home/dev/hello.txt >/dev/null 2>&1; then
    t_cp=$(now)
  else
    sleep 0.2
  fi
done
awk -v a="$t0" -v b="$t_cred" -v c="$t_cp" 'BEGIN {
  printf "make run -> first credential: %.1f s\nmake run -> first aws s3 cp:  %.1f s\n", b - a, c - a }'
