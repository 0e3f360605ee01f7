#!/usr/bin/env bash
# Failover benchmark (run by hand, not part of the tests):
#   bash bench/failover.sh [RUNS]          (default 20 runs)
# Measures, per run, the time from the moment the primary HTTP service stops to the moment the real BIND 9
# (tests/servers/bind.sh, RFC 2136 + TSIG) answers the recovery address, with `lifeboat serve` probing every 2 s
# (timeout 1 s) and a failure threshold of 3 — the issue's settings (Route 53 health-check failover with its
# defaults: about 90 s plus TTL). Each run: a fresh state, a fresh record (run-N-XXXX.example.internal A 127.0.0.1),
# two small HTTP services (python3 http.server) for the primary and the recovery region, `lifeboat serve` started and
# seen probing the primary, then the primary killed; dig polls the server every 50 ms. Prints each run and
# p50/p95/max as a Markdown row for docs/benchmarks.md. BIND port: LIFEBOAT_BIND_PORT (ports.env).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs=${1:-20}
work=$(mktemp -d /tmp/lifeboat-bench-failover.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

bash tests/servers/bind.sh start >"$work/bind.log" 2>&1 </dev/null || { cat "$work/bind.log" >&2; exit 1; }
eval "$(grep '^export LIFEBOAT_BIND_' "$work/bind.log")"
host=${LIFEBOAT_BIND_SERVER%:*}
port=${LIFEBOAT_BIND_SERVER##*:}
echo "BIND at $LIFEBOAT_BIND_SERVER, zone $LIFEBOAT_BIND_ZONE" >&2
./lifeboat --help >/dev/null  # builds the CLI once (artifacts/cli)
dll="$root/artifacts/cli/lifeboat.dll"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
mkdir -p "$work/www"
echo ok > "$work/www/health"
p_primary=$(free_port); p_recovery=$(free_port)
python3 -m http.server "$p_recovery" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)

results=()
for i in $(seq 1 "$runs"); do
  run="$work/run-$i"; mkdir -p "$run"
  record="run-$i-$RANDOM.$LIFEBOAT_BIND_ZONE"
  api_port=$(free_port)
  cat >"$run/lifeboat.yaml" <<EOF
state: state.db
stores:
  zone: { type: dns, server: $LIFEBOAT_BIND_SERVER, zone: $LIFEBOAT_BIND_ZONE, tsig_key_file: $LIFEBOAT_BIND_KEY_FILE }
serve: { listen: 127.0.0.1:$api_port }
checks:
  - name: primary-app
    http: { url: http://127.0.0.1:$p_primary/health, expect_status: 200 }
    interval: 2s
    timeout: 1s
    failure_threshold: 3
    on_failure: { runbook: failover-app, approval: auto }
runbooks:
  failover-app:
    steps:
      - name: recovery-healthy
        probe: { http: { url: http://127.0.0.1:$p_recovery/health } }
      - name: switch
        needs: [recovery-healthy]
        dns: { store: zone, record: $record, type: A, value: 127.0.0.2, ttl: 5 }
EOF
  nsupdate -y "$(awk '/^key/ {gsub(/"/,"",$2); n=$2} /algorithm/ {gsub(/;/,"",$2); a=$2} /secret/ {gsub(/[";]/,"",$2); s=$2} END {print a":"n":"s}' "$LIFEBOAT_BIND_KEY_FILE")" <<EOF
server $host $port
zone $LIFEBOAT_BIND_ZONE
update add $record 5 A 127.0.0.1
send
EOF
  python3 -m http.server "$p_primary" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
  primary_pid=$!; pids+=("$primary_pid")
  (cd "$run" && exec dotnet "$dll" serve -c lifeboat.yaml >"$run/serve.log" 2>&1) &
  serve_pid=$!; pids+=("$serve_pid")
  # Wait until serve has seen the primary healthy.
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$api_port/api/status" 2>/dev/null | grep -q '"last_ok": true'; then break; fi
    sleep 0.1
  done
  sleep "0.$((RANDOM % 10))$((RANDOM % 10))"  # a random phase against the 2 s probe interval
  t0=$(now)
  kill "$primary_pid"; wait "$primary_pid" 2>/dev/null || true
  answered=""
  for _ in $(seq 1 1200); do
    if [ "$(dig +short +norec +time=1 +tries=1 -p "$port" @"$host" "$record" A)" = "127.0.0.2" ]; then answered=$(now); break; fi
    sleep 0.05
  done
  kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true
  if [ -z "$answered" ]; then echo "run $i: BIND never answered 127.0.0.2" >&2; tail -20 "$run/serve.log" >&2; exit 1; fi
  s=$(echo "$answered - $t0" | bc -l)
  results+=("$s")
  printf 'run %2d: %.3f s\n' "$i" "$s" >&2
done

printf '%s\n' "${results[@]}" | sort -n >"$work/sorted"
n=$(wc -l <"$work/sorted")
pick() { awk -v q="$1" -v n="$n" 'NR == (int(q*n) == q*n ? q*n : int(q*n)+1) {printf "%.2f", $1}' "$work/sorted"; }
p50=$(pick 0.50); p95=$(pick 0.95); max=$(tail -1 "$work/sorted"); min=$(head -1 "$work/sorted")
printf '| primary stops -> BIND answers the recovery address (2 s probes, timeout 1 s, threshold 3) | %d | %.2f s | %s s | %s s | %.2f s |\n' "$n" "$min" "$p50" "$p95" "$max"
