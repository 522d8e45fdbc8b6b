using GtaIlgpu.Backends.Ilgpu;

namespace GtaIlgpu.Tests.Fixtures;

/// <summary>
/// One ILGPU backend shared by the kernel tests (tests written once, run on any accelerator).
/// CI uses the CPU emulator at tiny shapes; on a GPU machine set GTA_TEST_DEVICE=cuda (or opencl)
/// to run the same parity tests on the real device.
/// </summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuFixture()
    {
        var requested = Environment.GetEnvironmentVariable("GTA_TEST_DEVICE")?.Trim().ToLowerInvariant();
        var kind = requested switch
        {
            "cuda" => IlgpuDeviceKind.Cuda,
            "opencl" => IlgpuDeviceKind.OpenCL,
            null or "" or "ilgpu-cpu" or "cpu" => IlgpuDeviceKind.Cpu,
            _ => throw new InvalidOperationException($"GTA_TEST_DEVICE={requested}: expected cuda, opencl or ilgpu-cpu"),
        };
        Backend = IlgpuBackend.Create(kind);
    }

    public IlgpuBackend Backend { get; }

    /// <summary>True on a real GPU, where tests may use larger shapes.</summary>
    public bool IsGpu => Backend.Kind != IlgpuDeviceKind.Cpu;

    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ilgpu";
}
