using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using GtaIlgpu.Common;

namespace GtaIlgpu.Data;

/// <summary>
/// The embedded default: UCI "Sentiment Labelled Sentences" (Kotzias et al., 2015), 1,000 sentences
/// each from Amazon, IMDb and Yelp, half positive and half negative. No data file lives in the
/// repository: on first use the npm package sentiment@5.0.2, which ships the corpus as test fixtures,
/// is fetched with `npm pack` into a cache folder and the three files are checked by SHA-256.
/// </summary>
public static class DefaultDataset
{
    public const string Name = "sentiment";
    private const string Package = "sentiment@5.0.2";
    private const string Tarball = "sentiment-5.0.2.tgz";

    private static readonly (string File, string Sha256)[] Files =
    [
        ("amazon.json", "bc5eb0cac49fc45987301f1dc2d02cf5ca356ba6c882be179dce77d74e666ed9"),
        ("imdb.json", "44a7b9082ed732ee2de3c858ea5ee2e99aca34f239a1c4359d3a300bf099bdb5"),
        ("yelp.json", "9f3f47983f21eeb819380767b74bfa648eca208f156241111454b3e122773ff7"),
    ];

    /// <summary>GTA_CACHE if set, else ~/.cache/gta-ilgpu.</summary>
    public static string CacheRoot =>
        Environment.GetEnvironmentVariable("GTA_CACHE") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "gta-ilgpu");

    /// <summary>Loads the corpus (fetching it once) and splits it 80/10/10, stratified by source and label, seeded.</summary>
    public static DatasetSplits Load(ulong seed = 1234, Action<string>? log = null)
    {
        string folder = EnsureFetched(log);
        var groups = new List<List<LabeledExample>>();
        foreach (var (file, _) in Files)
        {
            string path = Path.Combine(folder, file);
            string source = Path.GetFileNameWithoutExtension(file);
            var byLabel = new Dictionary<string, List<LabeledExample>>();
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            int index = 0;
            foreach (var item in doc.RootElement.EnumerateArray())
            {
                index++;
                string text = item.GetProperty("text").GetString() ?? "";
                var cls = item.GetProperty("class");
                if (cls.ValueKind == JsonValueKind.Null && text.Length == 0) continue; // each file ends with one empty record
                string label = cls.GetInt32() switch
                {
                    0 => "negative",
                    1 => "positive",
                    var other => throw new InvalidDataException($"{path}: record {index} has class {other}, expected 0 or 1"),
                };
                if (!byLabel.TryGetValue(label, out var list)) byLabel[label] = list = [];
                list.Add(new LabeledExample(text.Trim(), label, $"{source}#{index}"));
            }
            groups.AddRange(byLabel.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Value));
        }

        var rng = new Rng(seed);
        List<LabeledExample> train = [], validation = [], test = [];
        foreach (var group in groups)
        {
            var shuffled = group.ToArray();
            rng.Shuffle<LabeledExample>(shuffled);
            int nTest = shuffled.Length / 10, nValidation = shuffled.Length / 10;
            test.AddRange(shuffled.Take(nTest));
            validation.AddRange(shuffled.Skip(nTest).Take(nValidation));
            train.AddRange(shuffled.Skip(nTest + nValidation));
        }
        // Interleave classes and sources in the training order with one more seeded shuffle.
        var trainArray = train.ToArray();
        rng.Shuffle<LabeledExample>(trainArray);
        return new DatasetSplits(Name, trainArray, validation, test);
    }

    /// <summary>Returns the folder holding the three verified files, fetching them with npm if needed.</summary>
    public static string EnsureFetched(Action<string>? log = null)
    {
        string folder = Path.Combine(CacheRoot, "sentiment-5.0.2");
        if (Files.All(f => Verified(Path.Combine(folder, f.File), f.Sha256))) return folder;

        Directory.CreateDirectory(CacheRoot);
        // One work folder per call: two fetches at once (two commands, or two threads of one) never share it.
        string work = Path.Combine(CacheRoot, $"fetch-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            log?.Invoke($"fetching the default dataset ({Package}) with npm into {folder}");
            RunNpmPack(work);
            string staging = Path.Combine(work, "files");
            Directory.CreateDirectory(staging);
            using (var gzip = new GZipStream(File.OpenRead(Path.Combine(work, Tarball)), CompressionMode.Decompress))
            using (var tar = new TarReader(gzip))
            {
                while (tar.GetNextEntry() is { } entry)
                {
                    var match = Files.FirstOrDefault(f => entry.Name == $"package/test/fixtures/{f.File}");
                    if (match.File is null || entry.DataStream is null) continue;
                    using var output = File.Create(Path.Combine(staging, match.File));
                    entry.DataStream.CopyTo(output);
                }
            }
            foreach (var (file, sha) in Files)
            {
                string path = Path.Combine(staging, file);
                if (!File.Exists(path)) throw new InvalidDataException($"{Package} does not contain test/fixtures/{file}");
                if (!Verified(path, sha)) throw new InvalidDataException($"{Package}: test/fixtures/{file} does not have the expected SHA-256 {sha}");
            }
            // Publish the verified folder in one rename, so a half-fetched cache never looks complete. A fetch
            // that finished meanwhile has published the same verified files: keep those.
            if (Files.All(f => Verified(Path.Combine(folder, f.File), f.Sha256))) return folder;
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
            try { Directory.Move(staging, folder); }
            catch (IOException) when (Files.All(f => Verified(Path.Combine(folder, f.File), f.Sha256))) { }
            return folder;
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    private static bool Verified(string path, string sha256)
    {
        if (!File.Exists(path)) return false;
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream)) == sha256;
    }

    private static void RunNpmPack(string workFolder)
    {
        var start = new ProcessStartInfo("npm", ["pack", Package, "--silent"])
        {
            WorkingDirectory = workFolder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new InvalidOperationException($"the default dataset is fetched with npm, which was not found on PATH; install Node.js/npm or pass your own data");
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(180_000))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"npm pack {Package} did not finish within 3 minutes (no network access to the npm registry?)");
            }
            if (process.ExitCode != 0 || !File.Exists(Path.Combine(workFolder, Tarball)))
                throw new InvalidOperationException($"npm pack {Package} failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        }
    }
}
