#!/usr/bin/env bash
# Runs Lifeboat's whole test suite on this machine, from nothing: installs the Debian packages the real test
# servers need, starts them on 127.0.0.1 (Ceph RADOS Gateway for S3, DynamoDB Local for tables, PostgreSQL 15, BIND 9
# for DNS updates, moto for AWS's APIs), restores NuGet packages, runs every test, and prints one summary line: `tests: N passed, M failed[, K skipped]`. Exits non-zero if anything failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="$root/artifacts/test-results"
rm -rf "$out"
mkdir -p "$out"

fail() {
  echo "$*" >&2
  echo "tests: 0 passed, 1 failed"
  exit 1
}

command -v dotnet >/dev/null 2>&1 || fail "run.sh: the .NET SDK (dotnet) is not installed"
bash tests/servers/install.sh || fail "run.sh: installing the test servers' packages failed"

# The daemons outlive the script and inherit its descriptors: send its output to a file, never a pipe.
if ! bash tests/servers/rgw.sh start >"$out/rgw-start.log" 2>&1 </dev/null; then
  cat "$out/rgw-start.log" >&2
  fail "run.sh: starting Ceph RGW failed"
fi
eval "$(grep '^export LIFEBOAT_' "$out/rgw-start.log")"
echo "run.sh: Ceph RGW at $LIFEBOAT_S3_ENDPOINT"

if ! bash tests/servers/dynamodb.sh start >"$out/dynamodb-start.log" 2>&1 </dev/null; then
  cat "$out/dynamodb-start.log" >&2
  fail "run.sh: starting DynamoDB Local failed"
fi
eval "$(grep '^export LIFEBOAT_' "$out/dynamodb-start.log")"
echo "run.sh: DynamoDB Local at $LIFEBOAT_DDB_ENDPOINT"

if ! bash tests/servers/postgres.sh start >"$out/postgres-start.log" 2>&1 </dev/null; then
  cat "$out/postgres-start.log" >&2
  fail "run.sh: starting PostgreSQL failed"
fi
eval "$(grep '^export LIFEBOAT_' "$out/postgres-start.log")"
echo "run.sh: PostgreSQL at $LIFEBOAT_PG_HOST:$LIFEBOAT_PG_PORT"

if ! bash tests/servers/bind.sh start >"$out/bind-start.log" 2>&1 </dev/null; then
  cat "$out/bind-start.log" >&2
  fail "run.sh: starting BIND failed"
fi
eval "$(grep '^export LIFEBOAT_' "$out/bind-start.log")"
echo "run.sh: BIND at $LIFEBOAT_BIND_SERVER"

if ! bash tests/servers/moto.sh start >"$out/moto-start.log" 2>&1 </dev/null; then
  cat "$out/moto-start.log" >&2
  fail "run.sh: starting moto failed"
fi
eval "$(grep '^export LIFEBOAT_' "$out/moto-start.log")"
echo "run.sh: moto at $LIFEBOAT_MOTO_ENDPOINT"

# The fast engine tests first (no I/O, engine layer only: tests/Lifeboat.Tests.Engine), then the integration suites.
dotnet test "$root/tests/Lifeboat.Tests.Engine/Lifeboat.Tests.Engine.csproj" -c Release \
  --logger "trx;LogFileName=engine.trx" --logger "console;verbosity=normal" \
  --results-directory "$out" 2>&1 | tee "$out/dotnet-test-engine.log" | grep -E '^\s*(Failed|Passed|Skipped) |error|Error Message|Assert|Total tests|^\s+at Lifeboat' | grep -v '^\s*Passed ' | head -200
estatus=${PIPESTATUS[0]}
etrx=$(find "$out" -name 'engine.trx' | head -n 1)
[ -n "$etrx" ] || { echo "run.sh: the engine tests produced no results (build or restore failed; exit $estatus)" >&2; estatus=1; }

dotnet test "$root/tests/Lifeboat.Tests/Lifeboat.Tests.csproj" -c Release \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --results-directory "$out" 2>&1 | tee "$out/dotnet-test.log" | grep -E '^\s*(Failed|Passed|Skipped) |error|Error Message|Assert|Total tests|^\s+at Lifeboat' | grep -v '^\s*Passed ' | head -400
status=${PIPESTATUS[0]}

trx=$(find "$out" -name 'results.trx' | head -n 1)
if [ -z "$trx" ]; then
  tail -n 60 "$out/dotnet-test.log" >&2
  fail "run.sh: dotnet test produced no results (build or restore failed; exit $status)"
fi

# The release package (the CLI compiled ahead of time, ADR 0008) is what users run: build it, then run every test
# class that runs the CLI again, against the package (LIFEBOAT_TEST_CLI). LIFEBOAT_TEST_PACKAGE=0 skips this part.
ptrx=""
pstatus=0
if [ "${LIFEBOAT_TEST_PACKAGE:-1}" != 0 ]; then
  if ! bash build/package.sh >"$out/package.log" 2>&1; then
    tail -n 40 "$out/package.log" >&2
    echo "run.sh: building the release package failed" >&2
    pstatus=1
  else
    cli="$(sed -n 's/^\(.*\/lifeboat\) (.*/\1/p' "$out/package.log" | tail -n 1)"
    classes=$(grep -rl 'LifeboatCli\.' tests/Lifeboat.Tests --include='*.cs' | grep -v '/Infrastructure/' \
      | xargs grep -ohE '^public (sealed )?class [A-Za-z0-9_]+' | awk '{print $NF}' | sort -u)
    filter=$(printf 'FullyQualifiedName~.%s.|' $classes)
    echo "run.sh: the CLI's tests again, against the release package $cli"
    LIFEBOAT_TEST_CLI="$cli" dotnet test "$root/tests/Lifeboat.Tests/Lifeboat.Tests.csproj" -c Release --no-build \
      --filter "${filter%|}" --logger "trx;LogFileName=package.trx" --logger "console;verbosity=normal" \
      --results-directory "$out" 2>&1 | tee "$out/dotnet-test-package.log" | grep -E '^\s*(Failed|Passed|Skipped) |error|Error Message|Assert|Total tests|^\s+at Lifeboat' | grep -v '^\s*Passed ' | head -200
    pstatus=${PIPESTATUS[0]}
    ptrx=$(find "$out" -name 'package.trx' | head -n 1)
    [ -n "$ptrx" ] || { echo "run.sh: the package's test run produced no results" >&2; pstatus=1; }
  fi
fi

# One summary over every run: the engine tests, the integration suites, and the CLI's tests again against the package.
counters=$(grep -ho '<Counters [^>]*>' "$trx" ${etrx:+"$etrx"} ${ptrx:+"$ptrx"})
num() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' | awk '{s+=$1} END {print s+0}'; }
total=$(num total); passed=$(num passed); failed=$(num failed); errors=$(num error); timeouts=$(num timeout); aborted=$(num aborted)
executed=$(num executed)
failed=$(( failed + errors + timeouts + aborted ))
skipped=$(( total - executed ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # the runner itself failed (crash, abort)
if [ "$pstatus" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # the package did not build, or its run failed
if [ "$estatus" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # the engine tests did not build, or their run failed
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then failed=1; echo "run.sh: no test ran" >&2; fi
line="tests: $passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" -eq 0 ] && [ "$skipped" -eq 0 ] || exit 1
