#!/usr/bin/env bash
# BIND 9 (Debian's named) as an authoritative server for the zone
# example.internal on 127.0.0.1:$LIFEBOAT_BIND_PORT (UDP and TCP), accepting
# RFC 2136 dynamic updates signed with TSIG, for the DNS traffic-switching
# tests.
#
#   tests/servers/bind.sh start    # idempotent; waits until it answers; prints env
#   tests/servers/bind.sh env      # prints export lines (fails if not running)
#   tests/servers/bind.sh status   # exit 0 if it answers the zone's SOA on its port
#   tests/servers/bind.sh stop     # kills it, deletes its state folder
#   eval "$(tests/servers/bind.sh env)"
#
# State (named.conf, zone files and their journals, keys, log, pid file) lives
# in $LIFEBOAT_SERVERS_DIR/bind-$PORT (default <repo>/.test-servers/bind-PORT,
# gitignored), so several instances on different ports (LIFEBOAT_BIND_PORT)
# can run side by side. Every start begins from fresh zones and fresh keys.
#
# Zones and keys (keys written by tsig-keygen, in its own file format):
#   example.internal  update-policy: grant lifeboat-update  zonesub ANY  (keys/update.key, hmac-sha256)
#                                    grant lifeboat-sha512  zonesub ANY  (keys/sha512.key, hmac-sha512)
#                                    grant lifeboat-sha1    zonesub ANY  (keys/sha1.key,   hmac-sha1)
#                                    grant lifeboat-limited name limited.example.internal. A
#                                                                        (keys/limited.key, hmac-sha256)
#   other.internal    update-policy: grant lifeboat-other   zonesub ANY  (keys/other.key, hmac-sha256)
# Unsigned updates are REFUSED; a key the server does not know gets NOTAUTH
# with TSIG error BADKEY; a known key name with a wrong secret gets NOTAUTH with
# BADSIG; a name outside the zone gets NOTZONE.
#
# named runs as the `bind` user (named -u bind), so the state folder is handed
# to bind (it writes the zones' .jnl journals) and must be reachable by it.
# Needs bind9, bind9-utils (tsig-keygen) and bind9-dnsutils (dig) from install.sh.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
# shellcheck source=SCRIPTDIR/ports.env
. "$SCRIPT_DIR/ports.env"

PORT=$LIFEBOAT_BIND_PORT
SERVERS_DIR=${LIFEBOAT_SERVERS_DIR:-$REPO_DIR/.test-servers}
STATE=$SERVERS_DIR/bind-$PORT
CONF=$STATE/named.conf
PIDFILE=$STATE/named.pid
LOGFILE=$STATE/named.log
ZONE=example.internal
OTHER_ZONE=other.internal
NAMED_USER=${LIFEBOAT_BIND_USER:-bind}
READY_TIMEOUT=${LIFEBOAT_BIND_READY_TIMEOUT:-30}

log() { printf 'bind.sh: %s\n' "$*" >&2; }
# Seconds since $1 (an $EPOCHREALTIME value), with one decimal.
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 'bind.sh: ERROR: %s\n' "$*" >&2; exit 1; }

named_bin() {
  if command -v named >/dev/null 2>&1; then command -v named
  elif [[ -x /usr/sbin/named ]]; then echo /usr/sbin/named
  else return 1
  fi
}
keygen_bin() {
  if command -v tsig-keygen >/dev/null 2>&1; then command -v tsig-keygen
  elif [[ -x /usr/sbin/tsig-keygen ]]; then echo /usr/sbin/tsig-keygen
  else return 1
  fi
}

print_env() {
  printf 'export LIFEBOAT_BIND_PORT=%s\n' "$PORT"
  printf 'export LIFEBOAT_BIND_SERVER=127.0.0.1:%s\n' "$PORT"
  printf 'export LIFEBOAT_BIND_ZONE=%s\n' "$ZONE"
  printf 'export LIFEBOAT_BIND_OTHER_ZONE=%s\n' "$OTHER_ZONE"
  printf 'export LIFEBOAT_BIND_KEY_FILE=%s\n' "$STATE/keys/update.key"
  printf 'export LIFEBOAT_BIND_KEY_NAME=lifeboat-update\n'
  printf 'export LIFEBOAT_BIND_KEYS_DIR=%s\n' "$STATE/keys"
}

