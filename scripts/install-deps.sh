#!/usr/bin/env bash
# Installs the Debian packages the tests use, when they are missing:
# make, git, a C compiler (hydra's cgo sqlite), curl, Node.js and npm (the
# oidc-provider identity provider), the AWS CLI (/usr/bin/aws), and nginx
# and etcd-server, which the tests start themselves on loopback.
# Idempotent; needs root (or password-less sudo) only when something is
# missing. `make test` runs it first.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; fi
fi
log() { printf '[install-deps] %s\n' "$*" >&2; }

missing_of() {
  local out=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || out+=("$pkg"); done
  echo "${out[@]:-}"
}

apt_install() {
  local missing
  missing=$(missing_of "$@")
  [ -z "$missing" ] && return 0
  command -v apt-get >/dev/null 2>&1 || { log "missing: $missing (install them; no apt-get here)"; exit 1; }
  if [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; then
    log "missing: $missing; run: sudo apt-get install -y $missing"; exit 1
  fi
  log "apt-get install $missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Packages whose install would start a daemon (nginx on every interface):
# keep them from starting while they are installed.
apt_install_no_start() {
  local missing
  missing=$(missing_of "$@")
  [ -z "$missing" ] && return 0
  local created=false
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
    created=true
  fi
  # shellcheck disable=SC2086
  apt_install $missing
  if [ "$created" = true ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
}

command -v dpkg >/dev/null 2>&1 || { log "not a Debian system: install make, gcc, node, npm, the AWS CLI, nginx and etcd yourself"; exit 0; }
apt_install make git gcc libc6-dev ca-certificates curl awscli
apt_install_no_start nginx etcd-server
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
exit 0
