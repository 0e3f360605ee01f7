#!/usr/bin/env bash
# A probe, not a release: what Native AOT would give the CLI's start-up (ADR 0006). .NET 10's NativeAOT runtime pack
# is not in this machine's package mirror, .NET 9's ILCompiler (with its own framework) is; so this builds the CLI for
# net9.0 with PublishAot from a scratch copy of the checkout. .NET 9 reached end of support on 2026-11-10, so this
# build is for measuring only. It is also not AOT-clean yet: commands that serialise JSON by reflection (the folder
# store's metadata, status/verify --json, serve's API, runbook state) fail in it; `replicate` between S3 buckets works.
#   bash bench/aot-probe.sh        ->  artifacts/aot-probe/lifeboat
#   LIFEBOAT_BENCH_CLI=artifacts/aot-probe/lifeboat bash bench/s3.sh backfill
# Needs clang and lld (apt-get install clang lld); ~4 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/artifacts/aot-probe"
command -v clang >/dev/null 2>&1 || apt-get install -y clang lld >/dev/null
scratch=$(mktemp -d /tmp/lifeboat-aot.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$scratch")
rm -rf "$out"
# net9.0 for every project (in the copy's Directory.Build.props: NuGet restore ignores a TargetFramework given on the
# command line); the AOT analysers' warnings (reflection-based JSON, above) are not errors in a probe.
sed -i 's|<TargetFramework>net10.0</TargetFramework>|<TargetFramework>net9.0</TargetFramework>|' "$scratch/Directory.Build.props"
if ! log=$(dotnet publish "$scratch/src/Lifeboat.Cli/Lifeboat.Cli.csproj" -c Release -r linux-x64 \
      -p:PublishAot=true -p:PublishReadyToRun=false -p:TreatWarningsAsErrors=false -o "$out" -nologo -v q 2>&1); then
  echo "$log" | grep -E 'error' >&2
  echo "aot-probe: build failed" >&2
  exit 2
fi
"$out/lifeboat" --help >/dev/null
echo "$out/lifeboat"
