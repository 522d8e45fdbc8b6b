using System.Diagnostics;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// Finds NVIDIA's ptxas for the assembly test and `gta bench resources`, in this order:
/// <list type="number">
/// <item>$GTA_PTXAS (CI sets it from scripts/fetch-ptxas.sh): must run, or it is an error, never a fallback;</item>
/// <item>the copy scripts/fetch-ptxas.sh keeps in the cache ($GTA_CACHE, else ~/.cache/gta-ilgpu);</item>
/// <item>ptxas on PATH (an installed CUDA toolkit);</item>
/// <item>scripts/fetch-ptxas.sh itself, when this runs inside a checkout and $GTA_PTXAS_FETCH is not 0:
/// so the README's `dotnet test` alone fetches it once (an 84 MB .deb, kept with the 19 MB ptxas).</item>
/// </list>
/// </summary>
public static class PtxasLocator
{
    public const string PathVariable = "GTA_PTXAS";
    public const string FetchVariable = "GTA_PTXAS_FETCH";
    public const string FetchScript = "scripts/fetch-ptxas.sh";

    /// <summary>A found ptxas, or why there is none.</summary>
    public sealed record Result(Ptxas? Ptxas, string? Missing)
    {
        public Ptxas Require() => Ptxas ?? throw new InvalidOperationException(Missing);
    }

    private static readonly Lazy<Result> Once = new(() => Locate(fetch: true));

    /// <summary>Located once per process (a fetch, if needed, runs at most once).</summary>
    public static Result Shared => Once.Value;

    /// <summary>CI sets CI=true (GitHub Actions, GitLab and .ci/run do): there a missing ptxas is a failure, not a skip.</summary>
    public static bool InContinuousIntegration =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The folder scripts/fetch-ptxas.sh caches into: ptxas/ under the project's cache (GTA_CACHE or ~/.cache/gta-ilgpu).</summary>
    public static string CacheFolder() => Path.Combine(GtaIlgpu.Data.DefaultDataset.CacheRoot, "ptxas");

    public static Result Locate(bool fetch)
    {
        string? configured = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrWhiteSpace(configured))
            return TryOpen(configured, out var chosen, out var why) ? new(chosen, null) : new(null, $"{PathVariable}={configured} is not a working ptxas: {why}");

        string cached = Path.Combine(CacheFolder(), "bin", "ptxas");
        if (TryOpen(cached, out var fromCache, out _)) return new(fromCache, null);

        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            if (TryOpen(Path.Combine(folder, "ptxas"), out var onPath, out _)) return new(onPath, null);

        string? script = FindScript();
        if (script is null)
            return new(null, $"no ptxas: set {PathVariable}, put ptxas on PATH, or run {FetchScript} from a checkout");
        if (!fetch || Environment.GetEnvironmentVariable(FetchVariable) == "0")
            return new(null, $"no ptxas, and fetching is off ({FetchVariable}=0): run {script} or set {PathVariable}");
        return Fetch(script);
    }

    private static Result Fetch(string script)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start bash");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            return new(null, $"{script} did not finish within 10 minutes");
        }
        if (process.ExitCode != 0)
        {
            // The script ends a failure with one line that says why.
            string reason = stderr.Result.Trim().Split('\n').LastOrDefault() ?? $"exit {process.ExitCode}";
            return new(null, $"{script} failed: {reason}");
        }
        string path = stdout.Result.Trim().Split('\n').Last().Trim();
        return TryOpen(path, out var fetched, out var why) ? new(fetched, null) : new(null, $"{script} printed {path}, which is not a working ptxas: {why}");
    }

    private static bool TryOpen(string path, out Ptxas? ptxas, out string? why)
    {
        ptxas = null;
        why = null;
        try
        {
            ptxas = Ptxas.Open(path);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            why = e.Message;
            return false;
        }
    }

    /// <summary>scripts/fetch-ptxas.sh of the checkout this runs in (from the working directory or the binaries' folder upward).</summary>
    private static string? FindScript()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                string candidate = Path.Combine(folder.FullName, FetchScript);
                if (File.Exists(candidate) && File.Exists(Path.Combine(folder.FullName, "GtaIlgpu.sln"))) return candidate;
            }
        }
        return null;
    }
}
