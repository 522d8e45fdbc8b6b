#!/usr/bin/env bash
# Packs everything a GPU machine without .NET needs into ONE archive, .bundle/gta-linux-x64.tar.xz:
#   app/          the CLI (gta), the benchmarks (GtaIlgpu.Benchmarks) and the test runner (GtaIlgpu.Tests,
#                 tests/GtaIlgpu.Tests/SelfTest/SelfTestProgram.cs), published framework-dependent into one
#                 folder so they share every assembly
#   dotnet/       ONE copy of the .NET runtime they run on (the dotnet host, host/fxr and
#                 shared/Microsoft.NETCore.App), taken from the SDK that built them; the entry points find
#                 it through DOTNET_ROOT (gpu-check.sh sets it; by hand: export DOTNET_ROOT=$PWD/dotnet)
#   gpu-check.sh  the script that runs all of it on the GPU machine (scripts/gpu-check.sh)
#   torch_yardstick.py  the PyTorch yardstick gpu-check.sh runs where python3 with torch exists
#   COMMIT        the commit the bundle was built from (results files record it; there is no git there)
# No trimming: ILGPU, xunit and BenchmarkDotNet find code by reflection.
# Usage: scripts/bundle-linux-x64.sh            (then copy .bundle/gta-linux-x64.tar.xz to the GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
limit_mib=60
out=.bundle/gta-linux-x64
archive=.bundle/gta-linux-x64.tar.xz
rm -rf "$out" "$archive"
mkdir -p "$out/app"
publish() { # project folder; all into app/ (the test project references the CLI, whose files it copies too)
  dotnet publish "$1" -c Release -r linux-x64 --self-contained false -p:DebugType=none \
    -p:GenerateDocumentationFile=false -o "$out/app" -v quiet -nologo
}
publish tests/GtaIlgpu.Tests
publish src/GtaIlgpu.Cli
publish benchmarks/GtaIlgpu.Benchmarks
# Files no entry point loads on linux-x64: Microsoft.CodeCoverage's collectors and profilers (CodeCoverage/,
# alpine/, macos/, ubuntu/, x64/; for `dotnet test --collect`) and TraceEvent's Windows ETW helpers
# (amd64/, arm64/, x86/). They are content files, not in any .deps.json.
for folder in CodeCoverage alpine macos ubuntu x64 x86 amd64 arm64; do rm -rf "${out:?}/app/$folder"; done

# The runtime the apps were built for: the newest Microsoft.NETCore.App of the major version they target.
target=$(grep -oE '"version": "[0-9]+' "$out/app/gta.runtimeconfig.json" | head -n 1 | grep -oE '[0-9]+$')
read -r runtime_version runtime_dir < <(dotnet --list-runtimes | awk -v major="$target" \
  '$1 == "Microsoft.NETCore.App" && index($2, major ".") == 1 { v = $2; d = $3 } END { gsub(/[][]/, "", d); print v, d }')
[ -n "$runtime_version" ] || { echo "no Microsoft.NETCore.App $target.x runtime installed"; exit 1; }
dotnet_root=$(cd "$runtime_dir/../.." && pwd)
fxr=$(ls -d "$dotnet_root"/host/fxr/* | sort -V | tail -n 1)
mkdir -p "$out/dotnet/shared/Microsoft.NETCore.App" "$out/dotnet/host/fxr"
cp -a "$dotnet_root/dotnet" "$out/dotnet/dotnet"
cp -a "$fxr" "$out/dotnet/host/fxr/"
cp -a "$runtime_dir/$runtime_version" "$out/dotnet/shared/Microsoft.NETCore.App/"
for notice in LICENSE.txt ThirdPartyNotices.txt; do if [ -f "$dotnet_root/$notice" ]; then cp "$dotnet_root/$notice" "$out/dotnet/"; fi; done

cp scripts/gpu-check.sh scripts/torch_yardstick.py "$out/"
chmod +x "$out/gpu-check.sh" "$out/torch_yardstick.py"
git rev-parse HEAD > "$out/COMMIT" 2>/dev/null || echo unknown > "$out/COMMIT"
if ! git diff --quiet HEAD 2>/dev/null; then echo "$(cat "$out/COMMIT")+dirty" > "$out/COMMIT"; fi
XZ_OPT="${XZ_OPT:--T0 -9}" tar -C .bundle -cJf "$archive" gta-linux-x64

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
packed=$(stat -c %s "$archive")
unpacked=$(du -sb "$out" | cut -f1)
echo "bundle: $archive, $(mib "$packed") ($packed bytes); unpacked $(mib "$unpacked"); .NET runtime $runtime_version; commit $(cat "$out/COMMIT")"
if [ "$packed" -gt $((limit_mib * 1048576)) ]; then echo "bundle: larger than the $limit_mib MiB limit"; exit 1; fi
