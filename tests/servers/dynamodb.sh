#!/usr/bin/env bash
# DynamoDB Local 1.25 (AWS's own emulator, with DynamoDB Streams on the same
# endpoint) on port $LIFEBOAT_DYNAMODB_PORT, for the table replication tests.
#
#   tests/servers/dynamodb.sh start    # idempotent; waits until it answers; prints env
#   tests/servers/dynamodb.sh env      # prints export lines (fails if not running)
#   tests/servers/dynamodb.sh status   # exit 0 if it answers ListTables on its port
#   tests/servers/dynamodb.sh stop     # kills it, deletes its state folder
#   eval "$(tests/servers/dynamodb.sh env)"
#
# The emulator comes from the npm package amplify-dynamodb-simulator, which
# ships DynamoDBLocal.jar 1.25.1, its libraries and the linux native sqlite4java
# under package/emulator/. The package is fetched once with `npm pack` into
# $LIFEBOAT_SERVERS_DIR/tools/dynamodb (default <repo>/.test-servers/tools,
# gitignored) and unpacked there; its npm dependencies are not needed.
# Needs java (17; openjdk-17-jre-headless in install.sh) and npm.
#
# Flags: -sharedDb (otherwise every access key/region pair sees a separate
# database), -inMemory (tables and stream records are gone after stop),
# -disableTelemetry, -Xmx256m. DynamoDB Local has no bind option: it listens
# on every interface; clients use 127.0.0.1. It accepts any credentials and
# does not check signatures, but a request must carry an Authorization header.
# Streams: one open shard per stream that never splits, records never trimmed,
# iterators never expire (tests of those paths use a scripted fake endpoint).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

PACKAGE=amplify-dynamodb-simulator
PACKAGE_VERSION=2.9.30 # ships DynamoDBLocal 1.25.1
SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/dynamodb
TOOLS=$SERVERS_DIR/tools/dynamodb
EMULATOR=$TOOLS/package/emulator
JAR=$EMULATOR/DynamoDBLocal.jar
PIDFILE=$STATE/dynamodb.pid
LOGFILE=$STATE/dynamodb.log
PORT=$LIFEBOAT_DYNAMODB_PORT
ENDPOINT=http://127.0.0.1:$PORT
READY_TIMEOUT=${LIFEBOAT_DYNAMODB_READY_TIMEOUT:-60}

log() { printf 'dynamodb.sh: %s\n' "$*" >&2; }
# Seconds since $1 (an $EPOCHREALTIME value), with one decimal.
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 'dynamodb.sh: ERROR: %s\n' "$*" >&2; exit 1; }

print_env() {
  printf 'export LIFEBOAT_DDB_ENDPOINT=%s\n' "$ENDPOINT"
}

# DynamoDB Local answers ListTables to any request that carries an
# Authorization header (it does not verify signatures).
answers() {
  local body
  body=$(curl -sS --noproxy '*' --max-time 3 -X POST "$ENDPOINT/" \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=lifeboat/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d '{}' 2>/dev/null) || return 1
  [[ $body == *TableNames* ]]
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# The pid from the pid file, if it is still our java process.
our_pid() {
  local pid cmdline
  [[ -f $PIDFILE ]] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE" || true)
  pid_alive "$pid" || return 0
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *"$JAR"* ]] && echo "$pid"
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
      deadline=$((SECONDS + 5))
      while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    fi
    pid_alive "$pid" && die "could not kill DynamoDB Local (pid $pid)"
  fi
  if [[ -d $STATE ]]; then
    rm -rf -- "$STATE"
  fi
}

ensure_installed() {
  [[ -f $JAR ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm not found ($PACKAGE is an npm package)"
  command -v tar >/dev/null 2>&1 || die "tar not found"
  log "fetching $PACKAGE@$PACKAGE_VERSION into $TOOLS"
  rm -rf -- "$TOOLS"
  mkdir -p "$TOOLS"
  if ! (cd "$TOOLS" && npm pack --silent --loglevel=error "$PACKAGE@$PACKAGE_VERSION") >"$TOOLS/npm-pack.log" 2>&1; then
    tail -n 20 "$TOOLS/npm-pack.log" >&2
    die "npm pack $PACKAGE@$PACKAGE_VERSION failed (log: $TOOLS/npm-pack.log)"
  fi
  tar xzf "$TOOLS/$PACKAGE-$PACKAGE_VERSION.tgz" -C "$TOOLS" || die "cannot unpack $TOOLS/$PACKAGE-$PACKAGE_VERSION.tgz"
  rm -f -- "$TOOLS/$PACKAGE-$PACKAGE_VERSION.tgz"
  [[ -f $JAR ]] || die "$PACKAGE unpacked but $JAR is missing"
}

do_start() {
  command -v java >/dev/null 2>&1 || die "java not found: run tests/servers/install.sh (as root) first"
  command -v curl >/dev/null 2>&1 || die "curl not found: run tests/servers/install.sh (as root) first"
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
    die "port $PORT (LIFEBOAT_DYNAMODB_PORT) on 127.0.0.1 is already in use by another process; set it in tests/servers/ports.env or the environment"
  fi
  mkdir -p "$STATE"

  local t0=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT)) pid
  # setsid: own session, so the server outlives the caller's shell/job. The
  # working folder is the emulator's (it finds DynamoDBLocal_lib relative to it);
  # stdin/stdout/stderr are detached so a caller capturing our output is not
  # blocked by the daemon holding the pipe; fd 9 (the lock) is closed.
  (cd "$EMULATOR" && exec setsid java -Xmx256m -Djava.library.path=./DynamoDBLocal_lib -jar "$JAR" \
      -port "$PORT" -sharedDb -inMemory -disableTelemetry) >"$LOGFILE" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PIDFILE"
  until answers; do
    if ! pid_alive "$pid" || ((SECONDS >= deadline)); then
      printf 'dynamodb.sh: ERROR: DynamoDB Local not ready after %s s; last lines of %s:\n' \
        "$(elapsed "$t0")" "$LOGFILE" >&2
      tail -n 25 "$LOGFILE" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "ready on $ENDPOINT in $(elapsed "$t0") s"
  print_env
}

# start and stop hold a lock (outside the state folder, which stop deletes) so
# that concurrent callers, e.g. parallel test processes, do not race.
with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.dynamodb.lock"
  flock -w 300 9 || die "timed out waiting for the lock $SERVERS_DIR/.dynamodb.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status)
    if answers; then log "running on $ENDPOINT"; else log "not answering on $ENDPOINT"; exit 1; fi
    ;;
  env)
    answers || die "DynamoDB Local is not answering on $ENDPOINT: run 'tests/servers/dynamodb.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
