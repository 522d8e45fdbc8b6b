using GtaIlgpu.Common;

namespace GtaIlgpu.Data;

/// <summary>
/// Reads labelled text from JSONL, CSV, TSV and fastText files, and whole datasets from a folder or a name.
/// Every row is validated; a bad row stops the load with `path:line: what` unless
/// <see cref="DatasetLoadOptions.SkipBadRows"/> is set, in which case it is counted in a <see cref="DatasetLoadReport"/>.
/// </summary>
public static class DatasetLoader
{
    /// <summary>The four paper benchmarks, found in ../shared/datasets or fetched with `gta data fetch`.</summary>
    public static IReadOnlyList<string> BenchmarkNames { get; } = ["sst5", "emotion", "massive", "bbc"];

    /// <summary>File extensions per format, in the order a folder is searched.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jsonl", ".ndjson", ".csv", ".tsv", ".txt", ".ft", ".fasttext"];

    private static readonly string[] SplitNames = ["train", "validation", "test"];

    /// <summary>The examples of one file, format chosen by extension (.jsonl/.ndjson, .csv, .tsv, .txt/.ft/.fasttext = fastText).</summary>
    public static IReadOnlyList<LabeledExample> Load(string path, DatasetLoadOptions? options = null) =>
        Load(path, options, out _);

    public static IReadOnlyList<LabeledExample> Load(string path, DatasetLoadOptions? options, out DatasetLoadReport report)
    {
        report = new DatasetLoadReport();
        var rows = LoadFile(path, options ?? DatasetLoadOptions.Default, labelSet: null, report);
        if (rows.Count == 0) throw new InvalidDataException($"{path}: contains no examples");
        return rows;
    }

    /// <summary>
    /// A dataset by name or folder: no name or "sentiment" is the embedded default; an existing folder is
    /// read as `train`, optional `validation` and `test` files with a supported extension; "sst5", "emotion",
    /// "massive" and "bbc" are looked up in $GTA_DATASETS, ../shared/datasets (from the current folder and
    /// from the repository root) and the fetch cache. Without a validation file, a stratified, seeded 10% of
    /// train becomes validation. The label set is the training labels in order of first appearance.
    /// </summary>
    public static DatasetSplits LoadSplits(string? nameOrFolder = null, DatasetLoadOptions? options = null) =>
        LoadSplits(nameOrFolder, options, out _);

    public static DatasetSplits LoadSplits(string? nameOrFolder, DatasetLoadOptions? options, out DatasetLoadReport report)
    {
        options ??= DatasetLoadOptions.Default;
        report = new DatasetLoadReport();
        if (string.IsNullOrWhiteSpace(nameOrFolder) || nameOrFolder.Equals(DefaultDataset.Name, StringComparison.OrdinalIgnoreCase))
            return DefaultDataset.Load(options.Seed);

        string folder;
        if (Directory.Exists(nameOrFolder)) folder = nameOrFolder;
        else if (IsBenchmarkName(nameOrFolder))
            folder = ResolveBenchmark(nameOrFolder.ToLowerInvariant())
                ?? throw new DirectoryNotFoundException(
                    $"dataset '{nameOrFolder}' not found; looked in {string.Join(", ", BenchmarkCandidates(nameOrFolder.ToLowerInvariant()))}. " +
                    $"Set GTA_DATASETS, pass the folder, or run `gta data fetch {nameOrFolder.ToLowerInvariant()}`");
        else if (File.Exists(nameOrFolder))
            throw new ArgumentException($"{nameOrFolder} is a file; --data takes a folder holding train, validation (optional) and test files, or one of: {DefaultDataset.Name}, {string.Join(", ", BenchmarkNames)}");
        else
            throw new DirectoryNotFoundException($"dataset folder not found: {nameOrFolder} (known names: {DefaultDataset.Name}, {string.Join(", ", BenchmarkNames)})");
        return LoadFolder(folder, options, report);
    }

    public static bool IsBenchmarkName(string name) => BenchmarkNames.Contains(name, StringComparer.OrdinalIgnoreCase);

    /// <summary>The folder of a benchmark dataset, or null when none of the candidate places holds it.</summary>
    public static string? ResolveBenchmark(string name) => ResolveBenchmark(name, Environment.GetEnvironmentVariable("GTA_DATASETS"));

    internal static string? ResolveBenchmark(string name, string? datasetsVariable) =>
        BenchmarkCandidates(name, datasetsVariable).FirstOrDefault(c => Directory.Exists(c) && FindSplitFile(c, "train") is not null);

    /// <summary>Where a benchmark is looked for, in order: $GTA_DATASETS/name, ./../shared/datasets/name, REPO/../shared/datasets/name, the fetch cache.</summary>
    public static IReadOnlyList<string> BenchmarkCandidates(string name) => BenchmarkCandidates(name, Environment.GetEnvironmentVariable("GTA_DATASETS"));

    internal static IReadOnlyList<string> BenchmarkCandidates(string name, string? datasetsVariable)
    {
        var list = new List<string>();
        if (datasetsVariable is { Length: > 0 } env) list.Add(Path.Combine(env, name));
        list.Add(Path.GetFullPath(Path.Combine(Directory.GetCurrentDirectory(), "..", "shared", "datasets", name)));
        if (FindRepositoryRoot() is { } root) list.Add(Path.GetFullPath(Path.Combine(root, "..", "shared", "datasets", name)));
        list.Add(FetchedFolder(name));
        return list.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>Where `gta data fetch NAME` writes by default: the cache folder (GTA_CACHE or ~/.cache/gta-ilgpu)/datasets/NAME.</summary>
    public static string FetchedFolder(string name) => Path.Combine(DefaultDataset.CacheRoot, "datasets", name);

    /// <summary>The folder holding GtaIlgpu.sln, walking up from the program's folder; null when there is none.</summary>
    public static string? FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GtaIlgpu.sln"))) return dir.FullName;
        return null;
    }

