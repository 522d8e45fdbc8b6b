namespace GtaIlgpu.Tests.Fixtures;

/// <summary>
/// A test at real GPU shapes (V = 50,257, C = 768, a million elements): far too slow for the CPU
/// emulator, so it is reported as skipped — not silently passed — unless GTA_TEST_DEVICE names a GPU.
/// </summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        var device = Environment.GetEnvironmentVariable("GTA_TEST_DEVICE")?.Trim().ToLowerInvariant();
        if (device is not ("cuda" or "opencl"))
            Skip = "GPU-sized test: set GTA_TEST_DEVICE=cuda (or opencl) on a GPU machine";
    }
}
