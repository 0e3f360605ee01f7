#!/usr/bin/env bash
# PostgreSQL benchmarks, Lifeboat vs pgBackRest in the same run against the same database (run by hand, not a test):
#   bash bench/pg.sh [scale]          # scale for pgbench -i (default 70: ~1.05 GB)
#   LIFEBOAT_BENCH_REPS=3 (base backups per tool, median)   LIFEBOAT_BENCH_ONLY=backup (stop after the base backups)
#   LIFEBOAT_BENCH_CLI=artifacts/package/lifeboat-linux-x64/lifeboat (measure that executable, e.g. the release package)
# Starts its own PostgreSQL 15 cluster on port LIFEBOAT_BENCH_PG_PORT (default 15450; restores on 15451/15452) with
# wal_level=replica and archive_command = pgbackrest archive-push (pgBackRest's backups need its own archive), and
# Lifeboat in stream mode (replication slot) into a folder store; pgBackRest's repo is a local folder too.
#   1. base backup of the pgbench database: `lifeboat pg backup` vs `pgbackrest backup --type=full`
#      (Lifeboat zlib level 2 (zlib-ng: the size of classic zlib level 1), pgBackRest gz level 1 and lz4; process-max 2 = cores)
#   2. steady pgbench (-c 4, -R 300 tx/s) for 60 s while `lifeboat replicate` streams: WAL lag = time from a server
#      position being flushed (sampled every 0.2 s) until wal-tip.json says it is archived; p50/p99/max
#      pgBackRest's restore fetches WAL asynchronously ([global:archive-get] archive-async=y, queue 128 MiB, as its user
#      guide recommends for restores); LIFEBOAT_BENCH_BR_ASYNC_GET=n gives its default one-process-per-segment fetch
#   3. ~500 MB more WAL (unthrottled pgbench), then point-in-time restore to a time after it, started and promoted:
#      `lifeboat pg restore --time T --start` vs `pgbackrest restore --type=time` + pg_ctl start until promoted; the
#      phases of both (files restored, server start and sync, redo, promotion) are logged from the servers' logs
# Prints Markdown rows for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scale=${1:-70}
reps=${LIFEBOAT_BENCH_REPS:-3}          # base backups per tool (median)
only=${LIFEBOAT_BENCH_ONLY:-}            # "backup": stop after the base backups
port=${LIFEBOAT_BENCH_PG_PORT:-15450}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
work=$(mktemp -d /tmp/lifeboat-bench-pg.XXXXXX)
chmod 755 "$work"
lb_pid=""
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
  [ -n "$lb_pid" ] && kill "$lb_pid" 2>/dev/null && wait "$lb_pid" 2>/dev/null || true
  for d in "$work/data" "$work/r-lb" "$work/r-br"; do
    [ -f "$d/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf 'pg.sh: %s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

./lifeboat --help >/dev/null   # builds (ReadyToRun) into artifacts/cli
# LIFEBOAT_BENCH_CLI: a lifeboat executable to measure instead of that build (e.g. the release package, build/package.sh).
lbcmd=${LIFEBOAT_BENCH_CLI:-dotnet artifacts/cli/lifeboat.dll}
lifeboat() { $lbcmd "$@"; }

mkdir -p "$work/store" "$work/repo" "$work/spool"
chown postgres:postgres "$work" "$work/repo" "$work/spool"
cat >"$work/pgbackrest.conf" <<CONF
[global]
repo1-path=$work/repo
repo1-retention-full=2
process-max=2
compress-type=gz
compress-level=1
start-fast=y
spool-path=$work/spool
log-path=$work/spool
lock-path=$work/spool
log-level-console=warn
$( [ "${LIFEBOAT_BENCH_BR_ASYNC_GET:-y}" = y ] && printf '[global:archive-get]\narchive-async=y\narchive-get-queue-max=128MiB\n' )
[bench]
pg1-path=$work/data
pg1-port=$port
pg1-socket-path=$work
CONF
chmod 644 "$work/pgbackrest.conf"
br() { as_pg pgbackrest --config="$work/pgbackrest.conf" --stanza=bench "$@"; }

log "initdb + start on $port"
as_pg "$bin/initdb" -D "$work/data" -U postgres -A trust --no-sync >/dev/null
cat >>"$work/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
wal_level = replica
max_wal_senders = 10
max_wal_size = 4GB
shared_buffers = 256MB
archive_mode = on
archive_command = 'pgbackrest --config=$work/pgbackrest.conf --stanza=bench archive-push %p'
CONF
as_pg "$bin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start >/dev/null 9>&-
psql() { command psql -X -q -A -t -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }
psql -c "CREATE ROLE lifeboat LOGIN REPLICATION SUPERUSER"
br stanza-create >/dev/null

log "pgbench -i -s $scale"
t0=$(now); "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1; log "loaded in $(secs "$t0" "$(now)") s"
psql -c "CHECKPOINT"
dbsize=$(psql -c "SELECT pg_size_pretty(pg_database_size('postgres'))")

cat >"$work/lb.yaml" <<CONF
state: $work/state.db
stores:
  local: { type: file, path: $work/store }
resources:
  - name: bench
    type: postgres
    connection: { host: 127.0.0.1, port: $port, user: lifeboat, database: postgres }
    target: { store: local, bucket: pg, prefix: bench/ }
    wal: stream
    partial_every: 1s
    base_backup: { keep: 2 }
    rpo: 1m
CONF

log "replicate (stream) in the background"
$lbcmd replicate -c "$work/lb.yaml" >"$work/replicate.log" 2>&1 &   # not the function: $! must be the process
lb_pid=$!
tip="$work/store/pg/bench/wal-tip.json"
until [ -f "$tip" ]; do sleep 0.2; done

# The archiver first ships what pgbench -i wrote (pgBackRest's archive-push compresses every segment), so that neither
# tool's first run competes with it.
until [ "$(psql -c "SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")" = 0 ]; do sleep 0.5; done
sync   # the kernel's writeback of what pgbench -i wrote must not land on whichever tool runs first
# Each tool backs up $reps times, alternating, into an emptied store; the median counts (all runs are printed).
med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
lb_runs=() br_runs=() lz_runs=()
for r in $(seq 1 "$reps"); do
  rm -rf "$work/store/pg/bench/backups"
  log "base backup $r/$reps: Lifeboat"
  t0=$(now); lifeboat pg backup -c "$work/lb.yaml" -r bench >"$work/lb-backup.log" 2>&1; lb_runs+=("$(secs "$t0" "$(now)")")
  lb_stored=$(du -sb "$work/store/pg/bench/backups" | cut -f1)
  log "$(grep -o 'done: .*' "$work/lb-backup.log" | head -n1)"
  log "base backup $r/$reps: pgBackRest (gz level 1)"
  t0=$(now); br --type=full backup; br_runs+=("$(secs "$t0" "$(now)")")
  br_stored=$(du -sb "$(ls -d "$work"/repo/backup/bench/*F | tail -n1)" | cut -f1)
  log "base backup $r/$reps: pgBackRest (lz4)"
  t0=$(now); br --type=full --compress-type=lz4 backup; lz_runs+=("$(secs "$t0" "$(now)")")
  log "runs so far: Lifeboat ${lb_runs[*]}; pgBackRest gz ${br_runs[*]}; lz4 ${lz_runs[*]}"
done
lb_backup=$(med "${lb_runs[@]}"); br_backup=$(med "${br_runs[@]}"); br_backup_lz4=$(med "${lz_runs[@]}")
if [ "$only" = backup ]; then
  echo "| base backup to a local folder | $lb_backup s (runs: ${lb_runs[*]}; $((lb_stored / 1048576)) MB stored, zlib 2) | $br_backup s (runs: ${br_runs[*]}; $((br_stored / 1048576)) MB, gz 1, process-max 2); lz4: $br_backup_lz4 s | $(awk -v a="$lb_backup" -v b="$br_backup" 'BEGIN { printf "%.2fx", a / b }') |"
  exit 0
fi

log "steady pgbench 60 s while streaming: WAL lag"
"$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c 4 -j 2 -R 300 -T 60 postgres >"$work/steady.log" 2>&1 &
bench_pid=$!
: >"$work/samples"
while kill -0 "$bench_pid" 2>/dev/null; do
  s=$(psql -c "SELECT pg_current_wal_flush_lsn() || ' ' || extract(epoch from clock_timestamp())")
  t=$(grep -o '"lsn": *"[^"]*"' "$tip" 2>/dev/null | cut -d'"' -f4 || true)
  echo "$s $(now) $t" >>"$work/samples"
  sleep 0.2
done
wait "$bench_pid" || true
for i in $(seq 1 50); do   # let the tail drain
  t=$(grep -o '"lsn": *"[^"]*"' "$tip" 2>/dev/null | cut -d'"' -f4 || true)
  echo "- - $(now) $t" >>"$work/samples"; sleep 0.2
done
lag=$(python3 - "$work/samples" <<'PY'
import sys
def lsn(s):
    hi, lo = s.split('/'); return (int(hi, 16) << 32) | int(lo, 16)
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 4]
obs = [(float(r[2]), lsn(r[3])) for r in rows]          # (local time, archived lsn)
lags = []
for r in rows:
    if r[0] == '-': continue
    want, at = lsn(r[0]), float(r[2])
    done = next((t for t, a in obs if t >= at and a >= want), None)
    if done is None: lags.append(float('inf'))
    else: lags.append(done - at)
lags.sort()
p = lambda q: lags[min(len(lags) - 1, max(0, int(round(q * len(lags) + 0.5)) - 1))]
print(f"{len(lags)} samples, p50 {p(0.5):.2f} s, p99 {p(0.99):.2f} s, max {lags[-1]:.2f} s")
PY
)
log "lag: $lag"

