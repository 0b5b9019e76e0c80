#!/usr/bin/env bash
# Builds/installs the third-party tools used by integration tests.
#
# Idempotent: every tool is skipped when its output is already present, so CI
# can cache ${OPA_STS_TOOLS} (default ~/.cache/opa-sts/tools) between runs.
#
#   bash scripts/build-tools.sh            # all tools
#   bash scripts/build-tools.sh hydra      # only some of them
#
# Requirements: Go (version from test/tools/*/go.mod), a C compiler (hydra uses
# cgo sqlite; on Debian: apt-get install gcc libc6-dev — installed automatically
# when running as root or with password-less sudo), Node.js >= 20 with npm.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${OPA_STS_TOOLS:-$HOME/.cache/opa-sts/tools}"
BIN="$TOOLS/bin"

HYDRA_VERSION="v2.3.0"
VERSITYGW_VERSION="v1.8.0"
# MinIO's last community commit and its client (AGPL: only ever run as
# separate processes).
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"
OIDC_PROVIDER_DIR="$ROOT/test/idp/oidc-provider"
AWS_SDK_JS_DIR="$ROOT/test/clients/aws-sdk-js"

log() { printf '[build-tools] %s\n' "$*" >&2; }
die() { printf '[build-tools] ERROR: %s\n' "$*" >&2; exit 1; }

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH${2:+ ($2)}"
}

# ensure_cc makes sure cgo has a C compiler (fresh Debian images have none).
ensure_cc() {
  local cc="${CC:-}"
  if [[ -n "$cc" ]] && command -v "$cc" >/dev/null 2>&1; then return 0; fi
  if command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1; then return 0; fi
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      die "no C compiler (needed for hydra's cgo sqlite). Install one: apt-get install -y gcc libc6-dev"
    fi
  fi
  command -v apt-get >/dev/null 2>&1 || die "no C compiler and no apt-get: install gcc and retry"
  log "installing gcc (cgo) with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
}

# build_go_tool NAME VERSION MODULE PKG CGO TAGS LDFLAGS: builds PKG from the
# pinned tool module test/tools/NAME (its go.mod must require MODULE at
# VERSION) into $BIN/NAME-VERSION, unless that binary is already cached.
# stderr goes to a file first: a cold build prints ~100-200 "go: downloading"
# lines, which are dropped.
build_go_tool() {
  local name="$1" version="$2" module="$3" pkg="$4" cgo="$5" tags="$6" ldflags="$7"
  local out="$BIN/$name-$version"
  if [[ -x "$out" ]]; then
    log "$name $version: cached at $out"
    return 0
  fi
  need_cmd go "install Go"
  local mod="$ROOT/test/tools/$name"
  grep -q "$module $version" "$mod/go.mod" ||
    die "test/tools/$name/go.mod does not pin $module $version"
  if [[ "$cgo" == 1 ]]; then ensure_cc; fi
  mkdir -p "$BIN"
  log "$name $version: building (~1-2 min cold)..."
  local start=$SECONDS tmp="$out.tmp.$$" errlog="$out.log.$$"
  trap 'rm -f "$tmp" "$errlog"' EXIT
  if ! (
    cd "$mod"
    GOWORK=off CGO_ENABLED="$cgo" go build -mod=readonly ${tags:+-tags "$tags"} -trimpath \
      -ldflags "-s -w $ldflags" -o "$tmp" "$pkg"
  ) 2>"$errlog"; then
    grep -v '^go: downloading ' "$errlog" >&2 || true
    die "$name build failed"
  fi
  grep -v '^go: downloading ' "$errlog" >&2 || true
  mv -f "$tmp" "$out"
  rm -f "$errlog"
  trap - EXIT
  log "$name $version: built $out in $((SECONDS - start))s"
}

# build_hydra: ory/hydra (the OIDC provider of most e2e tests), with cgo for
# its sqlite driver. test/tools/hydra/go.mod carries the replace directive
# hydra needs, which is why `go install pkg@version` cannot be used.
build_hydra() {
  build_go_tool hydra "$HYDRA_VERSION" github.com/ory/hydra/v2 github.com/ory/hydra/v2 1 sqlite \
    "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION"
}

