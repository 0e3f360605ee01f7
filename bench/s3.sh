#!/usr/bin/env bash
# Object replication benchmarks against a real Ceph RGW on 127.0.0.1, compared with rclone in the same run.
# Run by hand (not part of the tests):   bash bench/s3.sh [backfill|memory|continuous|all]
# Prints Markdown rows for docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what=${1:-all}
work=$(mktemp -d /tmp/lifeboat-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

bash tests/servers/install.sh >/dev/null
# A fresh cluster: the OSD keeps objects in RAM (memstore, 8 GiB) and a full Ceph cluster blocks every write.
bash tests/servers/rgw.sh stop >/dev/null 2>&1 || true
bash tests/servers/rgw.sh start >"$work/rgw.log" 2>&1 </dev/null
eval "$(grep '^export LIFEBOAT_' "$work/rgw.log")"
unset AWS_CA_BUNDLE   # rclone fails every S3 remote with it set (see shared facts)
./lifeboat --help >/dev/null  # builds (framework-dependent ReadyToRun) into artifacts/cli
# The release package (compiled ahead of time, Native AOT: ADR 0008) is what the rows measure;
# LIFEBOAT_BENCH_PACKAGE=skip measures the ./lifeboat build instead, LIFEBOAT_BENCH_CLI=PATH another binary.
# The 20 x 8 MiB row also shows the ./lifeboat build.
rid=$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')
package="$root/artifacts/package/lifeboat-${rid:-linux-x64}/lifeboat"
if [ -n "${LIFEBOAT_BENCH_CLI:-}" ]; then
  lbcmd=("$(cd "$(dirname "$LIFEBOAT_BENCH_CLI")" && pwd)/$(basename "$LIFEBOAT_BENCH_CLI")")  # another build
elif [ "${LIFEBOAT_BENCH_PACKAGE:-}" != skip ]; then
  # Rebuilt when a source is newer than the package (it takes ~4 minutes).
  if [ ! -x "$package" ] || [ -n "$(find src Directory.Build.props Directory.Packages.props \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.yaml' \) -newer "$package" -print -quit)" ]; then
    bash build/package.sh >/dev/null
  fi
  lbcmd=("$package")
else
  lbcmd=(dotnet artifacts/cli/lifeboat.dll)
fi
lifeboat() { "${lbcmd[@]}" "$@"; }
devbuild() { dotnet artifacts/cli/lifeboat.dll "$@"; }
dotnet build bench/Lifeboat.Bench -c Release -o artifacts/bench -nologo -v q >/dev/null
bench() { dotnet artifacts/bench/Lifeboat.Bench.dll "$@"; }
export LIFEBOAT_S3_ACCESS_KEY LIFEBOAT_S3_SECRET_KEY
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph RCLONE_CONFIG_RGW_ENDPOINT="$LIFEBOAT_S3_ENDPOINT" \
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID="$LIFEBOAT_S3_ACCESS_KEY" RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY="$LIFEBOAT_S3_SECRET_KEY" \
  RCLONE_CONFIG_RGW_FORCE_PATH_STYLE=true
run_id=$(date +%s)

config() { # name src dst extra...
  cat >"$work/$1.yaml" <<YAML
state: $work/$1.db
stores:
  rgw: { type: s3, endpoint: $LIFEBOAT_S3_ENDPOINT, region: us-east-1, force_path_style: true, access_key_env: LIFEBOAT_S3_ACCESS_KEY, secret_key_env: LIFEBOAT_S3_SECRET_KEY }
  folder: { type: file, path: $work/folder }
resources:
  - name: $1
    source: { store: ${4:-rgw}, bucket: $2 }
    target: { store: ${5:-rgw}, bucket: $3 }
    concurrency: 16
    reconcile_every: ${6:-10m}
${7:-}
YAML
  echo "$work/$1.yaml"
}

secs() { local s=$(date +%s.%N); "$@" >"$work/out.log" 2>&1 || { cat "$work/out.log" >&2; return 1; }; echo "$(date +%s.%N) - $s" | bc; }

med() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

backfill() { # label count size [dev]: with dev, the ./lifeboat build is measured too (alternating, same runs of rclone)
  local label=$1 count=$2 size=$3 dev=${4:-} reps=${LIFEBOAT_BENCH_REPS:-3}
  local src
  src="bf-$label-$run_id"
  bench seed "$src" "$count" "$size" >/dev/null
  local lb=() rc=() dv=()
  for r in $(seq 1 "$reps"); do
    local d1="bf-$label-lb-$r-$run_id" d2="bf-$label-rc-$r-$run_id" d3="bf-$label-dev-$r-$run_id"
    bench seed "$d1" 0 1 >/dev/null; bench seed "$d2" 0 1 >/dev/null
    cfg=$(config "bf$label$r" "$src" "$d1")
    lb+=("$(secs lifeboat replicate -c "$cfg" --once)")
    [ "$(bench count "$d1")" = "$count" ] || { echo "lifeboat copied $(bench count "$d1") of $count" >&2; exit 1; }
    rc+=("$(secs rclone copy "rgw:$src" "rgw:$d2" --transfers 16 --checkers 16)")
    [ "$(bench count "$d2")" = "$count" ] || { echo "rclone copied $(bench count "$d2") of $count" >&2; exit 1; }
    if [ -n "$dev" ]; then
      bench seed "$d3" 0 1 >/dev/null
      cfg=$(config "bfdev$label$r" "$src" "$d3")
      dv+=("$(secs devbuild replicate -c "$cfg" --once)")
      [ "$(bench count "$d3")" = "$count" ] || { echo "./lifeboat copied $(bench count "$d3") of $count" >&2; exit 1; }
    fi
  done
  local m1 m2; m1=$(med "${lb[@]}"); m2=$(med "${rc[@]}")
  printf '| backfill %s x %s B, RGW -> RGW | %.2f s (runs: %s) | %.2f s (runs: %s) | %.2fx |\n' "$count" "$size" "$m1" "${lb[*]}" "$m2" "${rc[*]}" "$(echo "$m1 / $m2" | bc -l)"
  if [ -n "$dev" ]; then
    local m3; m3=$(med "${dv[@]}")
    printf '| same, ./lifeboat build (framework-dependent) | %.2f s (runs: %s) | %.2f s | %.2fx |\n' "$m3" "${dv[*]}" "$m2" "$(echo "$m3 / $m2" | bc -l)"
  fi
}

memory() {
  local src="mem-$run_id" dst="mem-dst-$run_id"
  bench seed "$src" 1 $((1024 * 1024 * 1024)) >/dev/null
  mkdir -p "$work/folder"
  cfg=$(config memdown "$src" big rgw folder)
  /usr/bin/time -f '%M %e' -o "$work/time1" "${lbcmd[@]}" replicate -c "$cfg" --once >"$work/out.log" 2>&1 || { cat "$work/out.log"; exit 1; }
  read -r kb1 s1 <"$work/time1"
  bench seed "$dst" 0 1 >/dev/null
  cfg=$(config memup big "$dst" folder rgw)
  /usr/bin/time -f '%M %e' -o "$work/time2" "${lbcmd[@]}" replicate -c "$cfg" --once >"$work/out.log" 2>&1 || { cat "$work/out.log"; exit 1; }
  read -r kb2 s2 <"$work/time2"
  /usr/bin/time -f '%M %e' -o "$work/time3" rclone copy "rgw:$src" "$work/rclone-folder" --transfers 16 >/dev/null 2>&1
  read -r kb3 s3 <"$work/time3"
  printf '| 1 GiB object RGW -> folder (streamed, verified) | max RSS %d MB, %.1f s | rclone: max RSS %d MB, %.1f s | |\n' $((kb1 / 1024)) "$s1" $((kb3 / 1024)) "$s3"
  printf '| 1 GiB object folder -> RGW (multipart 8 MiB, verified) | max RSS %d MB, %.1f s | | |\n' $((kb2 / 1024)) "$s2"
}

continuous() {
  local mode=$1
  local src="cont-$mode-$run_id" dst="cont-$mode-dst-$run_id" port=18099
  bench seed "$src" 0 1 >/dev/null; bench seed "$dst" 0 1 >/dev/null
  local events="" every=10m
  if [ "$mode" = events ]; then
    events="    events: { listen: 127.0.0.1:$port }"
    AWS_ACCESS_KEY_ID=$LIFEBOAT_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$LIFEBOAT_S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
      /usr/bin/aws --endpoint-url "$LIFEBOAT_S3_ENDPOINT" sns create-topic --name "bench-$run_id" --attributes "push-endpoint=http://127.0.0.1:$port/events" >/dev/null
    AWS_ACCESS_KEY_ID=$LIFEBOAT_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$LIFEBOAT_S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
      /usr/bin/aws --endpoint-url "$LIFEBOAT_S3_ENDPOINT" s3api put-bucket-notification-configuration --bucket "$src" \
      --notification-configuration "{\"TopicConfigurations\":[{\"Id\":\"b\",\"TopicArn\":\"arn:aws:sns:default::bench-$run_id\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
  else
    every=5s
  fi
  cfg=$(config "cont$mode" "$src" "$dst" rgw rgw "$every" "$events")
  "${lbcmd[@]}" replicate -c "$cfg" >"$work/cont-$mode.log" 2>&1 &
  local pid=$!
  sleep 2
  bench load "$src" 50 60 live/ >"$work/load.log"
  local deadline=$((SECONDS + 60))
  while [ "$(bench count "$dst" live/)" != 3000 ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
  kill -TERM $pid; wait $pid || true
  printf '| continuous 50 PUT/s x 60 s, %s (reconcile_every %s) | %s | %s | |\n' "$mode" "$every" "$(bench lag "$src" "$dst" live/)" "$(cat "$work/load.log")"
}

echo "| benchmark | Lifeboat | peer (rclone 1.60, --transfers 16 --checkers 16) | ratio |"
echo "|---|---|---|---|"
case $what in
  backfill) backfill small 2000 4096; backfill large 20 8388608 dev ;;
  memory) memory ;;
  continuous) continuous events; continuous listing ;;
  events) continuous events ;;
  all) backfill small 2000 4096; backfill large 20 8388608 dev; memory; continuous events; continuous listing ;;
esac
