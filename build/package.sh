#!/usr/bin/env bash
# Builds Lifeboat's release package: the CLI compiled ahead of time into one native executable (Native AOT): no .NET
# install on the host that runs it (a recovery host should not need one), no JIT and no runtime start-up:
# `replicate --once` of an empty bucket takes ~45 ms instead of ~0.25 s (ADR 0008, docs/benchmarks.md).
# ./lifeboat keeps the JIT build (it builds in ~1 minute); tests/run.sh runs the CLI's tests against both
# (LIFEBOAT_TEST_CLI=the package's lifeboat).
#   bash build/package.sh [RID]   ->  artifacts/package/lifeboat-RID/lifeboat  and  artifacts/package/lifeboat-RID.tar.gz
# Needs clang and lld (the native linker; installed here when missing). ~4 minutes on 2 cores.
# Built from the tracked and new (not ignored) files of this checkout, copied to a scratch folder: its obj/ folders
# must not mix with those of ./lifeboat's build.
# The runtime is the patch whose NativeAOT runtime pack the NuGet feed has (LIFEBOAT_AOT_RUNTIME, default 10.0.12): the
# SDK's own patch (10.0.14) has no such pack on the package mirror this project builds from.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v dotnet >/dev/null 2>&1 || { echo "package: the .NET 10 SDK (dotnet) is required" >&2; exit 2; }
if ! command -v clang >/dev/null 2>&1 || ! command -v ld.lld >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang lld >/dev/null || { echo "package: apt-get install clang lld failed" >&2; exit 2; }
  else
    echo "package: Native AOT needs clang and lld (apt-get install clang lld)" >&2; exit 2
  fi
fi
aot_runtime=${LIFEBOAT_AOT_RUNTIME:-10.0.12}
rid=${1:-$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')}
rid=${rid:-linux-x64}
out="$root/artifacts/package/lifeboat-$rid"
scratch=$(mktemp -d /tmp/lifeboat-package.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$scratch")
rm -rf "$out" "$out.tar.gz"
if ! log=$(dotnet publish "$scratch/src/Lifeboat.Cli/Lifeboat.Cli.csproj" -c Release -r "$rid" -p:PublishAot=true \
      -p:RuntimeFrameworkVersion="$aot_runtime" -o "$out" -nologo -v q 2>&1); then
  echo "$log" >&2
  echo "package: build failed" >&2
  exit 2
fi
# Ahead-of-time compilation warnings (reflection, run-time code) are errors: such code fails at run time there.
if grep -qE 'warning (IL[0-9]+|AOT)' <<<"$log"; then
  grep -E 'warning (IL[0-9]+|AOT)' <<<"$log" | sort -u >&2
  echo "package: the ahead-of-time build has warnings: code that would fail at run time in the package" >&2
  exit 2
fi
# The package: the executable and the SQLite library it loads; debug symbols (lifeboat.dbg) and .pdb files stay out.
rm -f "$out"/*.pdb "$out"/*.dbg
"$out/lifeboat" --help >/dev/null || { echo "package: the packaged lifeboat does not start" >&2; exit 2; }
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "$out/lifeboat ($(du -sh "$out" | cut -f1); $out.tar.gz $(du -h "$out.tar.gz" | cut -f1))"
