#!/usr/bin/env bash
# Builds Lifeboat's release package: one folder that runs on a Linux host without a .NET install (the runtime is
# inside; a recovery host should not need one), with all code compiled ahead of time into one composite ReadyToRun
# image together with the framework, which starts ~0.1 s sooner than the framework-dependent build `./lifeboat`
# uses (ADR 0006, docs/benchmarks.md). Takes ~4 minutes on 2 cores.
#   bash build/package.sh [RID]   ->  artifacts/package/lifeboat-RID/lifeboat  and  artifacts/package/lifeboat-RID.tar.gz
# Built from the tracked and new (not ignored) files of this checkout, copied to a scratch folder: its obj/ folders
# must not mix with those of ./lifeboat's build, which targets the same RID without the runtime.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v dotnet >/dev/null 2>&1 || { echo "package: the .NET 10 SDK (dotnet) is required" >&2; exit 2; }
rid=${1:-$(dotnet --info 2>/dev/null | awk '/^ *RID:/ {print $2; exit}')}
rid=${rid:-linux-x64}
out="$root/artifacts/package/lifeboat-$rid"
scratch=$(mktemp -d /tmp/lifeboat-package.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$scratch")
rm -rf "$out" "$out.tar.gz"
if ! log=$(dotnet publish "$scratch/src/Lifeboat.Cli/Lifeboat.Cli.csproj" -c Release -r "$rid" --self-contained true \
      -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o "$out" -nologo -v q 2>&1); then
  echo "$log" >&2
  echo "package: build failed" >&2
  exit 2
fi
"$out/lifeboat" --help >/dev/null || { echo "package: the packaged lifeboat does not start" >&2; exit 2; }
tar -C "$(dirname "$out")" -czf "$out.tar.gz" "$(basename "$out")"
echo "$out/lifeboat ($(du -sh "$out" | cut -f1); $out.tar.gz $(du -h "$out.tar.gz" | cut -f1))"
