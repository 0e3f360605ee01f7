#!/usr/bin/env bash
# DynamoDB table replication benchmarks against DynamoDB Local 1.25 (run by hand, not part of the tests):
#   bash bench/ddb.sh [sync|steady|catchup|all]
# Each part runs on its own fresh DynamoDB Local (port LIFEBOAT_BENCH_DDB_PORT, default 18100, -Xmx2g, in memory),
# started and stopped here, so the test server (18000) is not disturbed and earlier parts do not slow later ones.
#   sync     50,000 items of ~1 KiB: Lifeboat's whole `replicate --once` (process start, initial sync, stream tail
#            until caught up: what a user waits for) and its initial sync alone vs a plain parallel BatchWriteItem loader
#            (16 calls in flight) writing the same items into a table of the same kind, on the same server; and the
#            items the stream tail wrote again (the source is idle during the run: every item the tail writes is one
#            the initial copy already wrote in that version).
#   steady   200 writes/s for 60 s while Lifeboat replicates continuously: end-to-end lag per item (journal durable_at
#            on the target - the writer's written_at), and what status reports.
#   catchup  writes at LIFEBOAT_BENCH_RATE (200)/s; Lifeboat stopped (SIGTERM) for 5 minutes, then restarted: how fast the backlog is applied.
# Targets are created beforehand WITHOUT a stream: DynamoDB Local slows down every write to a stream-enabled table by
# the number of stream records other tables hold (measured: ~2,000 items/s alone, ~350/s next to a 4,000-record
# stream, ~100/s next to 20,000), an emulator artefact that would otherwise dominate (create_target adds a stream).
# Prints Markdown rows for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what=${1:-all}
port=${LIFEBOAT_BENCH_DDB_PORT:-18100}
pause=${LIFEBOAT_BENCH_PAUSE:-300}
rate=${LIFEBOAT_BENCH_RATE:-200}   # catch-up: the source write rate while Lifeboat is stopped and after
work=$(mktemp -d /tmp/lifeboat-bench-ddb.XXXXXX)
ddb_pid=""
lb_pid=""
cleanup() {
  [ -n "$lb_pid" ] && kill "$lb_pid" 2>/dev/null || true
  [ -n "$ddb_pid" ] && kill "$ddb_pid" 2>/dev/null || true
  if [ -n "${LIFEBOAT_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

emulator=.test-servers/tools/dynamodb/package/emulator
if [ ! -f "$emulator/DynamoDBLocal.jar" ]; then
  bash tests/servers/dynamodb.sh start >/dev/null 2>&1 </dev/null   # installs the emulator (and starts the test server)
fi
./lifeboat --help >/dev/null   # builds (ReadyToRun) into artifacts/cli
dotnet build bench/Lifeboat.Bench.Ddb -c Release -o artifacts/bench-ddb -nologo -v q >/dev/null
lifeboat() { dotnet artifacts/cli/lifeboat.dll "$@"; }
bench() { dotnet artifacts/bench-ddb/Lifeboat.Bench.Ddb.dll "$@"; }
export LIFEBOAT_DDB_ENDPOINT="http://127.0.0.1:$port" LIFEBOAT_BENCH_AK=bench LIFEBOAT_BENCH_SK=bench
now_ms() { date +%s%3N; }

start_ddb() {
  stop_ddb
  (cd "$emulator" && exec setsid java -Xmx2g -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
      -port "$port" -sharedDb -inMemory -disableTelemetry) >"$work/ddb.log" 2>&1 </dev/null &
  ddb_pid=$!
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port" && return 0
    sleep 0.2
  done
  echo "DynamoDB Local did not start on $port" >&2; cat "$work/ddb.log" >&2; exit 1
}
stop_ddb() {
  if [ -n "$ddb_pid" ]; then kill "$ddb_pid" 2>/dev/null || true; wait "$ddb_pid" 2>/dev/null || true; ddb_pid=""; fi
}

config() { # name src dst
  cat >"$work/$1.yaml" <<YAML
state: $work/$1.db
stores:
  primary:  { type: dynamodb, endpoint: $LIFEBOAT_DDB_ENDPOINT, region: us-east-1, access_key_env: LIFEBOAT_BENCH_AK, secret_key_env: LIFEBOAT_BENCH_SK }
  recovery: { type: dynamodb, endpoint: $LIFEBOAT_DDB_ENDPOINT, region: us-west-2, access_key_env: LIFEBOAT_BENCH_AK, secret_key_env: LIFEBOAT_BENCH_SK }
resources:
  - name: bench
    type: table
    source: { store: primary, table: $2 }
    target: { store: recovery, table: $3 }
    deletes: propagate
    concurrency: ${LIFEBOAT_BENCH_SEGMENTS:-8}
    rpo: 30s
YAML
  echo "$work/$1.yaml"
}

start_lifeboat() { # config log
  dotnet artifacts/cli/lifeboat.dll replicate -c "$1" >"$2" 2>&1 </dev/null &
  lb_pid=$!
}
stop_lifeboat() {
  kill -TERM "$lb_pid"; wait "$lb_pid" || { echo "lifeboat exited with $?" >&2; }
  lb_pid=""
}

sync() {
  start_ddb
  bench create src >/dev/null
  echo "seed (the loader into the stream-enabled source): $(bench load src 50000 1024 16)"
  med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
  local loads=() syncs=() totals=() twice=() tails=()
  for r in 1 2 3; do   # alternate, so both see the same machine load; medians of 3
    bench create "base$r" nostream >/dev/null
    base=$(bench load "base$r" 50000 1024 16)
    echo "run $r: baseline: $base"
    loads+=("$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' <<<"$base")")
    bench create "dst$r" nostream >/dev/null
    cfg=$(config "sync$r" src "dst$r")
    local t0 t1; t0=$(now_ms)
    lifeboat replicate -c "$cfg" --once >"$work/sync$r.log" 2>&1 || { cat "$work/sync$r.log"; exit 1; }
    t1=$(now_ms)
    [ "$(bench count "dst$r")" = 50000 ] || { echo "target has $(bench count "dst$r") items" >&2; exit 1; }
    echo "run $r: lifeboat: $(grep '^bench:' "$work/sync$r.log"); whole command $(echo "($t1 - $t0) / 1000" | bc -l | xargs printf '%.2f') s"
    # the sync's own time, from "... written in 14.9s" (or 1m05s)
    syncs+=("$(grep -o 'written in [0-9.ms]*;' "$work/sync$r.log" | head -1 | sed 's/written in //; s/;//' | awk -F'm' '{ if (NF == 2) { sub("s", "", $2); print $1 * 60 + $2 } else { sub("s", "", $1); print $1 } }')")
    tails+=("$(grep -o 'written or deleted in [0-9.ms]*' "$work/sync$r.log" | head -1 | sed 's/.* in //' | awk -F'm' '{ if (NF == 2 && $2 != "s") { sub("s", "", $2); print $1 * 60 + $2 } else if ($0 ~ /ms$/) { sub("ms", "", $0); print $0 / 1000 } else { sub("s", "", $1); print $1 } }')")
    twice+=("$(sed -n 's/.*, \([0-9]*\) items written or deleted.*/\1/p' "$work/sync$r.log" | head -1)")
    totals+=("$(printf '%.2f' "$(echo "($t1 - $t0) / 1000" | bc -l)")")
  done
  local v0 v1; v0=$(now_ms)
  lifeboat verify -c "$cfg" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; exit 1; }
  v1=$(now_ms)
  echo "verify: $(head -1 "$work/verify.log") in $(( (v1 - v0) / 1000 )) s"
  local l s t; l=$(med "${loads[@]}"); s=$(med "${syncs[@]}"); t=$(med "${totals[@]}")
  echo "uptime: $(uptime)"
  printf '| replicate --once (whole command), 50,000 items x ~1 KiB, 8 segments | loader %.2f s (runs: %s) | %.2f s (runs: %s); stream tail (runs): %s s; items written twice (runs): %s | %.2f |\n' \
    "$l" "${loads[*]}" "$t" "${totals[*]}" "${tails[*]}" "${twice[*]}" "$(echo "$l / $t" | bc -l)"
  printf '| initial sync alone | loader %.2f s | %.2f s (runs: %s) | %.2f |\n' \
    "$l" "$s" "${syncs[*]}" "$(echo "$l / $s" | bc -l)"
  stop_ddb
}

steady() {
  start_ddb
  bench create src >/dev/null
  bench create dst nostream >/dev/null
  cfg=$(config steady src dst)
  lifeboat replicate -c "$cfg" --once >"$work/steady-once.log" 2>&1 || { cat "$work/steady-once.log"; exit 1; }
  start_lifeboat "$cfg" "$work/steady.log"
  sleep 3
  echo "writer: $(bench steady src 200 60 s- "$work/acks")"
  sleep 5
  lag=$(bench lag "$work/steady.db" src s- "$work/acks")
  echo "lag: $lag"
  lifeboat status -c "$cfg" | grep -E 'lag|RPO'
  stop_lifeboat
  printf '| steady 200 writes/s for 60 s | %s |\n' "$lag"
  stop_ddb
}

catchup() {
  start_ddb
  bench create src >/dev/null
  bench create dst nostream >/dev/null
  cfg=$(config catchup src dst)
  lifeboat replicate -c "$cfg" --once >"$work/catchup-once.log" 2>&1 || { cat "$work/catchup-once.log"; exit 1; }
  start_lifeboat "$cfg" "$work/catchup1.log"
  sleep 3
  bench steady src "$rate" $((pause + 120)) p- >"$work/writer.log" 2>&1 &
  local writer=$!
  sleep 5
  stop_lifeboat
  echo "lifeboat stopped for $pause s while the writer goes on at $rate/s"
  sleep "$pause"
  local restart; restart=$(now_ms)
  start_lifeboat "$cfg" "$work/catchup2.log"
  result=$(bench catchup "$work/catchup.db" src p- "$restart")
  echo "catch-up: $result"
  wait "$writer"; echo "writer: $(cat "$work/writer.log")"
  sleep 5
  echo "lag over the whole run: $(bench lag "$work/catchup.db" src p-)"
  stop_lifeboat
  printf '| catch-up after a %s s pause at %s writes/s | %s; writer: %s |\n' "$pause" "$rate" "$result" "$(cat "$work/writer.log")"
  stop_ddb
}

case $what in
  sync) sync ;;
  steady) steady ;;
  catchup) catchup ;;
  all) sync; steady; catchup ;;
  *) echo "usage: bench/ddb.sh [sync|steady|catchup|all]" >&2; exit 2 ;;
esac
