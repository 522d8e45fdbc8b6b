using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace GtaIlgpu.Backends.Ilgpu;

public enum IlgpuDeviceKind
{
    Cuda,
    OpenCL,
    /// <summary>ILGPU's CPU accelerator: a debugging emulator, for kernel tests at tiny shapes only.</summary>
    Cpu,
}

/// <summary>
/// The ILGPU backend: one context, one accelerator, the kernels loaded once by their launchers.
/// </summary>
public sealed class IlgpuBackend : IBackend
{
    private readonly Context _context;

    private IlgpuBackend(Context context, Accelerator accelerator, IlgpuDeviceKind kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
        IlgpuOps = new IlgpuOps(accelerator);
    }

    /// <summary>
    /// The CPU emulator device used by tests: 256 threads per group (the largest groups our kernels
    /// launch) in warps of 4, on 2 emulated multiprocessors.
    /// </summary>
    public static CPUDevice EmulatorDevice() => new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 64, numMultiprocessors: 2);

    public static IlgpuBackend Create(IlgpuDeviceKind kind) =>
        Create(kind, kind == IlgpuDeviceKind.Cpu ? EmulatorDevice() : null);

    /// <summary>
    /// The CPU emulator with a device of the caller's shape: the parity tests run the kernels' warp code
    /// with 4 lanes and with CUDA's 32 (where a shuffle tree cut short no longer goes unnoticed).
    /// </summary>
    public static IlgpuBackend CreateEmulator(CPUDevice device) => Create(IlgpuDeviceKind.Cpu, device);

    private static IlgpuBackend Create(IlgpuDeviceKind kind, CPUDevice? emulator)
    {
        var context = Context.Create(builder =>
        {
            switch (kind)
            {
                case IlgpuDeviceKind.Cuda: builder.Cuda(); break;
                case IlgpuDeviceKind.OpenCL: builder.OpenCL(); break;
                case IlgpuDeviceKind.Cpu: builder.CPU(emulator ?? EmulatorDevice()); break;
            }
            builder.EnableAlgorithms();
        });
        try
        {
            Device? device = kind switch
            {
                IlgpuDeviceKind.Cuda => context.GetCudaDevices().Count > 0 ? context.GetCudaDevices()[0] : null,
                IlgpuDeviceKind.OpenCL => context.GetCLDevices().Count > 0 ? context.GetCLDevices()[0] : null,
                _ => context.GetCPUDevices().Count > 0 ? context.GetCPUDevices()[0] : null,
            };
            if (device is null)
                throw new InvalidOperationException($"no ILGPU {kind} device was found on this machine");
            return new IlgpuBackend(context, device.CreateAccelerator(context), kind);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>True when ILGPU sees at least one CUDA device.</summary>
    public static bool CudaAvailable()
    {
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            return context.GetCudaDevices().Count > 0;
        }
        catch (Exception)
        {
            return false;
        }
    }

    public Accelerator Accelerator { get; }
    public IlgpuDeviceKind Kind { get; }
    internal IlgpuOps IlgpuOps { get; }

    public string Name => Kind switch { IlgpuDeviceKind.Cuda => "cuda", IlgpuDeviceKind.OpenCL => "opencl", _ => "ilgpu-cpu" };

    public string Description =>
        $"ILGPU {Kind}: {Accelerator.Name}, {Accelerator.MemorySize / (1024.0 * 1024 * 1024):F1} GiB, " +
        $"{Accelerator.NumMultiprocessors} multiprocessors, warp {Accelerator.WarpSize}, max group {Accelerator.MaxNumThreadsPerGroup}";

    public IOps Ops => IlgpuOps;

    public long MemoryBytes => Accelerator.MemorySize;

    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged => new IlgpuBuffer<T>(Accelerator, length);

    public void Upload<T>(BufferView<T> destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        if (source.Length > destination.Length)
            throw new ArgumentException($"upload of {source.Length} elements into a view of {destination.Length}");
        if (source.Length == 0) return;
        destination.Device().SubView(0, source.Length).CopyFromCPU(source);
    }

    public void Download<T>(BufferView<T> source, Span<T> destination) where T : unmanaged
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"download of {source.Length} elements into a span of {destination.Length}");
        if (source.Length == 0) return;
        source.Device().CopyToCPU(destination.Slice(0, (int)source.Length));
    }

    public void Synchronize() => Accelerator.Synchronize();

    public void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}
