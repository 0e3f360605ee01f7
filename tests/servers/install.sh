#!/usr/bin/env bash
# Installs the Debian packages the Lifeboat test servers need (Debian 12).
# Idempotent: when every package is already installed it returns at once
# without touching apt. Runs as root (or through sudo when available).
#
#   bash tests/servers/install.sh
#
# Output is one line per step; apt's own output goes to a log file
# ($LIFEBOAT_INSTALL_LOG, default /tmp/lifeboat-install.log) whose tail is
# printed if a step fails.
set -euo pipefail

PACKAGES=(
  # Ceph RADOS Gateway, rgw.sh
  ceph-mon ceph-osd radosgw ceph-common
  # DynamoDB Local (a Java program), dynamodb.sh
  openjdk-17-jre-headless
  # clients and peer tools used by tests and benchmarks
  awscli rclone curl
  librsvg2-bin  # rsvg-convert: PNG of `lifeboat cost --scenario` charts (optional; no test needs it)
  # later servers: BIND 9, PostgreSQL 15 + pgBackRest
  bind9 bind9-utils bind9-dnsutils
  postgresql-15 pgbackrest
  # the native linker of the release package (Native AOT: build/package.sh, which run.sh builds and tests)
  clang lld
)

LOG=${LIFEBOAT_INSTALL_LOG:-/tmp/lifeboat-install.log}

step() { printf 'install.sh: %s\n' "$*"; }
die() {
  printf 'install.sh: ERROR: %s\n' "$*" >&2
  if [[ -s $LOG ]]; then
    printf 'install.sh: last lines of %s:\n' "$LOG" >&2
    tail -n 30 "$LOG" >&2
  fi
  exit 1
}

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  step "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "must run as root (missing: ${missing[*]})"
  SUDO=(sudo -n)
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script targets Debian 12"

: >"$LOG" || die "cannot write log file $LOG"
step "missing: ${missing[*]}"

step "apt-get update (log: $LOG)"
"${SUDO[@]}" apt-get update >>"$LOG" 2>&1 || die "apt-get update failed"

step "apt-get install ${#missing[@]} package(s)"
start=$SECONDS
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >>"$LOG" 2>&1 || die "apt-get install failed"

for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $status == installed ]] || die "package $p is still not installed after apt-get install"
done
step "installed in $((SECONDS - start)) s"
