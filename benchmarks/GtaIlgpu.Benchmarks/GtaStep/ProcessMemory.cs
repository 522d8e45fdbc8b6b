using System.Diagnostics;
using System.Globalization;

namespace GtaIlgpu.Benchmarks.GtaStep;

/// <summary>
/// The process's resident memory from /proc/self/status (VmRSS, and VmHWM, its high-water mark), falling
/// back to <see cref="Process"/>'s working set where /proc is missing. Linux can reset the high-water mark
/// (writing 5 to /proc/self/clear_refs), so a phase's peak can be told apart from an earlier one's.
/// </summary>
public static class ProcessMemory
{
    private const string Status = "/proc/self/status";

    public static long ResidentBytes() => Read("VmRSS:") ?? Current().WorkingSet64;

    public static long PeakResidentBytes() => Read("VmHWM:") ?? Current().PeakWorkingSet64;

    /// <summary>Where the peak is read from, for the results file.</summary>
    public static string PeakSource => Read("VmHWM:") is null ? "Process.PeakWorkingSet64" : "VmHWM of /proc/self/status";

    /// <summary>Starts a new high-water mark at the current RSS; false where the kernel does not allow it.</summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }

    private static Process Current()
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        return process;
    }

    /// <summary>A "Name:   1234 kB" line of /proc/self/status in bytes; null when the file or the line is missing.</summary>
    private static long? Read(string key)
    {
        if (!File.Exists(Status)) return null;
        foreach (var line in File.ReadLines(Status))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var fields = line[key.Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 2 && fields[1] == "kB" && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb))
                return kb * 1024;
        }
        return null;
    }
}
