using System.Diagnostics;
using System.Runtime.Intrinsics;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Backends.Ilgpu;
using ILGPU.Runtime.Cuda;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// Peak fp32 throughput and memory bandwidth of the devices we measure on, so figures can be read as
/// a fraction of what the hardware could do.
/// </summary>
public static class DevicePeaks
{
    private static readonly object Gate = new();
    private static double? _cpuPeak;
    private static string _cpuMethod = "";

    /// <summary>
    /// The CPU's fp32 peak in GFLOP/s = cores × 2 FMA pipes × lanes × 2 flops × clock. The clock of a
    /// VM is not reliably visible, so it is measured: an FMA loop with enough independent accumulators
    /// to fill both pipes runs on one core (best of 20 short trials), times the core count. $GTA_CPU_PEAK_GFLOPS overrides it.
    /// </summary>
    public static (double Gflops, string Method) CpuPeak()
    {
        lock (Gate)
        {
            if (_cpuPeak is null)
            {
                if (double.TryParse(Environment.GetEnvironmentVariable("GTA_CPU_PEAK_GFLOPS"), System.Globalization.CultureInfo.InvariantCulture, out double given) && given > 0)
                    (_cpuPeak, _cpuMethod) = (given, "from GTA_CPU_PEAK_GFLOPS");
                else
                {
                    _cpuPeak = MeasureFmaGflops();
                    int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
                    double ghz = _cpuPeak.Value / (CpuParallel.ThreadCount * 2 * lanes * 2);
                    _cpuMethod = $"measured FMA loop = {CpuParallel.ThreadCount} cores × 2 × {lanes} lanes × 2 × {ghz:F2} GHz";
                }
            }
            return (_cpuPeak.Value, _cpuMethod);
        }
    }

    /// <summary>
    /// One core's FMA rate times the core count: a single thread catches an uncontended time slice far
    /// more often than all threads at once on a shared machine, and the per-core rate is what the
    /// formula needs (2 pipes × lanes × 2 × clock).
    /// </summary>
    private static double MeasureFmaGflops()
    {
        var body = new FmaBody { Iterations = 1_000_000 }; // about 3.5 ms at 3 GHz
        body.Run(0); // warm up: JIT and clocks
        double best = 0;
        for (int trial = 0; trial < 20; trial++)
        {
            long start = Stopwatch.GetTimestamp();
            body.Run(trial);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, body.FlopsPerThread / seconds / 1e9);
        }
        return best * CpuParallel.ThreadCount;
    }

    private struct FmaBody : IParallelBody
    {
        public int Iterations;

        // 10 chains × 8 lanes × 2 flops; 10 independent chains cover 2 pipes × 4-5 cycles of latency.
        public readonly double FlopsPerThread => (double)Iterations * 10 * 8 * 2;

        public readonly void Run(int index)
        {
            var m = Vector256.Create(0.999999f);
            var a = Vector256.Create(1e-7f);
            Vector256<float> x0 = Vector256.Create(1f + index), x1 = x0 + a, x2 = x1 + a, x3 = x2 + a, x4 = x3 + a,
                x5 = x4 + a, x6 = x5 + a, x7 = x6 + a, x8 = x7 + a, x9 = x8 + a;
            for (int i = 0; i < Iterations; i++)
            {
                x0 = Vector256.FusedMultiplyAdd(x0, m, a); x1 = Vector256.FusedMultiplyAdd(x1, m, a);
                x2 = Vector256.FusedMultiplyAdd(x2, m, a); x3 = Vector256.FusedMultiplyAdd(x3, m, a);
                x4 = Vector256.FusedMultiplyAdd(x4, m, a); x5 = Vector256.FusedMultiplyAdd(x5, m, a);
                x6 = Vector256.FusedMultiplyAdd(x6, m, a); x7 = Vector256.FusedMultiplyAdd(x7, m, a);
                x8 = Vector256.FusedMultiplyAdd(x8, m, a); x9 = Vector256.FusedMultiplyAdd(x9, m, a);
            }
            Sink = (x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9).GetElement(0);
        }
    }

    private static float Sink;

    /// <summary>
    /// Published fp32 (non-tensor-core) GFLOP/s and memory GB/s of GPUs we expect to meet, matched by a
    /// fragment of the device name. The bandwidth ILGPU derives from the device properties wins over
    /// the table when it is available.
    /// </summary>
    private static readonly (string Fragment, double Gflops, double GBps)[] KnownGpus =
    [
        ("H200", 67_000, 4_800),
        ("H100 PCIe", 51_200, 2_000),
        ("H100", 67_000, 3_350),      // SXM5
        ("A100-SXM4-80GB", 19_500, 2_039),
        ("A100", 19_500, 1_555),
        ("L40S", 91_600, 864),
        ("L4", 30_300, 300),
        ("A10", 31_200, 600),
        ("RTX 4090", 82_600, 1_008),
        ("RTX 3090", 35_600, 936),
        ("V100", 15_700, 900),
        ("T4", 8_100, 320),
    ];

    public static (double? Gflops, double? GBps) KnownGpu(string name)
    {
        foreach (var (fragment, gflops, gbps) in KnownGpus)
            if (name.Contains(fragment, StringComparison.OrdinalIgnoreCase)) return (gflops, gbps);
        return (null, null);
    }

    /// <summary>DRAM bandwidth from the memory clock (kHz) and bus width (bits): double data rate × bytes per transfer.</summary>
    public static double? BandwidthFromProperties(long memoryClockKHz, int busWidthBits) =>
        memoryClockKHz > 0 && busWidthBits > 0 ? 2.0 * memoryClockKHz * 1e3 * (busWidthBits / 8.0) / 1e9 : null;

    /// <summary>Name, driver and peaks of an ILGPU accelerator, for the machine section of a results file.</summary>
    public static MachineInfo WithGpu(this MachineInfo host, IlgpuBackend backend)
    {
        var accelerator = backend.Accelerator;
        var (gflops, gbps) = KnownGpu(accelerator.Name);
        string? driver = null;
        if (accelerator is CudaAccelerator cuda)
        {
            driver = $"CUDA {cuda.DriverVersion.Major}.{cuda.DriverVersion.Minor}, sm_{cuda.Architecture.Major}{cuda.Architecture.Minor}";
            gbps = BandwidthFromProperties(cuda.MemoryClockRate, cuda.MemoryBusWidth) ?? gbps;
        }
        string label = backend.Kind == IlgpuDeviceKind.Cpu ? $"{accelerator.Name} (ILGPU CPU emulator: smoke only, timings meaningless)" : accelerator.Name;
        return host with
        {
            Gpu = label,
            GpuDriver = driver,
            GpuPeakGflops = backend.Kind == IlgpuDeviceKind.Cpu ? null : gflops,
            GpuPeakGBps = backend.Kind == IlgpuDeviceKind.Cpu ? null : gbps,
        };
    }
}
