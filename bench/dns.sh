#!/usr/bin/env bash
# DNS switch latency against BIND 9 (RFC 2136 + TSIG), run by hand, not part of the tests:
#   bash bench/dns.sh [RUNS]      # default 500
# Starts its own named with tests/servers/bind.sh on port LIFEBOAT_BENCH_BIND_PORT (default 5359; the test servers
# use 5354/5355) and stops it at the end. Measures, sequentially over UDP and over TCP, RUNS switches of an A record
# (Lifeboat's SetAsync: one signed UPDATE deleting the set and adding the new value, answer MAC verified, then a
# signed read-back query) and RUNS signed reads; then, as the peer, BIND's own nsupdate sending RUNS signed updates
# in one session (no read-back). Prints Markdown rows for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
runs=${1:-500}
export LIFEBOAT_BIND_PORT=${LIFEBOAT_BENCH_BIND_PORT:-5359}
work=$(mktemp -d /tmp/lifeboat-bench-dns.XXXXXX)
cleanup() { bash tests/servers/bind.sh stop >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

bash tests/servers/bind.sh start >"$work/start.log" 2>&1 </dev/null || { cat "$work/start.log" >&2; exit 1; }
eval "$(grep '^export LIFEBOAT_' "$work/start.log")"
dotnet build bench/Lifeboat.Bench.Dns -c Release -v q -nologo >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
echo "| what | runs | p50 | p95 | max | rate |"
echo "|---|---|---|---|---|---|"
dotnet bench/Lifeboat.Bench.Dns/bin/Release/net10.0/Lifeboat.Bench.Dns.dll 127.0.0.1 "$LIFEBOAT_BIND_PORT" "$LIFEBOAT_BIND_ZONE" "$LIFEBOAT_BIND_KEY_FILE" "$runs"

{
  echo "server 127.0.0.1 $LIFEBOAT_BIND_PORT"
  echo "zone $LIFEBOAT_BIND_ZONE"
  for ((i = 0; i < runs; i++)); do
    echo "update delete bench-nsupdate.$LIFEBOAT_BIND_ZONE A"
    echo "update add bench-nsupdate.$LIFEBOAT_BIND_ZONE 5 A 10.1.$((i / 250 % 250)).$((i % 250 + 1))"
    echo "send"
  done
} >"$work/nsupdate.txt"
start=$EPOCHREALTIME
nsupdate -k "$LIFEBOAT_BIND_KEY_FILE" "$work/nsupdate.txt"
end=$EPOCHREALTIME
awk -v a="${start/,/.}" -v b="${end/,/.}" -v n="$runs" 'BEGIN { printf "| peer: nsupdate, %d signed updates in one session, UDP, no read-back | %d | | | | %.0f /s (%.2f ms each) |\n", n, n, n / (b - a), (b - a) * 1000 / n }'
