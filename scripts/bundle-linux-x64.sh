#!/usr/bin/env bash
# Packs everything a GPU machine without .NET needs into ONE archive, .bundle/gta-linux-x64.tar.xz:
#   gta/         the CLI (gta pretrain, gta bench compare), self-contained
#   benchmarks/  the kernel suites and the end-to-end benchmark, self-contained
#   tests/       the test project, self-contained; run as an executable it runs the kernel parity tests
#                itself (tests/GtaIlgpu.Tests/SelfTest/SelfTestProgram.cs), e.g. with GTA_TEST_DEVICE=cuda
#   gpu-check.sh the script that runs all of it on the GPU machine (scripts/gpu-check.sh)
#   COMMIT       the commit the bundle was built from (results files record it; there is no git there)
# Usage: scripts/bundle-linux-x64.sh            (then copy .bundle/gta-linux-x64.tar.xz to the GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out=.bundle/gta-linux-x64
rm -rf "$out" .bundle/gta-linux-x64.tar.xz
mkdir -p "$out"
publish() { # project folder
  dotnet publish "$1" -c Release -r linux-x64 --self-contained true -p:PublishSingleFile=false \
    -p:DebugType=none -p:GenerateDocumentationFile=false -o "$out/$2" -v quiet -nologo
}
publish src/GtaIlgpu.Cli gta
publish benchmarks/GtaIlgpu.Benchmarks benchmarks
publish tests/GtaIlgpu.Tests tests
cp scripts/gpu-check.sh "$out/gpu-check.sh"
chmod +x "$out/gpu-check.sh"
git rev-parse HEAD > "$out/COMMIT" 2>/dev/null || echo unknown > "$out/COMMIT"
if ! git diff --quiet HEAD 2>/dev/null; then echo "$(cat "$out/COMMIT")+dirty" > "$out/COMMIT"; fi
XZ_OPT="${XZ_OPT:--T0}" tar -C .bundle -cJf .bundle/gta-linux-x64.tar.xz gta-linux-x64
echo "bundle: .bundle/gta-linux-x64.tar.xz ($(du -h .bundle/gta-linux-x64.tar.xz | cut -f1); unpacked $(du -sh "$out" | cut -f1)), commit $(cat "$out/COMMIT")"
