#!/usr/bin/env bash
# Runs on a GPU machine from the unpacked bundle (no .NET needed: the bundle carries its runtime):
#   tar -xJf gta-linux-x64.tar.xz && gta-linux-x64/gpu-check.sh RESULTS_DIR [--full]
# 1. the kernel parity tests on CUDA (the same xunit tests CI runs on the CPU emulator),
# 2. the kernel benchmarks (CUDA suite with the cuBLAS yardstick where libcublas loads, and the CPU suite),
# 3. the end-to-end benchmark (training and rollout tokens/s, MFU) on every available device,
# 4. the PyTorch yardstick (torch_yardstick.py: matmul at our shapes, GPT-2 training steps), where python3
#    with torch exists; it never fails the check.
# Writes RESULTS_DIR/{summary.md, machine.txt, selftest.log, kernels.json/md, e2e.json/md, yardstick-spec.json,
# yardstick.json/md, *.log}. Without CUDA it says so and still runs what it can (CPU), so the script itself
# can be checked anywhere.
# Default: BenchmarkDotNet's short job (3 measured iterations per row) and the end-to-end run warmed up until
# its step times settle, then 3 measured steps; --full: BenchmarkDotNet's default job and 10 measured steps.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
results="${1:?usage: gpu-check.sh RESULTS_DIR [--full]}"
mode="${2:-}"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
[ -x "$here/dotnet/dotnet" ] || { echo "gpu-check: no .NET runtime at $here/dotnet (run this from the unpacked bundle)"; exit 2; }
export DOTNET_ROOT="$here/dotnet" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_gcServer=0
export GTA_COMMIT="$(cat "$here/COMMIT" 2>/dev/null || echo unknown)"
app="$here/app"
status=0

echo "== machine" | tee "$results/machine.txt"
{ uname -a; grep -m1 'model name' /proc/cpuinfo; nproc; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not available"; } | tee -a "$results/machine.txt"

if nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=""; echo "no NVIDIA GPU visible: parity tests run on the ILGPU CPU emulator, benchmarks on the CPU only"; fi

echo "== kernel parity tests (GTA_TEST_DEVICE=${device:-ilgpu-cpu})"
(cd "$results" && GTA_TEST_DEVICE="${device:-ilgpu-cpu}" "$app/GtaIlgpu.Tests") 2>&1 | tee "$results/selftest.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "parity tests FAILED"; status=1; }

job=(--job short); steps=(--steps 3 --warmup auto --new-tokens 64)
if [ "$mode" = "--full" ]; then job=(--job default); steps=(--steps 10 --warmup auto --new-tokens 256); fi

echo "== kernel benchmarks"
filter=("*CpuOps*" "*CpuMatmul*"); [ -n "$device" ] && filter=("*CudaOps*" "${filter[@]}")
(cd "$results" && "$app/GtaIlgpu.Benchmarks" --filter "${filter[@]}" "${job[@]}" --results "$results" --artifacts "$results/BenchmarkDotNet.Artifacts") 2>&1 | tee "$results/kernels.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "kernel benchmarks FAILED"; status=1; }

echo "== end to end"
devices=cpu; [ -n "$device" ] && devices=cpu,cuda
(cd "$results" && "$app/GtaIlgpu.Benchmarks" e2e --devices "$devices" "${steps[@]}" --results "$results") 2>&1 | tee "$results/e2e.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "end-to-end benchmark FAILED"; status=1; }

echo "== PyTorch yardstick"
# The shapes come from the benchmarks themselves, so they are defined once.
"$app/GtaIlgpu.Benchmarks" yardstick-spec --results "$results" || { echo "yardstick-spec FAILED"; status=1; }
if ! command -v python3 >/dev/null 2>&1; then
  echo "torch yardstick skipped: no python3 on this machine" | tee "$results/yardstick.log"
  printf '# PyTorch yardstick\n\ntorch yardstick skipped: no python3 on this machine.\n' > "$results/yardstick.md"
else
  # Its failure is reported but does not fail the check: the yardstick is context, not our result.
  python3 "$here/torch_yardstick.py" "$results" 2>&1 | tee "$results/yardstick.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || echo "torch yardstick FAILED (see yardstick.log; not counted against the check)"
fi

{
  echo "# GPU check ($GTA_COMMIT)"; echo
  echo '```'; cat "$results/machine.txt"; echo '```'; echo
  echo "Parity tests: $(grep -E '^selftest: [0-9]+ passed' "$results/selftest.log" | tail -n 1 || echo 'no summary line (see selftest.log)')"; echo
  for part in e2e yardstick kernels; do
    if [ -f "$results/$part.md" ]; then sed 's/^# /## /' "$results/$part.md"; else echo "## $part: no results (see $part.log)"; fi
    echo
  done
} > "$results/summary.md"

echo "== done ($([ "$status" -eq 0 ] && echo ok || echo FAILED)): summary in $results/summary.md (compare runs with: DOTNET_ROOT=$here/dotnet $app/gta bench compare BASE.json NEW.json)"
exit "$status"
