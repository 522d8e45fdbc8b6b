#!/usr/bin/env bash
# Runs on a GPU machine from the unpacked bundle (no .NET needed):
#   tar -xJf gta-linux-x64.tar.xz && gta-linux-x64/gpu-check.sh RESULTS_DIR [--full]
# 1. the kernel parity tests on CUDA (the same xunit tests CI runs on the CPU emulator),
# 2. the kernel benchmarks (CUDA suite with the cuBLAS yardstick where libcublas loads, and the CPU suite),
# 3. the end-to-end benchmark (training and rollout tokens/s, MFU) on every available device.
# Writes RESULTS_DIR/{selftest.log, kernels.json, kernels.md, e2e.json, e2e.md, *.log}. Without CUDA
# it says so and still runs what it can (CPU), so the script itself can be checked anywhere.
# Default: BenchmarkDotNet's short job (3 measured iterations per row) and 2+3 end-to-end steps, about
# 5-8 minutes on an H100 machine; --full: BenchmarkDotNet's default job and more steps (much longer).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
results="${1:?usage: gpu-check.sh RESULTS_DIR [--full]}"
mode="${2:-}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
export GTA_COMMIT="$(cat "$here/COMMIT" 2>/dev/null || echo unknown)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_gcServer=0
status=0

echo "== machine" | tee "$results/machine.txt"
{ uname -a; grep -m1 'model name' /proc/cpuinfo; nproc; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not available"; } | tee -a "$results/machine.txt"

if nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=""; echo "no NVIDIA GPU visible: parity tests run on the ILGPU CPU emulator, benchmarks on the CPU only"; fi

echo "== kernel parity tests (GTA_TEST_DEVICE=${device:-ilgpu-cpu})"
(cd "$results" && GTA_TEST_DEVICE="${device:-ilgpu-cpu}" "$here/tests/GtaIlgpu.Tests") 2>&1 | tee "$results/selftest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "parity tests FAILED"; status=1; }

job=(--job short); steps=(--steps 3 --warmup 2 --new-tokens 64)
if [ "$mode" = "--full" ]; then job=(--job default); steps=(--steps 10 --warmup 3 --new-tokens 256); fi

echo "== kernel benchmarks"
filter=("*CpuOps*" "*CpuMatmul*"); [ -n "$device" ] && filter=("*CudaOps*" "${filter[@]}")
(cd "$results" && "$here/benchmarks/GtaIlgpu.Benchmarks" --filter "${filter[@]}" "${job[@]}" --results "$results" --artifacts "$results/BenchmarkDotNet.Artifacts") 2>&1 | tee "$results/kernels.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "kernel benchmarks FAILED"; status=1; }

echo "== end to end"
devices=cpu; [ -n "$device" ] && devices=cpu,cuda
(cd "$results" && "$here/benchmarks/GtaIlgpu.Benchmarks" e2e --devices "$devices" "${steps[@]}" --results "$results") 2>&1 | tee "$results/e2e.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "end-to-end benchmark FAILED"; status=1; }

echo "== done: results in $results (compare runs with: $here/gta/gta bench compare BASE.json NEW.json)"
exit "$status"
