using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// One measured figure. <see cref="Better"/> says which direction is an improvement ("higher" for
/// throughputs, "lower" for times), so a comparison never guesses from the unit.
/// </summary>
public sealed record BenchmarkFigure
{
    public required string Name { get; init; }
    public required string Unit { get; init; }
    public required double Value { get; init; }
    public required string Better { get; init; }

    /// <summary>Fraction of the device's peak (fp32 FLOP/s or memory bandwidth), where known.</summary>
    public double? FractionOfPeak { get; init; }

    /// <summary>Fraction of the yardstick measured in the same run (a copy, cuBLAS), where there is one.</summary>
    public double? FractionOfYardstick { get; init; }
    public string? Yardstick { get; init; }

    /// <summary>Median (or mean, for BenchmarkDotNet rows) time of one invocation, in nanoseconds.</summary>
    public double? TimeNs { get; init; }
    public string? Note { get; init; }

    /// <summary>Every measured invocation's time in nanoseconds, in order (end-to-end steps), so a reader sees they are flat.</summary>
    public List<double>? SamplesNs { get; init; }

    /// <summary>The warm-up invocations' times in nanoseconds, in order, where the benchmark records them.</summary>
    public List<double>? WarmupNs { get; init; }

    public const string Higher = "higher";
    public const string Lower = "lower";
}

/// <summary>Where the figures were measured.</summary>
public sealed record MachineInfo
{
    public required string CpuModel { get; init; }
    public required int Cores { get; init; }
    public required string Os { get; init; }
    public required string Runtime { get; init; }
    public string? Simd { get; init; }
    public double? CpuPeakGflops { get; init; }
    public string? CpuPeakMethod { get; init; }
    public string? Gpu { get; init; }
    public string? GpuDriver { get; init; }
    public double? GpuPeakGflops { get; init; }
    public double? GpuPeakGBps { get; init; }

    /// <summary>The host as far as it can be described without a GPU; callers add the GPU fields.</summary>
    public static MachineInfo DetectHost() => new()
    {
        CpuModel = CpuModelName() ?? System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(),
        Cores = Environment.ProcessorCount,
        Os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        Runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        Simd = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512"
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "128-bit or none",
    };

    private static string? CpuModelName()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return null;
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and >= 0)
                    return line[(colon + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}

/// <summary>
/// A results file: what ran, where, on which commit, and the figures. The JSON layout is the contract
/// `gta bench compare` reads (schema 1); the Markdown twin is for humans.
/// </summary>
public sealed record BenchmarkRun
{
    public const int CurrentSchema = 1;

    public int Schema { get; init; } = CurrentSchema;
    public required string Kind { get; init; }
    public required DateTimeOffset Timestamp { get; init; }
    public required string Commit { get; init; }
    public required MachineInfo Machine { get; init; }
    public Dictionary<string, string> Configuration { get; init; } = [];
    public required List<BenchmarkFigure> Results { get; init; }

    /// <summary>Writes NAME.json and NAME.md into the folder (atomically); returns the JSON path.</summary>
    public string Save(string folder, string name) => ResultsFile.Save(this, folder, name, ToMarkdown());

    /// <summary>Reads and checks a results file; anything malformed is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static BenchmarkRun Load(string path)
    {
        var run = ResultsFile.Read<BenchmarkRun>(path, "benchmark results file");
        if (run.Schema != CurrentSchema) throw new InvalidDataException($"{path}: schema {run.Schema} is not supported (expected {CurrentSchema})");
        if (run.Results is null) throw new InvalidDataException($"{path}: no \"results\" list");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var figure in run.Results)
        {
            if (figure is null || string.IsNullOrWhiteSpace(figure.Name)) throw new InvalidDataException($"{path}: a result has no name");
            if (figure.Better is not (BenchmarkFigure.Higher or BenchmarkFigure.Lower))
                throw new InvalidDataException($"{path}: result '{figure.Name}' has better = '{figure.Better}', expected 'higher' or 'lower'");
            if (!double.IsFinite(figure.Value) || figure.Value < 0)
                throw new InvalidDataException($"{path}: result '{figure.Name}' has value {figure.Value}, expected a finite non-negative number");
            if (!names.Add(figure.Name)) throw new InvalidDataException($"{path}: result '{figure.Name}' appears twice");
        }
        return run;
    }

    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append(inv, $"# {Kind} benchmarks\n\n");
        md.Append(inv, $"- when: {Timestamp:yyyy-MM-dd HH:mm:ss zzz}\n- commit: `{Commit}`\n");
        md.Append(inv, $"- CPU: {Machine.CpuModel}, {Machine.Cores} cores, {Machine.Simd}");
        if (Machine.CpuPeakGflops is double cpuPeak) md.Append(inv, $", fp32 peak {cpuPeak:F0} GFLOP/s ({Machine.CpuPeakMethod})");
        md.Append('\n');
        md.Append(inv, $"- GPU: {Machine.Gpu ?? "none"}");
        if (Machine.GpuDriver is not null) md.Append(inv, $", driver {Machine.GpuDriver}");
        if (Machine.GpuPeakGflops is double g) md.Append(inv, $", fp32 peak {g:F0} GFLOP/s");
        if (Machine.GpuPeakGBps is double b) md.Append(inv, $", memory {b:F0} GB/s");
        md.Append(inv, $"\n- OS: {Machine.Os}; {Machine.Runtime}\n");
        foreach (var (key, value) in Configuration) md.Append(inv, $"- {key}: {value}\n");
        md.Append("\n| benchmark | value | unit | of peak | of yardstick | time |\n|---|---:|---|---:|---:|---:|\n");
        foreach (var f in Results)
        {
            string peak = f.FractionOfPeak is double p ? p.ToString("P1", inv) : "";
            string yard = f.FractionOfYardstick is double y ? $"{y.ToString("P1", inv)} of {f.Yardstick}" : "";
            md.Append(inv, $"| {f.Name} | {Format(f.Value)} | {f.Unit} | {peak} | {yard} | {(f.TimeNs is double t ? FormatTime(t) : "")} |\n");
        }
        return md.ToString();
    }

    public static string Format(double value) => value.ToString(Math.Abs(value) >= 100 ? "F0" : Math.Abs(value) >= 1 ? "F2" : "G3", CultureInfo.InvariantCulture);

    public static string FormatTime(double ns) => ns switch
    {
        >= 1e9 => (ns / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " s",
        >= 1e6 => (ns / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " ms",
        >= 1e3 => (ns / 1e3).ToString("F1", CultureInfo.InvariantCulture) + " µs",
        _ => ns.ToString("F0", CultureInfo.InvariantCulture) + " ns",
    };

    /// <summary>
    /// The commit being measured: $GTA_COMMIT when set (the GPU bundle records it at build time), else
    /// `git rev-parse HEAD`, else "unknown".
    /// </summary>
    public static string DetectCommit()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("GTA_COMMIT");
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return fromEnvironment.Trim();
        try
        {
            using var git = Process.Start(new ProcessStartInfo("git", "rev-parse HEAD")
            {
                RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            });
            if (git is null) return "unknown";
            string output = git.StandardOutput.ReadToEnd().Trim();
            if (!git.WaitForExit(5000)) return "unknown";
            return git.ExitCode == 0 && output.Length > 0 ? output : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown"; // no git on this machine
        }
    }
}
