using System.Runtime.Intrinsics;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>The managed SIMD CPU backend: host memory and <see cref="CpuOps"/>.</summary>
public sealed class CpuBackend : HostBackendBase
{
    public override string Name => "cpu";

    public override string Description { get; } = Describe();

    public override IOps Ops { get; } = new CpuOps();

    private static string Describe()
    {
        string simd = Vector512.IsHardwareAccelerated ? "Vector512 accelerated (ops use Vector256)"
            : Vector256.IsHardwareAccelerated ? "Vector256 accelerated"
            : Vector128.IsHardwareAccelerated ? "Vector128 only (Vector256 emulated)"
            : "no SIMD acceleration";
        return $"CPU: {CpuModel() ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString()}, " +
               $"{CpuParallel.ThreadCount} threads, {simd}";
    }

    /// <summary>The "model name" line of /proc/cpuinfo (Linux), or null where there is none.</summary>
    private static string? CpuModel()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return null;
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                if (!line.StartsWith("model name", StringComparison.Ordinal)) continue;
                int colon = line.IndexOf(':');
                if (colon >= 0) return line[(colon + 1)..].Trim();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