# build_versitygw: versity/versitygw (S3 gateway; its --iam-standalone-endpoint
# delegates SigV4 signing keys and policy evaluation to opa-sts).
build_versitygw() {
  build_go_tool versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw \
    github.com/versity/versitygw/cmd/versitygw 0 "" "-X main.Version=$VERSITYGW_VERSION"
}

# go_install_tool NAME VERSION MODULE: `go install MODULE@VERSION` into
# $BIN/NAME-VERSION, unless cached. For modules that build with their own
# go.mod as it is (no replace directives): the version is the whole pin.
go_install_tool() {
  local name="$1" version="$2" module="$3"
  local out="$BIN/$name-$version"
  if [[ -x "$out" ]]; then
    log "$name $version: cached at $out"
    return 0
  fi
  need_cmd go "install Go"
  mkdir -p "$BIN"
  log "$name $version: building (minutes when cold)..."
  local start=$SECONDS gobin errlog="$out.log.$$"
  gobin="$(mktemp -d "$BIN/.$name-build.XXXXXX")"
  trap 'rm -rf "$gobin" "$errlog"' EXIT
  if ! (cd "$TOOLS" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$gobin" \
      go install -trimpath -ldflags "-s -w" "$module@$version") 2>"$errlog"; then
    grep -v '^go: downloading ' "$errlog" >&2 || true
    die "$name build failed"
  fi
  mv -f "$gobin/$(basename "$module")" "$out"
  rm -rf "$gobin" "$errlog"
  trap - EXIT
  log "$name $version: built $out in $((SECONDS - start))s"
}

# build_minio: the MinIO community server (~7 min cold on 2 cores).
build_minio() { go_install_tool minio "$MINIO_VERSION" github.com/minio/minio; }

# build_mc: MinIO's client, for its admin API (users, groups, service
# accounts) in the MinIO tests. AGPL too: only ever run.
build_mc() { go_install_tool mc "$MC_VERSION" github.com/minio/mc; }

# build_opa_stock: the upstream opa binary of the OPA version in go.mod
# (stock OPA, the baseline of scripts/bench-minio.sh), built from this
# module so with its dependency versions.
build_opa_stock() {
  need_cmd go "install Go"
  local version out
  version="$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)"
  out="$BIN/opa-$version"
  if [[ -x "$out" ]]; then
    log "opa $version (stock): cached at $out"
    return 0
  fi
  mkdir -p "$BIN"
  local start=$SECONDS
  (cd "$ROOT" && go build -trimpath -o "$out.tmp.$$" github.com/open-policy-agent/opa) || die "stock opa build failed"
  mv -f "$out.tmp.$$" "$out"
  log "opa $version (stock): built $out in $((SECONDS - start))s"
}

# npm_ci: the npm dependencies of a test-only Node.js program, from its
# committed package-lock.json (skipped while node_modules is newer).
npm_ci() {
  local name="$1" dir="$2"
  need_cmd node "install Node.js >= 20"
  need_cmd npm "install npm"
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  (( major >= 20 )) || die "Node.js >= 20 required, found $(node --version)"
  if [[ -d "$dir/node_modules" && ! "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
    log "$name: node_modules up to date"
    return 0
  fi
  log "$name: npm ci in ${dir#"$ROOT"/}"
  local start=$SECONDS
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$dir/node_modules"
  log "$name: installed in $((SECONDS - start))s"
}

ALL_TOOLS=(hydra versitygw minio mc opa-stock oidc-provider aws-sdk-js)

run_tool() {
  case "$1" in
    hydra) build_hydra ;;
    versitygw) build_versitygw ;;
    minio) build_minio ;;
    mc) build_mc ;;
    opa-stock) build_opa_stock ;;
    oidc-provider) npm_ci oidc-provider "$OIDC_PROVIDER_DIR" ;;
    aws-sdk-js) npm_ci aws-sdk-js "$AWS_SDK_JS_DIR" ;;
    *) die "unknown tool '$1' (known: ${ALL_TOOLS[*]})" ;;
  esac
}

main() {
  local tools=("$@")
  (( ${#tools[@]} )) || tools=("${ALL_TOOLS[@]}")
  local t
  for t in "${tools[@]}"; do run_tool "$t"; done
  log "done (tools dir: $TOOLS)"
}

main "$@"
