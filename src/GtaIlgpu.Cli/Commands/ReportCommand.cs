using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GtaIlgpu.Cli.Reporting;
using GtaIlgpu.Common;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta report`: reads the runs tree of scripts/paper-experiment.sh (layout: <see cref="StudyRuns"/>)
/// and writes OUT/README.md — the paper-form table, the seed table, the ablation table, the budgets,
/// the wall time, the commands that reproduce it — and OUT/figures/*.png. Only the block between
/// <see cref="MarkedSection.Begin"/> and <see cref="MarkedSection.End"/> is rewritten, so the
/// hand-written reading of the results around it survives every report.
/// </summary>
public static partial class ReportCommand
{
    public const string FiguresFolder = "figures";

    public static Command Build()
    {
        var runs = new Option<string>("--runs") { Description = "the runs tree of scripts/paper-experiment.sh (DATASET/base, DATASET/seed-S/{sft,grpo,gta}, DATASET/ablations/NAME)", DefaultValueFactory = _ => Path.Combine("runs", "paper") };
        var output = new Option<string>("--out") { Description = "folder for README.md and figures/ (a README.md there keeps everything outside its report markers)", DefaultValueFactory = _ => Path.Combine("docs", "results") };
        var command = new Command("report", "write the results of the paper's experiment (tables, figures, budgets, wall time, how to reproduce) from its runs");
        command.Options.Add(runs);
        command.Options.Add(output);
        command.SetAction(p => Run(p.GetValue(runs)!, p.GetValue(output)!));
        return command;
    }

    private static int Run(string runsFolder, string outFolder)
    {
        var study = StudyRuns.Read(runsFolder);
        string readmePath = Path.Combine(outFolder, "README.md");
        // Refuse a README without markers before anything is written, so a refused report changes nothing.
        string? existing = File.Exists(readmePath) ? File.ReadAllText(readmePath) : null;
        MarkedSection.Merge(existing, "", "", "", readmePath);

        var figures = WriteFigures(study, Path.Combine(outFolder, FiguresFolder));
        string generated = Generate(study, figures, runsFolder, outFolder);
        AtomicFile.WriteText(readmePath, MarkedSection.Merge(existing, generated, FreshBefore, FreshAfter, readmePath));

        foreach (string note in study.Notes) AnsiConsole.MarkupLineInterpolated($"[yellow]note:[/] {note}");
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]report:[/] {readmePath} ({study.Datasets.Count} dataset(s), {study.Datasets.Sum(d => d.AllRuns.Count())} run(s), {figures.Values.Sum(f => f.Count)} figure(s))");
        return 0;
    }

    private const string FreshBefore = "# The GTA paper's experiment: results\n\n";

    private const string FreshAfter = """

        ## Honest reading

        <!-- Written by a person, not by gta report: the report rewrites only the block between the report markers above. -->

        _Not written yet._ What the numbers above do and do not show, next to the paper's claims: which
        differences are larger than the spread between seeds, what the small base and the budget limit,
        and what the ablations say about the gradient constraint.

        """;

    /// <summary>A figure written for a dataset: its file name under figures/ and its caption.</summary>
    private sealed record Figure(string File, string Title, string Caption);

    private static Dictionary<string, List<Figure>> WriteFigures(StudyRuns study, string folder)
    {
        var figures = new Dictionary<string, List<Figure>>(StringComparer.Ordinal);
        foreach (var dataset in study.Datasets)
        {
            var list = figures[dataset.Name] = [];
            string prefix = SafeFileName().Replace(dataset.Name, "-");
            void Save(string name, string title, string yLabel, List<LinePlot.Series> series, string caption)
            {
                if (series.All(s => s.X.Count == 0)) return;
                Directory.CreateDirectory(folder);
                string file = $"{prefix}-{name}.png";
                LinePlot.Save(Path.Combine(folder, file), title, yLabel, series);
                list.Add(new Figure(file, title, caption));
            }

            if (MainSeedRuns(study, dataset) is { } main)
            {
                Save("validation-accuracy", $"{dataset.Name}: validation accuracy (seed {main.Seed})", "accuracy",
                    main.Methods.Where(m => m.Run is not null).Select(m => ValidationSeries(m.Method, m.Run!)).ToList(),
                    $"Validation accuracy (greedy decoding) against training step for sft, grpo and gta from the same base, seed {main.Seed}.");
                Save("rollout-reward", $"{dataset.Name}: mean rollout reward (seed {main.Seed})", "format + accuracy reward (0–2)",
                    new[] { ("grpo", main.Grpo), ("gta", main.Gta) }.Where(m => m.Item2 is not null)
                        .Select(m => new LinePlot.Series(m.Item1, m.Item2!.Steps.Select(s => (double)s.Step).ToList(),
                            m.Item2!.Steps.Select(s => (double)s.Reward).ToList())).ToList(),
                    $"Mean reward of the sampled completions per step (format reward + accuracy reward, each 0 or 1 per completion) for grpo and gta, seed {main.Seed}. sft is trained by teacher forcing and samples no rollouts, so it has no curve here.");
            }
            if (dataset.Ablations.Count > 0)
            {
                var variants = AblationVariants(study, dataset);
                Save("ablations-validation-accuracy", $"{dataset.Name}: GTA ablations, validation accuracy", "accuracy",
                    variants.Select(v => ValidationSeries(v.Label, v.Run)).ToList(),
                    "Validation accuracy against step for the GTA variants of the ablation table (same base, budget and seed).");
            }
        }
        return figures;
    }

    private static LinePlot.Series ValidationSeries(string name, StudyRun run) =>
        new(name, run.Validation.Select(v => (double)v.Step).ToList(), run.Validation.Select(v => v.Accuracy).ToList());

    [GeneratedRegex("[^A-Za-z0-9._-]")]
    private static partial Regex SafeFileName();

    /// <summary>The compare every dataset contributes to the test table; no other seed stands in for it, so a column never mixes seeds.</summary>
    private static SeedRuns? MainSeedRuns(StudyRuns study, DatasetRuns dataset) => dataset.Seeds.FirstOrDefault(s => s.Seed == study.MainSeed);

    /// <summary>The ablation rows: the main seed's gta (the paper's gate) first, then the ablation runs.</summary>
    private static List<(string Label, StudyRun Run)> AblationVariants(StudyRuns study, DatasetRuns dataset)
    {
        var rows = new List<(string Label, StudyRun Run)>();
        if (MainSeedRuns(study, dataset)?.Gta is { } gate) rows.Add((VariantLabel(gate), gate));
        rows.AddRange(dataset.Ablations.Select(run => (VariantLabel(run), run)));
        return rows.OrderBy(r => VariantOrder(r.Run)).ToList();
    }

    private static string VariantLabel(StudyRun run) => run.GuessByRl
        ? "GTA(RL): guess trained by RL"
        : run.Constraint switch
        {
            "gate" => "gate (the paper's rule)",
            "none" => "none (plain sum)",
            "pcgrad" => "pcgrad",
            var other => other,
        };

    private static int VariantOrder(StudyRun run) => run.GuessByRl ? 3 : run.Constraint switch { "gate" => 0, "none" => 1, "pcgrad" => 2, _ => 4 };

    private static string Generate(StudyRuns study, Dictionary<string, List<Figure>> figures, string runsFolder, string outFolder)
    {
        var md = new StringBuilder();
        void Line(string text = "") => md.Append(text).Append('\n');
        int runCount = study.Datasets.Sum(d => d.AllRuns.Count());
        Line($"_Generated by `gta report --runs {runsFolder} --out {outFolder}` on {DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)} UTC from {runCount} run(s). " +
             "Everything between the report markers is replaced by the next report; write your reading below them._");
        Line();
        if (study.Notes.Count > 0)
        {
            Line("**Missing or unfinished pieces** (their cells show –):");
            Line();
            foreach (string note in study.Notes) Line($"- {note}");
            Line();
        }

        string seedText = study.MainSeed is ulong s ? $"seed {s}" : "one seed";
        Line("## Test results");
        Line();
        Line($"Test split, greedy decoding, in percent. Per dataset one base (`gta base`), and sft, grpo and gta trained from it by `gta compare` with the same budget and {seedText} (see [Budgets](#budgets)).");
        Line();
        var withMain = study.Datasets.Select(d => (Dataset: d, Main: MainSeedRuns(study, d))).ToList();
        Row(md, ["method", .. withMain.SelectMany(d => new[] { $"{d.Dataset.Name} accuracy", $"{d.Dataset.Name} weighted F1" })]);
        Rule(md, 1 + 2 * withMain.Count);
        foreach (string method in new[] { "sft", "grpo", "gta" })
            Row(md, [method, .. withMain.SelectMany(d => MethodRun(d.Main, method)?.Test is { } t ? new[] { Pct(t.Accuracy), Pct(t.WeightedF1) } : ["–", "–"])]);
        Line();
        Line("Format-valid rate and guess accuracy on the same test runs (only gta's template has a guess):");
        Line();
        Row(md, ["method", .. withMain.SelectMany(d => new[] { $"{d.Dataset.Name} format-valid", $"{d.Dataset.Name} guess accuracy" })]);
        Rule(md, 1 + 2 * withMain.Count);
        foreach (string method in new[] { "sft", "grpo", "gta" })
            Row(md, [method, .. withMain.SelectMany(d => MethodRun(d.Main, method)?.Test is { } t ? new[] { Pct(t.FormatValidRate), Pct(t.GuessAccuracy) } : ["–", "–"])]);
        Line();

        WriteSeeds(md, study);
        WriteAblations(md, study);

        Line("## Figures");
        Line();
        foreach (var dataset in study.Datasets)
        {
            var list = figures.GetValueOrDefault(dataset.Name) ?? [];
            Line($"### {dataset.Name}");
            Line();
            if (list.Count == 0) Line("_No figure: no run of this dataset has validation or step metrics yet._");
            foreach (var figure in list)
            {
                Line($"![{figure.Title}]({FiguresFolder}/{figure.File})");
                Line();
                Line($"_{figure.Caption}_");
                Line();
            }
        }

        WriteBudgets(md, study);
        WriteWallTime(md, study);
        WriteReproduce(md, study, runsFolder, outFolder);
        return md.ToString();
    }

    private static StudyRun? MethodRun(SeedRuns? seed, string method) => seed?.Methods.First(m => m.Method == method).Run;

    private static void WriteSeeds(StringBuilder md, StudyRuns study)
    {
        md.Append("## Seeds\n\n");
        var multi = study.Datasets.Where(d => d.Seeds.Count >= 2).ToList();
        if (multi.Count == 0)
        {
            md.Append("_No dataset has runs with more than one seed yet._\n\n");
            return;
        }
        foreach (var dataset in multi)
        {
            md.Append(CultureInfo.InvariantCulture, $"### {dataset.Name}: {dataset.Seeds.Count} seeds, one base\n\n");
            md.Append("Test accuracy and weighted F1 in percent; the last row is the mean ± the sample standard deviation over the seeds that finished.\n\n");
            string[] methods = ["sft", "grpo", "gta"];
            Row(md, ["seed", .. methods.SelectMany(m => new[] { $"{m} accuracy", $"{m} weighted F1" })]);
            Rule(md, 1 + 2 * methods.Length);
            foreach (var seed in dataset.Seeds)
                Row(md, [seed.Seed.ToString(CultureInfo.InvariantCulture), .. methods.SelectMany(m => MethodRun(seed, m)?.Test is { } t ? new[] { Pct(t.Accuracy), Pct(t.WeightedF1) } : ["–", "–"])]);
            Row(md, ["mean ± sd", .. methods.SelectMany(m => new[]
            {
                MeanAndSpread(dataset.Seeds.Select(s => MethodRun(s, m)?.Test?.Accuracy)),
                MeanAndSpread(dataset.Seeds.Select(s => MethodRun(s, m)?.Test?.WeightedF1)),
            })]);
            md.Append('\n');
        }
    }

    private static void WriteAblations(StringBuilder md, StudyRuns study)
    {
        md.Append("## Ablations\n\n");
        var with = study.Datasets.Where(d => d.Ablations.Count > 0).ToList();
        if (with.Count == 0)
        {
            md.Append("_No ablation runs yet._\n\n");
            return;
        }
        // One explanation for every dataset's table: they all have the same columns.
        md.Append("Per dataset: the same base, budget and seed; only the gradient constraint (`--constraint`) or the guess's training (`--guess-by-rl`) changes; the gate row is the compare's gta. " +
                  "Test metrics in percent. The gate fraction counts steps in which at least one of the μ updates dropped the SFT gradient (metrics.jsonl's `gate_dropped_sft`); " +
                  "the conflict fraction counts steps whose last update had cos(g_sft, g_rl) < 0 (`cos_sft_rl`). GTA(RL) has no SFT gradient, so neither applies to it.\n\n");
        foreach (var dataset in with)
        {
            var variants = AblationVariants(study, dataset);
            md.Append(CultureInfo.InvariantCulture, $"### GTA variants on {dataset.Name}\n\n");
            Row(md, ["variant", "run", "seed", "accuracy", "weighted F1", "format-valid", "guess accuracy", "steps where the gate dropped SFT", "steps with cos(g_sft, g_rl) < 0"]);
            Rule(md, 9);
            var otherSeeds = new List<string>();
            ulong? gateSeed = variants.FirstOrDefault(v => !v.Run.GuessByRl && v.Run.Constraint == "gate").Run?.SettingNumber("seed") is double g ? (ulong)g : null;
            foreach (var (label, run) in variants)
            {
                var t = run.Test;
                bool hasSft = !run.GuessByRl;
                string gate = !hasSft ? "– (no SFT gradient)" : run.Constraint == "gate" ? Fraction(run.Steps.Count(s => s.GateDroppedSft > 0), run.Steps.Count) : "– (no gate)";
                string conflict = hasSft ? Fraction(run.Steps.Count(s => s.CosSftRl < 0), run.Steps.Count) : "–";
                string seed = run.SettingNumber("seed") is double sd ? sd.ToString(CultureInfo.InvariantCulture) : "?";
                Row(md, [label, $"`{run.Name}`", seed, Pct(t?.Accuracy), Pct(t?.WeightedF1), Pct(t?.FormatValidRate), Pct(t?.GuessAccuracy), gate, conflict]);
                if (gateSeed is ulong expected && run.SettingNumber("seed") is double actual && actual != expected)
                    otherSeeds.Add(string.Create(CultureInfo.InvariantCulture, $"`{run.Name}` was trained with seed {actual}, the gate run with {expected}: not a like-for-like comparison."));
            }
            md.Append('\n');
            foreach (string warning in otherSeeds) md.Append("**").Append(warning).Append("**\n\n");
        }
    }

    /// <summary>The settings that make up a run's budget: runs compared in one table must agree on all of them.</summary>
    private static readonly string[] BudgetKeys =
    [
        "steps", "prompts_per_step", "sft_prompts", "generations", "temperature", "max_completion_tokens", "mu", "beta", "clip_epsilon_low",
        "clip_epsilon_high", "loss_type", "scale_rewards", "mask_truncated_completions", "top_entropy_quantile", "lambda1", "lambda2", "learning_rate", "warmup_steps", "weight_decay",
        "clip_norm", "eval_every", "eval_examples",
    ];

    private static void WriteBudgets(StringBuilder md, StudyRuns study)
    {
        md.Append("## Budgets\n\n");
        md.Append("From the runs' config.json (the main seed's gta run; every other run of the dataset is checked against it below) and the base's gta_base.json and config.json. " +
                  "sft samples no rollouts, so G does not apply to it; it takes μ updates per step like the others.\n\n");
        Row(md, ["dataset", "steps", "prompts/step", "G", "μ", "β", "SFT prompts", "lr", "temperature", "max completion", "seeds", "base model", "base training", "device"]);
        Rule(md, 14);
        var mismatches = new List<string>();
        foreach (var dataset in study.Datasets)
        {
            var reference = MainSeedRuns(study, dataset)?.Gta ?? dataset.AllRuns.FirstOrDefault();
            string Setting(string key) => reference?.Settings[key] is JsonValue v ? Number(v) : "–";
            string baseModel = "–", baseTraining = "–";
            if (dataset.Base is { } b)
            {
                baseModel = string.Create(CultureInfo.InvariantCulture,
                    $"{b.Model.Layers} layer{(b.Model.Layers == 1 ? "" : "s")} × {b.Model.Channels} channels, {b.Model.Heads} heads, window {b.Model.MaxSequence}, vocabulary {b.Model.VocabSize}: {b.Parameters / 1e6:F2}M parameters");
                string from = b.Info["from"] is JsonValue f && f.TryGetValue(out string? source) ? $", primed from {source}" : "";
                baseTraining = string.Create(CultureInfo.InvariantCulture,
                    $"{Plain(b.Setting("pretrain_steps"))} LM + {Plain(b.Setting("prime_steps"))} priming steps, batch {Plain(b.Setting("batch"))}, lr {Plain(b.Setting("learning_rate"))}, seed {Plain(b.Setting("seed"))}{from}");
            }
            string seeds = string.Join(", ", dataset.Seeds.Select(s => s.Seed.ToString(CultureInfo.InvariantCulture)));
            string devices = string.Join(", ", dataset.AllRuns.Select(r => r.Device).OfType<string>().Distinct());
            Row(md, [dataset.Name, Setting("steps"), Setting("prompts_per_step"), Setting("generations"), Setting("mu"), Setting("beta"), Setting("sft_prompts"),
                Setting("learning_rate"), Setting("temperature"), Setting("max_completion_tokens"), seeds.Length > 0 ? seeds : "–", baseModel, baseTraining, devices.Length > 0 ? devices : "–"]);

            if (reference is null) continue;
            foreach (var run in dataset.AllRuns.Where(r => r != reference))
            {
                var differing = BudgetKeys.Where(k => reference.Settings[k]?.ToJsonString() != run.Settings[k]?.ToJsonString())
                    .Select(k => $"{k} {run.Settings[k]?.ToJsonString() ?? "absent"} (vs {reference.Settings[k]?.ToJsonString() ?? "absent"})").ToList();
                if (differing.Count > 0) mismatches.Add($"`{run.Name}` differs from `{reference.Name}`: {string.Join(", ", differing)}");
            }
        }
        md.Append('\n');
        md.Append(mismatches.Count == 0
            ? "Every run of a dataset has the same budget (steps, batch, G, μ, β, clipping, λ, lr and schedule, validation).\n\n"
            : "**Budgets differ** — these runs are not like-for-like:\n\n" + string.Concat(mismatches.Select(m => $"- {m}\n")) + "\n");
    }

    private static void WriteWallTime(StringBuilder md, StudyRuns study)
    {
        md.Append("## Wall time and device\n\n");
        if (study.Experiment.TryGetValue("machine", out var machine)) md.Append(CultureInfo.InvariantCulture, $"Machine: {machine}. ");
        var devices = study.Datasets.SelectMany(d => d.AllRuns).Select(r => r.Device).OfType<string>().Distinct().ToList();
        md.Append(CultureInfo.InvariantCulture, $"Backend of the runs: {(devices.Count > 0 ? string.Join(", ", devices) : "not recorded")}.\n\n");
        md.Append("Training-step time is the sum of metrics.jsonl's `seconds` (rollouts and updates only); a stage's wall time, as the script measured it, also holds building the base, validation, the test evaluation and start-up.\n\n");
        Row(md, ["dataset", "runs", "training steps"]);
        Rule(md, 3);
        foreach (var dataset in study.Datasets)
            Row(md, [dataset.Name, dataset.AllRuns.Count().ToString(CultureInfo.InvariantCulture), Duration(dataset.AllRuns.Sum(r => r.TrainingSeconds))]);
        Row(md, ["**all**", study.Datasets.Sum(d => d.AllRuns.Count()).ToString(CultureInfo.InvariantCulture), Duration(study.Datasets.Sum(d => d.AllRuns.Sum(r => r.TrainingSeconds)))]);
        md.Append('\n');
        if (study.Timings.Count == 0)
        {
            md.Append("_No stage timings recorded (no timings.tsv)._\n\n");
            return;
        }
        md.Append("Stages as scripts/paper-experiment.sh ran them (timings.tsv; a stage interrupted and run again counts once per finished run):\n\n");
        Row(md, ["stage", "dataset", "wall time", "finished (UTC)"]);
        Rule(md, 4);
        foreach (var t in study.Timings) Row(md, [t.Stage, t.Dataset, Duration(t.Seconds), t.FinishedUtc]);
        Row(md, ["**total**", "", Duration(study.Timings.Sum(t => t.Seconds)), ""]);
        md.Append('\n');
    }

    private static void WriteReproduce(StringBuilder md, StudyRuns study, string runsFolder, string outFolder)
    {
        md.Append("## How to reproduce\n\n");
        if (!study.Experiment.TryGetValue("invocation", out var invocation))
        {
            md.Append(CultureInfo.InvariantCulture, $"_{runsFolder} has no {StudyRuns.ExperimentFile}: these runs were not made by scripts/paper-experiment.sh, so the exact commands are not recorded; each run's config.json holds its settings._\n\n");
            return;
        }
        var commits = study.Experiment.GetValueOrDefault("commits", "unknown").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string at = commits.Length > 1
            ? $"at commit `{commits[^1]}` (the study was resumed across commits {string.Join(", ", commits.Select(c => $"`{c}`"))})"
            : $"at commit `{commits.FirstOrDefault() ?? "unknown"}`";
        md.Append(CultureInfo.InvariantCulture, $"From the repository root {at} (the datasets are looked up as `gta --data NAME` does: `$GTA_DATASETS`, `../shared/datasets`, the fetch cache):\n\n");
        md.Append("```bash\n").Append(invocation).Append("\n```\n\n");
        var commands = study.Timings.Where(t => t.Stage != "report").Select(t => t.Command).ToList();
        if (commands.Count > 0)
        {
            md.Append("It builds once (`dotnet build GtaIlgpu.sln -c Release`) and then runs, stage by stage (from timings.tsv; `--overwrite` marks a stage run again after an interruption):\n\n");
            md.Append("```bash\n");
            foreach (string command in commands) md.Append(command).Append('\n');
            md.Append(CultureInfo.InvariantCulture, $"gta report --runs {study.Experiment.GetValueOrDefault("out", runsFolder)} --out {study.Experiment.GetValueOrDefault("report_out", outFolder)}\n");
            md.Append("```\n\n");
        }
    }

    private static void Row(StringBuilder md, IEnumerable<string> cells) =>
        md.Append("| ").AppendJoin(" | ", cells.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).Append(" |\n");

    private static void Rule(StringBuilder md, int columns) =>
        md.Append('|').Append(string.Concat(Enumerable.Repeat("---|", columns))).Append('\n');

    /// <summary>A rate as a percentage with one decimal (test sets of 1,000–3,000 examples resolve about 0.1%).</summary>
    public static string Pct(double? rate) => rate is double x ? (100 * x).ToString("F1", CultureInfo.InvariantCulture) : "–";

    private static string MeanAndSpread(IEnumerable<double?> rates)
    {
        var values = rates.OfType<double>().Select(r => 100 * r).ToList();
        if (values.Count == 0) return "–";
        double mean = values.Average();
        if (values.Count == 1) return string.Create(CultureInfo.InvariantCulture, $"{mean:F1} (1 seed)");
        double sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        return string.Create(CultureInfo.InvariantCulture, $"{mean:F1} ± {sd:F1}");
    }

    private static string Fraction(int count, int total) =>
        total == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{count} of {total} ({100.0 * count / total:F0}%)");

    private static string Number(JsonValue value) =>
        value.TryGetValue(out double d) ? d.ToString("G6", CultureInfo.InvariantCulture) : value.ToJsonString().Trim('"');

    private static string Plain(double? value) => value is double d ? d.ToString("G6", CultureInfo.InvariantCulture) : "?";

    private static string Duration(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Round(seconds));
        return string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}");
    }
}
