#!/usr/bin/env bash
# Builds and signs an opa-sts policy bundle.
#   bash scripts/build-bundle.sh <data.json> <signing-key.pem> <revision> <out.tar.gz>
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 <data.json> <signing-key.pem> <revision> <out.tar.gz>" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${OPA_STS_BIN:-$ROOT/bin/opa-sts}"
[ -x "$BIN" ] || make -C "$ROOT" build >/dev/null
DATA=$1; KEY=$(realpath "$2"); REV=$3; OUT=$(realpath -m "$4")
STAGE=$(mktemp -d); trap 'rm -rf "$STAGE"' EXIT
for d in sts s3 httpapi system; do
  (cd "$ROOT/policies" && find "$d" -name '*.rego' ! -name '*_test.rego' -exec install -D -m 0644 {} "$STAGE/{}" \;)
done
cp "$DATA" "$STAGE/data.json"
printf '{"revision": "%s", "roots": ["sts", "s3", "httpapi", "system/log", "system/authz", "opa_sts"]}\n' "$REV" > "$STAGE/.manifest"
# Built from inside the staging directory, so module paths in the bundle are
# relative (policies/...), not the build machine's temporary directory.
(cd "$STAGE" && "$BIN" build -b . --signing-key "$KEY" --signing-alg RS256 -o "$OUT")
echo "built $OUT (revision $REV)"
