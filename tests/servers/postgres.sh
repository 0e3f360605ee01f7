#!/usr/bin/env bash
# PostgreSQL 15 (Debian postgresql-15) on 127.0.0.1:$LIFEBOAT_POSTGRES_PORT for the WAL shipping, base backup and
# point-in-time restore tests.
#
#   tests/servers/postgres.sh start    # idempotent; waits until pg_isready; prints env
#   tests/servers/postgres.sh env      # prints export lines (fails if not running)
#   tests/servers/postgres.sh status   # exit 0 if it accepts connections
#   tests/servers/postgres.sh stop     # stops it (fast mode), deletes its data folder
#   eval "$(tests/servers/postgres.sh env)"
#
# PostgreSQL refuses to run as root: initdb and pg_ctl run as the `postgres` user (runuser) on a folder it owns,
# $LIFEBOAT_SERVERS_DIR/postgres (default <repo>/.test-servers/postgres, made world-traversable). The unix socket goes
# to that folder too. Settings: wal_level=replica, max_wal_senders=10, max_replication_slots=10, listen on 127.0.0.1
# only, password (scram) authentication on TCP. Roles: `lifeboat` (LOGIN REPLICATION, password lifeboat) for the
# tools, `lifeboat_norepl` (LOGIN, no REPLICATION) for the permission tests; the superuser `postgres` has the password
# postgres too.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/postgres
DATA=$STATE/data
LOGFILE=$STATE/postgres.log
PORT=${LIFEBOAT_PG_PORT:-$LIFEBOAT_POSTGRES_PORT}
READY_TIMEOUT=${LIFEBOAT_POSTGRES_READY_TIMEOUT:-60}

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { printf 'postgres.sh: ERROR: %s\n' "$*" >&2; exit 1; }

find_bin() {
  local d
  for d in /usr/lib/postgresql/15/bin; do
    [[ -x $d/pg_ctl ]] && { echo "$d"; return 0; }
  done
  d=$(dpkg -L postgresql-15 2>/dev/null | grep '/bin/pg_ctl$' | head -n1 || true)
  [[ -n $d ]] && { dirname "$d"; return 0; }
  return 1
}
BIN=$(find_bin) || die "PostgreSQL 15 not found (package postgresql-15): run tests/servers/install.sh (as root) first"

as_pg() {
  if [[ $(id -un) == postgres ]]; then "$@"; else runuser -u postgres -- "$@"; fi
}

print_env() {
  printf 'export LIFEBOAT_PG_HOST=127.0.0.1\n'
  printf 'export LIFEBOAT_PG_PORT=%s\n' "$PORT"
  printf 'export LIFEBOAT_PG_USER=lifeboat\n'
  printf 'export LIFEBOAT_PG_PASSWORD=lifeboat\n'
  printf 'export LIFEBOAT_PG_SUPERUSER=postgres\n'
  printf 'export LIFEBOAT_PG_SUPERPASSWORD=postgres\n'
  printf 'export LIFEBOAT_PG_BIN=%s\n' "$BIN"
  printf 'export LIFEBOAT_PG_SOCKET_DIR=%s\n' "$STATE"
}

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }

our_server() { [[ -f $DATA/postmaster.pid ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

do_stop() {
  if our_server; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
  fi
  [[ -d $STATE ]] && rm -rf -- "$STATE"
  return 0
}

do_start() {
  if our_server && ready; then
    log "already running on 127.0.0.1:$PORT"
    print_env
    return 0
  fi
  do_stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT (LIFEBOAT_POSTGRES_PORT) on 127.0.0.1 is already in use by another process; set it in tests/servers/ports.env or the environment"
  fi
  mkdir -p "$STATE"
  chmod 755 "$SERVERS_DIR" "$STATE"
  chown postgres:postgres "$STATE" 2>/dev/null || true
  local t0=$SECONDS pw
  pw=$(mktemp)
  echo postgres >"$pw"
  chmod 644 "$pw"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pw" -A scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 \
    >"$STATE/initdb.log" 2>&1 || { rm -f "$pw"; cat "$STATE/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pw"
  cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$STATE'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
fsync = on
shared_buffers = 128MB
max_wal_size = 2GB
log_min_messages = warning
CONF
  cat >"$DATA/pg_hba.conf" <<HBA
local all all trust
local replication all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
HBA
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOGFILE" -w -t "$READY_TIMEOUT" start >/dev/null 9>&- \
    || { tail -n 25 "$LOGFILE" >&2; die "pg_ctl start failed"; }
  local deadline=$((SECONDS + READY_TIMEOUT))
  until ready; do
    ((SECONDS < deadline)) || { tail -n 25 "$LOGFILE" >&2; die "not ready after $READY_TIMEOUT s"; }
    sleep 0.1
  done
  as_pg "$BIN/psql" -X -q -h "$STATE" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE lifeboat LOGIN REPLICATION PASSWORD 'lifeboat'" \
    -c "GRANT pg_read_all_settings, pg_read_all_stats, pg_monitor TO lifeboat" \
    -c "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO lifeboat" \
    -c "CREATE ROLE lifeboat_norepl LOGIN PASSWORD 'lifeboat'" >/dev/null || die "creating roles failed"
  log "ready on 127.0.0.1:$PORT in $((SECONDS - t0)) s"
  print_env
}

with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.postgres.lock"
  flock -w 300 9 || die "timed out waiting for the lock $SERVERS_DIR/.postgres.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status)
    if ready; then log "running on 127.0.0.1:$PORT"; else log "not answering on 127.0.0.1:$PORT"; exit 1; fi
    ;;
  env)
    ready || die "PostgreSQL is not answering on 127.0.0.1:$PORT: run 'tests/servers/postgres.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
