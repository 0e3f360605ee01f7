#!/usr/bin/env bash
# s3rver (npm): a light, less faithful S3 emulator on 127.0.0.1:$LIFEBOAT_S3RVER_PORT.
# Ready in well under a second; use rgw.sh when fidelity matters (s3rver has no
# versioning, no ListParts/ListMultipartUploads/Abort, no "-N" multipart ETags,
# ignores checksums, sends no event notifications; the .NET SDK's CopyObject
# fails against it).
#
#   tests/servers/s3rver.sh start    # idempotent; waits until it answers; prints env
#   tests/servers/s3rver.sh env      # prints export lines (fails if not running)
#   tests/servers/s3rver.sh status   # exit 0 if it answers HTTP on its port
#   tests/servers/s3rver.sh stop     # kills it, deletes its state folder
#   eval "$(tests/servers/s3rver.sh env)"
#
# Prints the same variable names as rgw.sh (LIFEBOAT_S3_ENDPOINT, ..._ACCESS_KEY,
# ..._SECRET_KEY), so either server can back the same tests. Keys: S3RVER/S3RVER.
# State (data, log, pid file): $LIFEBOAT_SERVERS_DIR/s3rver (default
# <repo>/.test-servers/s3rver). The npm package is installed once into
# $LIFEBOAT_SERVERS_DIR/tools/s3rver and kept across stop/start.
# Needs node + npm (Node 17+ needs --openssl-legacy-provider, which is passed:
# without it truncated ListObjectsV2 pages return 500).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

S3RVER_VERSION=3.7.1
SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/s3rver
TOOLS=$SERVERS_DIR/tools/s3rver
BIN=$TOOLS/node_modules/s3rver/bin/s3rver.js
PIDFILE=$STATE/s3rver.pid
PORT=$LIFEBOAT_S3RVER_PORT
ENDPOINT=http://127.0.0.1:$PORT
READY_TIMEOUT=${LIFEBOAT_S3RVER_READY_TIMEOUT:-30}

log() { printf 's3rver.sh: %s\n' "$*" >&2; }
# Seconds since $1 (an $EPOCHREALTIME value), with one decimal.
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 's3rver.sh: ERROR: %s\n' "$*" >&2; exit 1; }

print_env() {
  printf 'export LIFEBOAT_S3_ENDPOINT=%s\n' "$ENDPOINT"
  printf 'export LIFEBOAT_S3_ACCESS_KEY=%s\n' S3RVER
  printf 'export LIFEBOAT_S3_SECRET_KEY=%s\n' S3RVER
}

# s3rver answers an anonymous GET / with a ListAllMyBucketsResult.
answers() {
  local body
  body=$(curl -sS --noproxy '*' --max-time 3 "$ENDPOINT/" 2>/dev/null) || return 1
  [[ $body == *ListAllMyBucketsResult* ]]
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# The pid from the pid file, if it is still our node process.
our_pid() {
  local pid cmdline
  [[ -f $PIDFILE ]] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE" || true)
  pid_alive "$pid" || return 0
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *"$BIN"* ]] && echo "$pid"
  return 0
}

do_stop() {
  local pid deadline
  pid=$(our_pid)
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if pid_alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
    pid_alive "$pid" && die "could not kill s3rver (pid $pid)"
  fi
  if [[ -d $STATE ]]; then
    rm -rf -- "$STATE"
  fi
}

ensure_installed() {
  [[ -f $BIN ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm not found (s3rver is an npm package)"
  log "installing s3rver@$S3RVER_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  [[ -f $TOOLS/package.json ]] || printf '{"private":true}\n' >"$TOOLS/package.json"
  if ! (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION") \
      >"$TOOLS/npm-install.log" 2>&1; then
    tail -n 20 "$TOOLS/npm-install.log" >&2
    die "npm install s3rver@$S3RVER_VERSION failed (log: $TOOLS/npm-install.log)"
  fi
  [[ -f $BIN ]] || die "s3rver installed but $BIN is missing"
}

do_start() {
  command -v node >/dev/null 2>&1 || die "node not found"
  command -v curl >/dev/null 2>&1 || die "curl not found: run tests/servers/install.sh first"
  if answers && [[ -n $(our_pid) ]]; then
    log "already running on $ENDPOINT"
    print_env
    return 0
  fi
  ensure_installed
  if [[ -e $STATE ]]; then
    log "removing previous state in $STATE"
  fi
  do_stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT (LIFEBOAT_S3RVER_PORT) on 127.0.0.1 is already in use by another process"
  fi
  mkdir -p "$STATE/data"

  local t0=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT)) pid
  # setsid: own session, so the server outlives the caller's shell/job.
  setsid node --openssl-legacy-provider "$BIN" -d "$STATE/data" -a 127.0.0.1 -p "$PORT" --silent \
    >"$STATE/s3rver.log" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  until answers; do
    if ! pid_alive "$pid" || ((SECONDS >= deadline)); then
      printf 's3rver.sh: ERROR: s3rver not ready after %s s; last lines of %s:\n' \
        "$(elapsed "$t0")" "$STATE/s3rver.log" >&2
      tail -n 25 "$STATE/s3rver.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "ready on $ENDPOINT in $(elapsed "$t0") s"
  print_env
}

# start and stop hold a lock (outside the state folder, which stop deletes) so
# that concurrent callers, e.g. parallel test processes, do not race. The
# server is started with fd 9 closed, else it would hold the lock forever.
with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.s3rver.lock"
  flock -w 300 9 || die "timed out waiting for the lock $SERVERS_DIR/.s3rver.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status)
    if answers; then log "running on $ENDPOINT"; else log "not answering on $ENDPOINT"; exit 1; fi
    ;;
  env)
    answers || die "s3rver is not answering on $ENDPOINT: run 'tests/servers/s3rver.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