# The server answers the zone's SOA authoritatively (dig exits 0 and prints it).
answers() {
  local out
  out=$(dig +norec +time=1 +tries=1 +short -p "$PORT" @127.0.0.1 "$ZONE" SOA 2>/dev/null) || return 1
  [[ $out == *"hostmaster.$ZONE."* ]]
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# The pid from the pid file, if it is still our named (same config file).
our_pid() {
  local pid cmdline
  [[ -f $PIDFILE ]] || return 0
  pid=$(tr -dc '0-9' <"$PIDFILE" || true)
  pid_alive "$pid" || return 0
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  [[ $cmdline == *"$CONF"* ]] && echo "$pid"
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
    pid_alive "$pid" && die "could not kill named (pid $pid)"
  fi
  if [[ -d $STATE ]]; then
    rm -rf -- "$STATE"
  fi
}

write_zone() { # zone file
  cat >"$2" <<EOF
\$TTL 300
@       IN SOA ns.$1. hostmaster.$1. ( 1 3600 600 86400 60 )
        IN NS  ns.$1.
ns      IN A   127.0.0.1
EOF
}

write_config() {
  local keys=$STATE/keys k
  mkdir -p "$keys" "$STATE/zones"
  "$KEYGEN" -a hmac-sha256 lifeboat-update >"$keys/update.key"
  "$KEYGEN" -a hmac-sha512 lifeboat-sha512 >"$keys/sha512.key"
  "$KEYGEN" -a hmac-sha1 lifeboat-sha1 >"$keys/sha1.key"
  "$KEYGEN" -a hmac-sha256 lifeboat-limited >"$keys/limited.key"
  "$KEYGEN" -a hmac-sha256 lifeboat-other >"$keys/other.key"
  # A key the server does not know (same format; for BADKEY tests).
  "$KEYGEN" -a hmac-sha256 lifeboat-unknown >"$keys/unknown.key"
  write_zone "$ZONE" "$STATE/zones/$ZONE.zone"
  write_zone "$OTHER_ZONE" "$STATE/zones/$OTHER_ZONE.zone"
  {
    for k in update sha512 sha1 limited other; do
      printf 'include "%s";\n' "$keys/$k.key"
    done
    cat <<EOF
options {
  directory "$STATE";
  pid-file "$PIDFILE";
  session-keyfile "$STATE/session.key";
  managed-keys-directory "$STATE";
  listen-on port $PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { 127.0.0.1; };
  notify no;
  dnssec-validation no;
};
controls { };
zone "$ZONE" {
  type primary;
  file "$STATE/zones/$ZONE.zone";
  update-policy {
    grant lifeboat-update zonesub ANY;
    grant lifeboat-sha512 zonesub ANY;
    grant lifeboat-sha1 zonesub ANY;
    grant lifeboat-limited name limited.$ZONE. A;
  };
};
zone "$OTHER_ZONE" {
  type primary;
  file "$STATE/zones/$OTHER_ZONE.zone";
  update-policy { grant lifeboat-other zonesub ANY; };
};
EOF
  } >"$CONF"
}

do_start() {
  NAMED=$(named_bin) || die "named not found: run tests/servers/install.sh (as root) first (package bind9)"
  KEYGEN=$(keygen_bin) || die "tsig-keygen not found: run tests/servers/install.sh (as root) first (package bind9-utils)"
  command -v dig >/dev/null 2>&1 || die "dig not found: run tests/servers/install.sh (as root) first (package bind9-dnsutils)"
  if answers && [[ -n $(our_pid) ]]; then
    log "already running on 127.0.0.1:$PORT"
    print_env
    return 0
  fi
  if [[ -e $STATE ]]; then
    log "removing previous state in $STATE"
  fi
  do_stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT (LIFEBOAT_BIND_PORT) on 127.0.0.1 is already in use by another process; set it in tests/servers/ports.env or the environment"
  fi
  mkdir -p "$STATE"
  write_config
  if command -v named-checkconf >/dev/null 2>&1; then
    named-checkconf "$CONF" >"$STATE/checkconf.log" 2>&1 || true
  fi
  if [[ $(id -u) -eq 0 ]]; then
    id "$NAMED_USER" >/dev/null 2>&1 || die "user $NAMED_USER does not exist (package bind9 creates it)"
    chown -R "$NAMED_USER:" "$STATE"
    # named (as bind) must reach the state folder through its parents.
    local d=$STATE
    while [[ $d != / ]]; do
      d=$(dirname "$d")
      runuser -u "$NAMED_USER" -- test -x "$d" || die "user $NAMED_USER cannot enter $d (named needs to reach $STATE); set LIFEBOAT_SERVERS_DIR to a reachable folder"
    done
    USER_ARGS=(-u "$NAMED_USER")
  else
    USER_ARGS=()
  fi

  local t0=$EPOCHREALTIME deadline=$((SECONDS + READY_TIMEOUT)) pid
  # -f: foreground (the pid is ours to watch); setsid: own session, so the server
  # outlives the caller's shell; stdio detached; fd 9 (the lock) closed.
  setsid "$NAMED" -f -c "$CONF" "${USER_ARGS[@]}" -L "$LOGFILE" >"$STATE/named.out" 2>&1 </dev/null 9>&- &
  pid=$!
  until answers; do
    if ! pid_alive "$pid" || ((SECONDS >= deadline)); then
      printf 'bind.sh: ERROR: named not ready after %s s; last lines of %s and %s:\n' \
        "$(elapsed "$t0")" "$LOGFILE" "$STATE/checkconf.log" >&2
      tail -n 25 "$LOGFILE" "$STATE/named.out" "$STATE/checkconf.log" >&2 2>/dev/null || true
      pid_alive "$pid" && kill -TERM "$pid" 2>/dev/null
      exit 1
    fi
    sleep 0.05
  done
  log "ready on 127.0.0.1:$PORT (zones $ZONE, $OTHER_ZONE) in $(elapsed "$t0") s"
  print_env
}

# start and stop hold a lock (outside the state folder, which stop deletes) so
# that concurrent callers, e.g. parallel test processes, do not race.
with_lock() {
  mkdir -p "$SERVERS_DIR"
  exec 9>"$SERVERS_DIR/.bind-$PORT.lock"
  flock -w 120 9 || die "timed out waiting for the lock $SERVERS_DIR/.bind-$PORT.lock"
}

case ${1:-} in
  start) with_lock; do_start ;;
  stop) with_lock; do_stop; log "stopped" ;;
  status)
    if answers; then log "running on 127.0.0.1:$PORT"; else log "not answering on 127.0.0.1:$PORT"; exit 1; fi
    ;;
  env)
    answers || die "named is not answering on 127.0.0.1:$PORT: run 'tests/servers/bind.sh start' first"
    print_env
    ;;
  *) printf 'usage: %s start|stop|status|env\n' "$0" >&2; exit 2 ;;
esac