log "~500 MB of WAL"
start_lsn=$(psql -c "SELECT pg_current_wal_lsn()")
"$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c 4 -j 2 -T 600 postgres >"$work/wal.log" 2>&1 &
wal_pid=$!
while :; do
  gen=$(psql -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$start_lsn')::bigint")
  [ "$gen" -ge 524288000 ] && break
  sleep 1
done
kill -TERM "$wal_pid" 2>/dev/null; wait "$wal_pid" 2>/dev/null || true
psql -c "CREATE TABLE bench_marker AS SELECT 1 AS x"
target=$(psql -c "SELECT clock_timestamp()")
psql -c "CREATE TABLE bench_after AS SELECT 1 AS x"
psql -c "SELECT pg_switch_wal()" >/dev/null
flush=$(psql -c "SELECT pg_current_wal_flush_lsn()")
wal_mb=$(psql -c "SELECT pg_wal_lsn_diff('$flush', '$start_lsn')::bigint / 1048576")
# Both archives must hold the WAL before restoring.
until python3 -c "
import json,sys
def lsn(s):
    hi, lo = s.split('/'); return (int(hi, 16) << 32) | int(lo, 16)
sys.exit(0 if lsn(json.load(open('$tip'))['lsn']) >= lsn('$flush') else 1)" 2>/dev/null; do sleep 0.5; done
until [ "$(psql -c "SELECT last_archived_wal >= pg_walfile_name('$flush') FROM pg_stat_archiver")" = t ]; do sleep 0.5; done
kill "$lb_pid"; wait "$lb_pid" 2>/dev/null || true; lb_pid=""
ref=$(psql -c "SELECT sum(abalance) FROM pgbench_accounts")
log "restore to $target (WAL since the backups: $wal_mb MB)"

t0=$(now)
lifeboat pg restore -c "$work/lb.yaml" -r bench --target-dir "$work/r-lb" --time "$target" --start --port $((port + 1)) >"$work/lb-restore.log" 2>&1
lb_restore=$(secs "$t0" "$(now)")
lb_sum=$(command psql -X -A -t -h "$work/r-lb" -p $((port + 1)) -U postgres -d postgres -c "SELECT sum(abalance) FROM pgbench_accounts")
lb_after=$(command psql -X -A -t -h "$work/r-lb" -p $((port + 1)) -U postgres -d postgres -c "SELECT count(*) FROM pg_tables WHERE tablename IN ('bench_marker','bench_after')")
as_pg "$bin/pg_ctl" -D "$work/r-lb" -m immediate -w stop >/dev/null

mkdir -p "$work/r-br"; chown postgres:postgres "$work/r-br"; chmod 700 "$work/r-br"
t0=$(now)
br --pg1-path="$work/r-br" --type=time "--target=$target" --target-action=promote restore
br_files=$(secs "$t0" "$(now)")
echo "port = $((port + 2))" >>"$work/r-br/postgresql.auto.conf"
echo "archive_mode = off" >>"$work/r-br/postgresql.auto.conf"
as_pg "$bin/pg_ctl" -D "$work/r-br" -l "$work/r-br.log" -w -t 3600 start >/dev/null 9>&-
until [ "$(command psql -X -A -t -h "$work" -p $((port + 2)) -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do sleep 0.1; done
br_restore=$(secs "$t0" "$(now)")
br_sum=$(command psql -X -A -t -h "$work" -p $((port + 2)) -U postgres -d postgres -c "SELECT sum(abalance) FROM pgbench_accounts")

# Where the restores' time goes: from the restored servers' logs (start -> data directory synced and recovery started ->
# redo -> accepting read-write connections) and Lifeboat's own log (data directory ready, waits for WAL).
phases() {
python3 - "$1" <<'PY'
import sys, re, datetime
t = {}
for l in open(sys.argv[1], errors='replace'):
    m = re.match(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC', l)
    if not m: continue
    ts = datetime.datetime.strptime(m.group(1), '%Y-%m-%d %H:%M:%S.%f').timestamp()
    for k, pat in [('start', 'starting PostgreSQL'), ('sync', 'starting point-in-time recovery'), ('sync', 'starting archive recovery'),
                   ('redo', 'redo starts'), ('done', 'redo done'), ('ready', 'database system is ready to accept connections')]:
        if pat in l and k not in t: t[k] = ts
g = lambda a, b: f"{t[b] - t[a]:.2f}" if a in t and b in t else "?"
print(f"server start to recovery start (data directory synced) {g('start', 'sync')} s, redo {g('redo', 'done')} s, end of redo to read-write {g('done', 'ready')} s")
PY
}
lb_ready=$(grep -o 'data directory ready in [0-9.]* s' "$work/lb-restore.log" | grep -o '[0-9.]* s' || true)
lb_waited=$(grep -o 'the server waited [0-9.]* s' "$work/lb-restore.log" | grep -o '[0-9.]* s' || echo "? s")
log "Lifeboat restore: data directory ready in $lb_ready (server started), waited for WAL $lb_waited; $(phases "$work/r-lb/lifeboat-restore.log")"
log "pgBackRest restore: files restored in $br_files s (server started); $(phases "$work/r-br.log")"

echo
echo "Database: pgbench -i -s $scale ($dbsize); WAL replayed by the restores: $wal_mb MB; reference sum(abalance) at T: $ref"
echo
echo "| benchmark | Lifeboat | pgBackRest 2.45 | ratio |"
echo "|---|---|---|---|"
echo "| base backup to a local folder | $lb_backup s (runs: ${lb_runs[*]}; $((lb_stored / 1048576)) MB stored, zlib 2) | $br_backup s (runs: ${br_runs[*]}; $((br_stored / 1048576)) MB, gz 1, process-max 2); lz4: $br_backup_lz4 s | $(awk -v a="$lb_backup" -v b="$br_backup" 'BEGIN { printf "%.2fx", a / b }') |"
echo "| PITR: backup + $wal_mb MB WAL, started and promoted | $lb_restore s (sum $lb_sum, marker tables $lb_after/1) | $br_restore s (sum $br_sum) | $(awk -v a="$lb_restore" -v b="$br_restore" 'BEGIN { printf "%.2fx", a / b }') |"
echo "| stream-mode WAL lag under pgbench -c 4 -R 300, 60 s | $lag | (archive_command: one segment) | |"
