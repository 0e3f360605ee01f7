#!/usr/bin/env bash
# moto 5 (an independent implementation of AWS's APIs: S3, DynamoDB, RDS, Route 53, STS, SNS, EC2) on port
# $LIFEBOAT_MOTO_PORT, for the tests of the AWS paths that no other real server covers (the SDK S3 client, Route 53
# errors, S3 Object Lock, ...).
#
#   tests/servers/moto.sh start    # idempotent; waits until it answers; prints env
#   tests/servers/moto.sh env      # prints export lines (fails if not running)
#   tests/servers/moto.sh status   # exit 0 if it answers on its port
#   tests/servers/moto.sh stop     # kills it (moto keeps everything in memory)
#
# moto is preinstalled with pip on this machine kind (`moto_server`); PyPI is not reachable, so this script cannot
# install it and says so. One server answers every service and region (regions are told apart by the request's
# SigV4 credential scope). It checks no signatures and no IAM policies: tests of authentication errors need other
# servers. Where it differs from AWS: ../shared/facts/services.md of the developers' workplace, summarised in
# docs/providers/s3.md and route53.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/moto
PIDFILE=$STATE/moto.pid
LOGFILE=$STATE/moto.log
PORT=$LIFEBOAT_MOTO_PORT
ENDPOINT=http://127.0.0.1:$PORT
READY_TIMEOUT=${LIFEBOAT_MOTO_READY_TIMEOUT:-60}

log() { printf 'moto.sh: %s\n' "$*" >&2; }
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 'moto.sh: ERROR: %s\n' "$*" >&2; exit 1; }

print_env() {
  printf 'export LIFEBOAT_MOTO_ENDPOINT=%s\n' "$ENDPOINT"
}

# moto's own dashboard API answers once the server is up.
answers() { curl -sS --noproxy '*' --max-time 3 -o /dev/null -w '%{http_code}' "$ENDPOINT/moto-api/data.json" 2>/dev/null | grep -q '^200$'; }

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

our_pid() {
  local pid cmdline
  [[ -f $PIDFILE ]] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE" || true)
  pid_alive "$pid" || return 0
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *moto* ]] && echo "$pid"
  return 0
}

do_stop() {
  local pid deadline
  pid=$(our_pid)
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf -- "$STATE"
}

find_moto() {
  local m
  m=$(command -v moto_server 2>/dev/null || true)
  if [[ -z $m ]]; then
    for c in /root/.pyenv/shims/moto_server /usr/local/bin/moto_server "$HOME/.local/bin/moto_server"; do
      [[ -x $c ]] && { m=$c; break; }
    done
  fi
  [[ -n $m ]] || die "moto_server not found: moto (pip package 'moto[server]' 5.x) is preinstalled on this machine kind; install it with pip where PyPI is reachable"
  echo "$m"
}

do_start() {
  command -v curl >/dev/null 2>&1 || die "curl not found: run tests/servers/install.sh (as root) first"
  if answers && [[ -n $(our_pid) ]]; then
    log "already running on $ENDPOINT"
    print_env
    return 0
  fi
  local moto
  moto=$(find_moto)
  do_stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT (LIFEBOAT_MOTO_PORT) on 127.0.0.1 is already in use by another process; set it in tests/servers/ports.env or the environment"
  fi
  mkdir -p "$STATE"
  local t0=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT)) pid
  (exec setsid "$moto" -H 127.0.0.1 -p "$PORT") >"$LOGFILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  until answers; do
    if ! pid_alive "$pid" || ((SECONDS >= deadline)); then
      printf 'moto.sh: ERROR: moto not ready after %s s; last lines of %s:\n' "$(elapsed "$t0")" "$LOGFILE" >&2
      tail -n 25 "$LOGFILE" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "ready on $ENDPOINT in $(elapsed "$t0") s"
  print_env
}

with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.moto.lock"
  flock -w 300 9 || die "timed out waiting for the lock $SERVERS_DIR/.moto.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status)
    if answers; then log "running on $ENDPOINT"; else log "not answering on $ENDPOINT"; exit 1; fi
    ;;
  env)
    answers || die "moto is not answering on $ENDPOINT: run 'tests/servers/moto.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
