using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;

namespace GtaIlgpu.Cli.Reporting;

/// <summary>One run folder of `gta train` / `gta compare`: its settings, its steps, its validations and (when it finished) its test metrics.</summary>
public sealed record StudyRun(string Name, JsonObject Config, IReadOnlyList<GtaStepMetrics> Steps,
    IReadOnlyList<ValidationPoint> Validation, ClassificationMetrics? Test)
{
    public JsonObject Settings => Config["settings"] as JsonObject ?? [];

    public string? SettingText(string key) => Settings[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    public double? SettingNumber(string key) => Settings[key] is JsonValue v && v.TryGetValue(out double d) ? d : null;

    public bool SettingFlag(string key) => Settings[key] is JsonValue v && v.TryGetValue(out bool b) && b;

    public string? Device => Config["device"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    /// <summary>The gradient constraint without spelling variants ("pc-grad" and "PCGrad" are both "pcgrad").</summary>
    public string Constraint => (SettingText("constraint") ?? "gate").Replace("-", "", StringComparison.Ordinal).ToLowerInvariant();

    public bool GuessByRl => SettingFlag("guess_by_rl");

    public double TrainingSeconds => Steps.Sum(s => s.Seconds);
}

/// <summary>`gta compare`'s three run folders for one seed (a method is null where its folder is missing or never started).</summary>
public sealed record SeedRuns(ulong Seed, StudyRun? Sft, StudyRun? Grpo, StudyRun? Gta)
{
    public IEnumerable<(string Method, StudyRun? Run)> Methods => [("sft", Sft), ("grpo", Grpo), ("gta", Gta)];
}

/// <summary>A saved base (`gta base`): its architecture and the settings it was built with.</summary>
public sealed record StudyBase(ModelConfig Model, long Parameters, JsonObject Info)
{
    public double? Setting(string key) => Info["settings"]?[key] is JsonValue v && v.TryGetValue(out double d) ? d : null;
}

public sealed record DatasetRuns(string Name, StudyBase? Base, IReadOnlyList<SeedRuns> Seeds, IReadOnlyList<StudyRun> Ablations)
{
    public IEnumerable<StudyRun> AllRuns => Seeds.SelectMany(s => s.Methods.Select(m => m.Run)).Concat(Ablations).OfType<StudyRun>();
}

/// <summary>One finished stage of scripts/paper-experiment.sh (a line of timings.tsv).</summary>
public sealed record StageTiming(string FinishedUtc, string Stage, string Dataset, double Seconds, string Command);

/// <summary>
/// The runs tree that scripts/paper-experiment.sh writes, read back for `gta report`:
/// <code>
/// RUNS/experiment.tsv                      the study's settings (key TAB value)
/// RUNS/timings.tsv                         one line per finished stage
/// RUNS/DATASET/base/                       gta base
/// RUNS/DATASET/seed-S/{sft,grpo,gta}/      gta compare --seed S
/// RUNS/DATASET/ablations/NAME/             gta train --method gta with one knob changed
/// </code>
/// Missing or unfinished pieces do not stop the reading: each becomes a line in <see cref="Notes"/>.
/// </summary>
public sealed partial class StudyRuns
{
    public const string ExperimentFile = "experiment.tsv";
    public const string TimingsFile = "timings.tsv";
    public const string BaseFolder = "base";
    public const string AblationsFolder = "ablations";
    public static readonly string[] TimingsColumns = ["finished_utc", "stage", "dataset", "seconds", "command"];

    public required string Root { get; init; }
    public required IReadOnlyList<DatasetRuns> Datasets { get; init; }
    public required IReadOnlyDictionary<string, string> Experiment { get; init; }
    public required IReadOnlyList<StageTiming> Timings { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }

    /// <summary>
    /// The seed every dataset is compared with: the first of the study's SEEDS, or (runs not made by the
    /// script) the seed most datasets have, the smallest on a tie.
    /// </summary>
    public ulong? MainSeed
    {
        get
        {
            if (Experiment.TryGetValue("seeds", out var seeds) && seeds.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [var first, ..]
                && ulong.TryParse(first, CultureInfo.InvariantCulture, out ulong recorded))
                return recorded;
            return Datasets.SelectMany(d => d.Seeds.Select(s => s.Seed)).GroupBy(s => s)
                .OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => (ulong?)g.Key).FirstOrDefault();
        }
    }

    [GeneratedRegex(@"^seed-(\d+)$")]
    private static partial Regex SeedFolderName();

    public static StudyRuns Read(string root)
    {
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"--runs {root}: folder not found");
        var notes = new List<string>();
        var experiment = ReadExperiment(Path.Combine(root, ExperimentFile), notes);
        var timings = ReadTimings(Path.Combine(root, TimingsFile), notes);

        // Datasets in the study's order where it was recorded, the rest by name.
        var order = experiment.TryGetValue("datasets", out var listed)
            ? listed.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.GetFileName(d.TrimEnd('/'))).ToList()
            : [];
        var folders = Directory.EnumerateDirectories(root).Select(Path.GetFileName).OfType<string>()
            .Where(name => !name.StartsWith('.'))
            .OrderBy(name => order.IndexOf(name) is var i && i >= 0 ? i : int.MaxValue).ThenBy(name => name, StringComparer.Ordinal).ToList();

        var datasets = new List<DatasetRuns>();
        foreach (string name in folders)
        {
            string folder = Path.Combine(root, name);
            bool looksLikeDataset = Directory.Exists(Path.Combine(folder, BaseFolder)) || Directory.Exists(Path.Combine(folder, AblationsFolder))
                || Directory.EnumerateDirectories(folder).Any(d => SeedFolderName().IsMatch(Path.GetFileName(d)));
            if (!looksLikeDataset)
            {
                notes.Add($"{name}/: not a dataset folder (no base/, seed-S/ or ablations/ in it); ignored");
                continue;
            }
            datasets.Add(ReadDataset(folder, name, notes));
        }
        foreach (string expected in order.Where(d => !folders.Contains(d)))
            notes.Add($"{expected}: listed in {ExperimentFile} but has no folder yet (the study has not reached it)");

        if (!datasets.Any(d => d.AllRuns.Any()))
            throw new InvalidDataException(
                $"--runs {root}: no runs found (expected DATASET/seed-S/{{sft,grpo,gta}}/ or DATASET/{AblationsFolder}/NAME/ run folders, as scripts/paper-experiment.sh writes them)");
        var study = new StudyRuns { Root = root, Datasets = datasets, Experiment = experiment, Timings = timings, Notes = notes };
        if (study.MainSeed is ulong main)
            foreach (var dataset in datasets.Where(d => d.Seeds.All(s => s.Seed != main)))
                notes.Add($"{dataset.Name}: no seed-{main}/ (the seed every dataset is compared with); its cells in the test table are empty");
        return study;
    }

    private static DatasetRuns ReadDataset(string folder, string name, List<string> notes)
    {
        var seeds = new List<SeedRuns>();
        foreach (string seedFolder in Directory.EnumerateDirectories(folder))
        {
            string folderName = Path.GetFileName(seedFolder);
            var match = SeedFolderName().Match(folderName);
            if (!match.Success)
            {
                if (folderName is not (BaseFolder or AblationsFolder))
                    notes.Add($"{name}/{folderName}/: not base/, seed-S/ or ablations/; ignored");
                continue;
            }
            ulong seed = ulong.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            StudyRun? Method(string method) => ReadRun(Path.Combine(seedFolder, method), $"{name}/{folderName}/{method}", notes);
            var runs = new SeedRuns(seed, Method("sft"), Method("grpo"), Method("gta"));
            CheckSeed(runs, $"{name}/{folderName}", notes);
            seeds.Add(runs);
        }
        seeds.Sort((a, b) => a.Seed.CompareTo(b.Seed));

        var ablations = new List<StudyRun>();
        string ablationsFolder = Path.Combine(folder, AblationsFolder);
        if (Directory.Exists(ablationsFolder))
            foreach (string run in Directory.EnumerateDirectories(ablationsFolder).Order(StringComparer.Ordinal))
                if (ReadRun(run, $"{name}/{AblationsFolder}/{Path.GetFileName(run)}", notes) is { } read)
                    ablations.Add(read);

        return new DatasetRuns(name, ReadBase(Path.Combine(folder, BaseFolder), $"{name}/{BaseFolder}", notes), seeds, ablations);
    }

    /// <summary>The seed folder's name should be the seed its runs were trained with.</summary>
    private static void CheckSeed(SeedRuns runs, string where, List<string> notes)
    {
        foreach (var (method, run) in runs.Methods)
            if (run?.SettingNumber("seed") is double seed && seed != runs.Seed)
                notes.Add($"{where}/{method}: trained with seed {seed.ToString(CultureInfo.InvariantCulture)}, not the folder's {runs.Seed}");
    }

    private static StudyRun? ReadRun(string folder, string name, List<string> notes)
    {
        if (!Directory.Exists(folder))
        {
            notes.Add($"{name}: missing (not run yet)");
            return null;
        }
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
        {
            notes.Add($"{name}: no config.json (the run never started training); left out");
            return null;
        }
        var config = ParseJson(configPath) as JsonObject ?? throw new InvalidDataException($"{configPath}: expected a JSON object");
        // Runs written before the TRL-named options compare with newer ones under the new names.
        if (config["settings"] is JsonObject stored)
        {
            try { config["settings"] = GtaSettingsMigration.Upgrade(stored); }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"{configPath}: {e.Message}");
            }
        }

        var steps = new List<GtaStepMetrics>();
        string metricsPath = Path.Combine(folder, "metrics.jsonl");
        if (File.Exists(metricsPath))
            foreach (var (line, number) in NonEmptyLines(metricsPath))
            {
                steps.Add(GtaStepMetrics.FromJsonLine(line, $"{metricsPath}:{number}"));
            }
        else notes.Add($"{name}: no metrics.jsonl");

        var validation = new List<ValidationPoint>();
        string validationPath = Path.Combine(folder, "validation.jsonl");
        if (File.Exists(validationPath))
            foreach (var (line, number) in NonEmptyLines(validationPath))
                validation.Add(ValidationPoint.Parse(line, $"{validationPath}:{number}"));
        else notes.Add($"{name}: no validation.jsonl");

        ClassificationMetrics? test = null;
        string evalPath = Path.Combine(folder, "eval.json");
        if (File.Exists(evalPath))
        {
            try { test = ClassificationMetrics.FromJson(File.ReadAllText(evalPath)); }
            catch (JsonException e) { throw new InvalidDataException($"{evalPath}: not the test metrics of gta train ({e.Message})"); }
        }
        else
        {
            int? planned = config["settings"]?["steps"] is JsonValue v && v.TryGetValue(out int s) ? s : null;
            notes.Add($"{name}: unfinished, no eval.json (at step {steps.LastOrDefault()?.Step ?? 0} of {planned?.ToString(CultureInfo.InvariantCulture) ?? "?"}); its test cells are empty");
        }
        return new StudyRun(name, config, steps, validation, test);
    }

    private static StudyBase? ReadBase(string folder, string name, List<string> notes)
    {
        string infoPath = Path.Combine(folder, BaseCheckpoint.InfoFile);
        if (!File.Exists(infoPath))
        {
            notes.Add($"{name}: no saved base ({BaseCheckpoint.InfoFile}); the model size is not reported");
            return null;
        }
        var info = ParseJson(infoPath) as JsonObject ?? throw new InvalidDataException($"{infoPath}: expected a JSON object");
        // The shape alone gives the parameter count: no weights are loaded.
        var model = ModelCheckpoint.ReadConfig(Path.Combine(folder, ModelCheckpoint.ConfigFile));
        return new StudyBase(model, new ParameterLayout(model).ParameterCount, info);
    }

    private static Dictionary<string, string> ReadExperiment(string path, List<string> notes)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            notes.Add($"no {ExperimentFile}: the runs were not made by scripts/paper-experiment.sh, so the study's settings and commands are not recorded");
            return values;
        }
        foreach (var (line, number) in NonEmptyLines(path))
        {
            int tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab <= 0) throw new InvalidDataException($"{path}:{number}: expected KEY<TAB>VALUE");
            values[line[..tab]] = line[(tab + 1)..];
        }
        return values;
    }

    private static List<StageTiming> ReadTimings(string path, List<string> notes)
    {
        var timings = new List<StageTiming>();
        if (!File.Exists(path))
        {
            notes.Add($"no {TimingsFile}: the stages' wall times were not recorded");
            return timings;
        }
        foreach (var (line, number) in NonEmptyLines(path))
        {
            var cells = line.Split('\t');
            if (number == 1 && cells.SequenceEqual(TimingsColumns)) continue;
            if (cells.Length != TimingsColumns.Length || !double.TryParse(cells[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
                throw new InvalidDataException($"{path}:{number}: expected {string.Join("<TAB>", TimingsColumns)} with seconds a number");
            timings.Add(new StageTiming(cells[0], cells[1], cells[2], seconds, cells[4]));
        }
        return timings;
    }

    private static JsonNode? ParseJson(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
    }

    private static IEnumerable<(string Line, int Number)> NonEmptyLines(string path) =>
        File.ReadAllLines(path).Select((line, i) => (line, i + 1)).Where(x => x.line.Length > 0);
}
