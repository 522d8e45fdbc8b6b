using BenchmarkDotNet.Attributes;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Benchmarking;

namespace GtaIlgpu.Benchmarks.Ops;

/// <summary>
/// Every IOps family, forward and backward, on one backend: one row per (shape, op). Throughput is
/// GFLOP/s for matmul and attention and GB/s (bytes read + written) for the memory-bound rest, read
/// against the device's peak and against a yardstick measured in the same run (Copy rows; cuBLAS on CUDA).
/// The backend is created once per suite and kept for the process (kernels load once); each method
/// call runs the op and then Synchronize(), so GPU timings include the kernel, not just the launch.
/// </summary>
[Config(typeof(ThroughputConfig))]
public abstract class OpsBenchmarkBase
{
    private static readonly Dictionary<Type, (IBackend Backend, CublasYardstick? Cublas)> Backends = [];
    private IBackend _backend = null!;
    private OpWorkload? _workload;
    private Action _run = () => { };

    /// <summary>Creates the suite's backend, or throws when its device is absent.</summary>
    protected abstract IBackend CreateBackend();

    /// <summary>The rows this suite measures.</summary>
    public abstract IEnumerable<OpCase> Cases();

    [ParamsSource(nameof(Cases))]
    public OpCase Case { get; set; } = new(OpKind.Copy, OpShape.Emulator, "", 0, 0, 0, 1);

    [GlobalSetup]
    public void Setup()
    {
        var suite = SuiteType(GetType());
        if (!Backends.TryGetValue(suite, out var entry))
        {
            var backend = CreateBackend();
            var cublas = CublasYardstick.TryCreate(backend, out _);
            entry = (backend, cublas);
            Backends[suite] = entry;
            Console.WriteLine($"// {suite.Name}: {backend.Name} — {backend.Description}");
            if (backend is IlgpuBackend ilgpu)
            {
                var machine = MachineInfo.DetectHost().WithGpu(ilgpu);
                SuitePeaks.Register(suite, machine.GpuPeakGflops, machine.GpuPeakGBps);
            }
            else
            {
                SuitePeaks.Register(suite, DevicePeaks.CpuPeak().Gflops, null); // CPU memory: read against the Copy rows
            }
        }
        _backend = entry.Backend;
        _workload = new OpWorkload(_backend, Case, entry.Cublas);
        _run = _workload.Run;
        _run();
        _backend.Synchronize();
    }

    [Benchmark]
    public void Op()
    {
        _run();
        _backend.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _workload?.Dispose();
        _workload = null;
    }

    /// <summary>
    /// The benchmark class itself: the in-process toolchain runs a generated subclass (in a dynamic
    /// assembly), while summaries name the declared class.
    /// </summary>
    public static Type SuiteType(Type type)
    {
        while (type.Assembly != typeof(OpsBenchmarkBase).Assembly && type.BaseType is { } parent) type = parent;
        return type;
    }

    /// <summary>A row's name in the results files: suite/Op/case, as the kernels run writes it (Program.Figure).</summary>
    public static string RowName(Type suite, OpCase @case) => $"{suite.Name}/{nameof(Op)}/{@case.Key}";

    /// <summary>The name of the suite's device in results files (cpu, cuda, ilgpu-cpu).</summary>
    public static string DeviceOf(Type suite) => Backends.TryGetValue(suite, out var entry) ? entry.Backend.Name : "unknown";

    /// <summary>The ILGPU backend a suite used, for the machine section of the results (null for CPU suites).</summary>
    public static IlgpuBackend? GpuOf(Type suite) => Backends.TryGetValue(suite, out var entry) ? entry.Backend as IlgpuBackend : null;
}

/// <summary>The SIMD CPU backend at the tiny shape and a GPT-2-124M layer at CPU scale (T 256, B 2).</summary>
public class CpuOpsBenchmarks : OpsBenchmarkBase
{
    public static OpShape[] Shapes => [OpShape.Tiny, OpShape.Gpt2LayerCpu];

    protected override IBackend CreateBackend() => new CpuBackend();

    public override IEnumerable<OpCase> Cases() =>
        OpShape.Selected(Shapes).SelectMany(s => OpCases.For(s, withCublas: false));
}

/// <summary>
/// The ILGPU kernels on CUDA at the tiny shape and a GPT-2-124M layer (T 1024, B 4), with cuBLAS SGEMM
/// rows as the matmul yardstick where libcublas loads. Listed only when ILGPU finds a CUDA device.
/// </summary>
public class CudaOpsBenchmarks : OpsBenchmarkBase
{
    private static readonly Lazy<string?> CublasMissing = new(() =>
    {
        using var backend = IlgpuBackend.Create(IlgpuDeviceKind.Cuda);
        using var cublas = CublasYardstick.TryCreate(backend, out string? reason);
        if (cublas is null) Console.WriteLine($"// cuBLAS yardstick skipped: {reason}");
        return reason;
    });

    /// <summary>Why the Cublas* rows are missing (null: libcublas loaded, or the suite never listed its rows).</summary>
    public static string? CublasMissingReason => CublasMissing.IsValueCreated ? CublasMissing.Value : null;

    public static OpShape[] Shapes => [OpShape.Tiny, OpShape.Gpt2LayerGpu];

    protected override IBackend CreateBackend() => IlgpuBackend.Create(IlgpuDeviceKind.Cuda);

    public override IEnumerable<OpCase> Cases() =>
        OpShape.Selected(Shapes).SelectMany(s => OpCases.For(s, withCublas: CublasMissing.Value is null));
}

/// <summary>
/// SMOKE ONLY: the ILGPU kernels on ILGPU's CPU accelerator, a correctness emulator that runs kernels
/// orders of magnitude slower than either real backend. It proves every kernel launches through the
/// benchmark harness at a micro shape; its timings mean nothing.
/// </summary>
public class IlgpuEmulatorSmokeBenchmarks : OpsBenchmarkBase
{
    protected override IBackend CreateBackend() => IlgpuBackend.Create(IlgpuDeviceKind.Cpu);

    public override IEnumerable<OpCase> Cases() => OpCases.For(OpShape.Emulator, withCublas: false);
}