    private static DatasetSplits LoadFolder(string folder, DatasetLoadOptions options, DatasetLoadReport report)
    {
        string trainPath = FindSplitFile(folder, "train")
            ?? throw new FileNotFoundException($"{folder}: no training file (expected train{string.Join("|", Extensions)})");
        string testPath = FindSplitFile(folder, "test")
            ?? throw new FileNotFoundException($"{folder}: no test file (expected test{string.Join("|", Extensions)})");
        string? validationPath = FindSplitFile(folder, "validation");

        var train = LoadFile(trainPath, options, labelSet: null, report);
        if (train.Count == 0) throw new InvalidDataException($"{trainPath}: contains no examples");
        var labels = new HashSet<string>(train.Select(e => e.Label), StringComparer.Ordinal);

        IReadOnlyList<LabeledExample> validation;
        if (validationPath is not null)
            validation = LoadFile(validationPath, options, labels, report);
        else
        {
            (train, var carved) = CarveValidation(train, 0.1, options.Seed);
            validation = carved;
            report.CarvedValidationRows = carved.Count;
        }
        var test = LoadFile(testPath, options, labels, report);
        if (test.Count == 0) throw new InvalidDataException($"{testPath}: contains no examples");
        string name = new DirectoryInfo(Path.GetFullPath(folder)).Name;
        return new DatasetSplits(name, train, validation, test);
    }

    /// <summary>`folder/split.ext` for the one supported extension present; two candidates are an error.</summary>
    internal static string? FindSplitFile(string folder, string split)
    {
        var found = Extensions.Select(ext => Path.Combine(folder, split + ext)).Where(File.Exists).ToList();
        if (found.Count > 1) throw new InvalidDataException($"{folder}: more than one {split} file ({string.Join(", ", found.Select(Path.GetFileName))}); keep one");
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>
    /// Moves round(fraction·n) examples of every label from train to validation, chosen with a seeded
    /// shuffle; both keep their original order. The first example of each label stays in train, so the
    /// label set and its order are unchanged.
    /// </summary>
    public static (List<LabeledExample> Train, List<LabeledExample> Validation) CarveValidation(
        IReadOnlyList<LabeledExample> train, double fraction, ulong seed)
    {
        var rng = new Rng(seed);
        var byLabel = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int i = 0; i < train.Count; i++)
        {
            if (!byLabel.TryGetValue(train[i].Label, out var list)) { byLabel[train[i].Label] = list = []; order.Add(train[i].Label); }
            list.Add(i);
        }
        var moved = new bool[train.Count];
        foreach (var label in order)
        {
            var indices = byLabel[label];
            int take = Math.Min(indices.Count - 1, (int)Math.Round(indices.Count * fraction, MidpointRounding.AwayFromZero));
            var candidates = indices.Skip(1).ToArray(); // the first occurrence stays in train
            rng.Shuffle<int>(candidates);
            for (int k = 0; k < take; k++) moved[candidates[k]] = true;
        }
        List<LabeledExample> kept = [], carved = [];
        for (int i = 0; i < train.Count; i++) (moved[i] ? carved : kept).Add(train[i]);
        return (kept, carved);
    }

    private static IEnumerable<RawRow> ReadRows(string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".jsonl" or ".ndjson" => JsonlFormat.Read(path),
            ".csv" => DelimitedFormat.ReadCsv(path),
            ".tsv" => DelimitedFormat.ReadTsv(path),
            ".txt" or ".ft" or ".fasttext" => FastTextFormat.Read(path),
            _ => throw new ArgumentException($"{path}: unsupported dataset format '{ext}' (use {string.Join(", ", Extensions)})"),
        };
    }

    private static List<LabeledExample> LoadFile(string path, DatasetLoadOptions options, IReadOnlySet<string>? labelSet, DatasetLoadReport report)
    {
        if (!File.Exists(path))
            throw Directory.Exists(path)
                ? new ArgumentException($"{path} is a folder; expected a dataset file")
                : new FileNotFoundException($"dataset file not found: {path}", path);
        var examples = new List<LabeledExample>();
        foreach (var row in ReadRows(path))
        {
            var bad = Validate(row, options, labelSet);
            if (bad is { } problem)
            {
                var badRow = new BadRow(path, row.Line, problem.Reason, problem.Message);
                if (!options.SkipBadRows) throw new InvalidDataException(badRow.ToString());
                report.AddSkipped(badRow);
                continue;
            }
            examples.Add(new LabeledExample(row.Text!, row.Label!.Trim(), $"{path}:{row.Line}"));
        }
        report.AddRead(path, examples.Count);
        return examples;
    }

    private static (BadRowReason Reason, string Message)? Validate(RawRow row, DatasetLoadOptions options, IReadOnlySet<string>? labelSet)
    {
        if (row.Error is not null) return (BadRowReason.Malformed, row.Error);
        string label = row.Label!.Trim();
        if (label.Length == 0) return (BadRowReason.Malformed, "empty label");
        if (string.IsNullOrWhiteSpace(row.Text)) return (BadRowReason.EmptyText, "empty text");
        if (row.Text!.Length > options.MaxTextChars)
            return (BadRowReason.TooLong, $"text of {row.Text.Length} characters is longer than the maximum {options.MaxTextChars}");
        if (labelSet is not null && !labelSet.Contains(label))
            return (BadRowReason.UnknownLabel, $"label \"{label}\" does not occur in the training split");
        return null;
    }
}
