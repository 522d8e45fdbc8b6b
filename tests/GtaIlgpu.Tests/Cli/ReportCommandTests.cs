using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Cli.Reporting;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Gta;
using Spectre.Console;

namespace GtaIlgpu.Tests.Cli;

/// <summary>
/// `gta report` over a runs tree laid out as scripts/paper-experiment.sh lays it out, built by the real
/// commands at a tiny size: two datasets, one with a second seed and the ablations.
/// </summary>
[Collection(ConsoleCollection.Name)]
public class ReportCommandTests
{
    private static readonly string[] TinyBase =
    [
        "--base-layers", "1", "--base-channels", "16", "--base-heads", "2", "--base-sequence", "64",
        "--base-pretrain-steps", "2", "--base-prime-steps", "2", "--device", "cpu",
    ];

    private static readonly string[] TinyTrain =
    [
        "--steps", "2", "--prompts", "2", "--generations", "2", "--mu", "1", "--max-completion", "16", "--eval-every", "1",
        "--eval-examples", "4", "--device", "cpu",
    ];

    private const string Invocation = "STEPS='2' SEEDS='1 2' DATASETS='alpha beta' OUT='runs/paper' scripts/paper-experiment.sh";

    /// <summary>
    /// The runs tree of a two-dataset study. A tiny model's test metrics are all alike (usually 0), which
    /// would let a report that prints the wrong run's numbers pass, so each eval.json then gets distinct
    /// rates of its own; every other file is what the commands wrote.
    /// </summary>
    private static Dictionary<string, ClassificationMetrics> BuildStudy(string root, string runs)
    {
        string alpha = DatasetFolder.WriteSynthetic(Path.Combine(root, "data", "alpha"), 7);
        string beta = DatasetFolder.WriteSynthetic(Path.Combine(root, "data", "beta"), 11);
        void Ok(System.CommandLine.Command command, params string[] args) => Assert.Equal(0, CliErrors.Invoke(command, args));

        foreach (var (name, data) in new[] { ("alpha", alpha), ("beta", beta) })
        {
            string baseDir = Path.Combine(runs, name, "base");
            Ok(BaseCommand.Build(), [.. TinyBase, "--data", data, "--seed", "1", "--out", baseDir]);
            Ok(CompareCommand.Build(), [.. TinyTrain, "--model", baseDir, "--data", data, "--seed", "1", "--out", Path.Combine(runs, name, "seed-1")]);
        }
        string alphaBase = Path.Combine(runs, "alpha", "base");
        Ok(CompareCommand.Build(), [.. TinyTrain, "--model", alphaBase, "--data", alpha, "--seed", "2", "--out", Path.Combine(runs, "alpha", "seed-2")]);
        foreach (var (variant, flag) in new[] { ("none", new[] { "--constraint", "none" }), ("pcgrad", ["--constraint", "pcgrad"]), ("guess-by-rl", ["--guess-by-rl"]) })
            Ok(TrainCommand.Build(), [.. TinyTrain, .. flag, "--method", "gta", "--model", alphaBase, "--data", alpha, "--seed", "1", "--out", Path.Combine(runs, "alpha", "ablations", variant)]);

        var metrics = new Dictionary<string, ClassificationMetrics>(StringComparer.Ordinal);
        string[] runNames =
        [
            "alpha/seed-1/sft", "alpha/seed-1/grpo", "alpha/seed-1/gta", "alpha/seed-2/sft", "alpha/seed-2/grpo", "alpha/seed-2/gta",
            "alpha/ablations/none", "alpha/ablations/pcgrad", "alpha/ablations/guess-by-rl", "beta/seed-1/sft", "beta/seed-1/grpo", "beta/seed-1/gta",
        ];
        for (int i = 0; i < runNames.Length; i++)
        {
            string path = Path.Combine(runs, runNames[i], "eval.json");
            var written = ClassificationMetrics.FromJson(File.ReadAllText(path));
            var distinct = written with
            {
                Accuracy = 0.101 + 0.011 * i, WeightedF1 = 0.402 + 0.013 * i, FormatValidRate = 0.703 + 0.007 * i,
                GuessAccuracy = written.GuessAccuracy is null ? null : 0.204 + 0.017 * i,
            };
            File.WriteAllText(path, distinct.ToJson());
            metrics[runNames[i]] = distinct;
        }

        File.WriteAllText(Path.Combine(runs, StudyRuns.ExperimentFile),
            $"steps\t2\nseeds\t1 2\ndatasets\talpha beta\ndevice\tcpu\ngta_args\t\nbase_args\t\nout\truns/paper\nreport_out\tdocs/results\nmachine\ttest machine\ncommits\tabc1234\nstarted_utc\t2026-01-01T00:00:00Z\ninvocation\t{Invocation}\n");
        File.WriteAllText(Path.Combine(runs, StudyRuns.TimingsFile),
            "finished_utc\tstage\tdataset\tseconds\tcommand\n" +
            "2026-01-01T01:00:00Z\tbase\talpha\t3600\tgta base --data alpha --seed 1 --out runs/paper/alpha/base\n" +
            "2026-01-01T01:02:05Z\tcompare seed 1\talpha\t125\tgta compare --model runs/paper/alpha/base --data alpha --steps 2 --seed 1 --out runs/paper/alpha/seed-1\n");
        return metrics;
    }

    private static string Pct(double? rate) => rate is double x ? (100 * x).ToString("F1", CultureInfo.InvariantCulture) : "–";

    private static string MeanAndSd(double a, double b)
    {
        double x = 100 * a, y = 100 * b, mean = (x + y) / 2, sd = Math.Sqrt(((x - mean) * (x - mean) + (y - mean) * (y - mean)) / 1);
        return string.Create(CultureInfo.InvariantCulture, $"{mean:F1} ± {sd:F1}");
    }

    /// <summary>Runs a command with the console captured (one wide line per message) and gives its exit code and output.</summary>
    private static (int Code, string Output) Captured(System.CommandLine.Command command, params string[] args)
    {
        var previous = AnsiConsole.Console;
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 10_000;
        AnsiConsole.Console = console;
        try { return (CliErrors.Invoke(command, args), writer.ToString()); }
        finally { AnsiConsole.Console = previous; }
    }

    [Fact]
    public void Report_tables_hold_the_runs_numbers_the_figures_exist_and_hand_written_text_survives()
    {
        string root = Path.Combine(Path.GetTempPath(), $"gta-report-{Guid.NewGuid():N}");
        try
        {
            string runs = Path.Combine(root, "runs");
            var m = BuildStudy(root, runs);
            string results = Path.Combine(root, "results");
            string readmePath = Path.Combine(results, "README.md");
            Assert.Equal(0, CliErrors.Invoke(ReportCommand.Build(), ["--runs", runs, "--out", results]));
            string readme = File.ReadAllText(readmePath);

            // (a) The paper-form table: seed 1's runs, accuracy and weighted F1 per dataset in the study's order.
            foreach (string method in new[] { "sft", "grpo", "gta" })
            {
                var a = m[$"alpha/seed-1/{method}"];
                var b = m[$"beta/seed-1/{method}"];
                Assert.Contains($"| {method} | {Pct(a.Accuracy)} | {Pct(a.WeightedF1)} | {Pct(b.Accuracy)} | {Pct(b.WeightedF1)} |\n", readme);
                Assert.Contains($"| {method} | {Pct(a.FormatValidRate)} | {Pct(a.GuessAccuracy)} | {Pct(b.FormatValidRate)} | {Pct(b.GuessAccuracy)} |\n", readme);
            }
            Assert.Contains("| method | alpha accuracy | alpha weighted F1 | beta accuracy | beta weighted F1 |", readme);
            Assert.NotNull(m["alpha/seed-1/gta"].GuessAccuracy);

            // (b) The seed table of alpha: each seed, then mean ± sample standard deviation.
            foreach (string seed in new[] { "1", "2" })
                Assert.Contains($"| {seed} | " + string.Join(" | ", new[] { "sft", "grpo", "gta" }.SelectMany(method =>
                    new[] { Pct(m[$"alpha/seed-{seed}/{method}"].Accuracy), Pct(m[$"alpha/seed-{seed}/{method}"].WeightedF1) })) + " |\n", readme);
            Assert.Contains("| mean ± sd | " + string.Join(" | ", new[] { "sft", "grpo", "gta" }.SelectMany(method => new[]
            {
                MeanAndSd(m[$"alpha/seed-1/{method}"].Accuracy, m[$"alpha/seed-2/{method}"].Accuracy),
                MeanAndSd(m[$"alpha/seed-1/{method}"].WeightedF1, m[$"alpha/seed-2/{method}"].WeightedF1),
            })) + " |\n", readme);
            Assert.DoesNotContain("### beta: ", readme); // one seed: no seed table

            // (c) The ablation table: the compare's gta is the gate row; the gate fraction comes from metrics.jsonl.
            var gateLines = File.ReadAllLines(Path.Combine(runs, "alpha", "seed-1", "gta", "metrics.jsonl"));
            int dropped = gateLines.Count(line => JsonDocument.Parse(line).RootElement.GetProperty("gate_dropped_sft").GetSingle() > 0);
            string Ablation(string label, string run, string gate) =>
                $"| {label} | `{run}` | 1 | {Pct(m[run].Accuracy)} | {Pct(m[run].WeightedF1)} | {Pct(m[run].FormatValidRate)} | {Pct(m[run].GuessAccuracy)} | {gate} |";
            Assert.Contains(Ablation("gate (the paper's rule)", "alpha/seed-1/gta", $"{dropped} of {gateLines.Length} ({100.0 * dropped / gateLines.Length:F0}%)"), readme);
            Assert.Contains(Ablation("none (plain sum)", "alpha/ablations/none", "– (no gate)"), readme);
            Assert.Contains(Ablation("pcgrad", "alpha/ablations/pcgrad", "– (no gate)"), readme);
            Assert.Contains(Ablation("GTA(RL): guess trained by RL", "alpha/ablations/guess-by-rl", "– (no SFT gradient)"), readme);

            // (d) Budgets from config.json and the base; the device; wall time from timings.tsv; how to reproduce.
            Assert.Contains("| alpha | 2 | 2 | 2 | 1 | 0.01 | 32 | 0.0003 | 1 | 16 | 1, 2 | 1 layer × 16 channels, 2 heads, window 64", readme);
            Assert.Contains("| beta | 2 | 2 | 2 | 1 | 0.01 | 32 | 0.0003 | 1 | 16 | 1 | ", readme);
            Assert.Contains("Every run of a dataset has the same budget", readme);
            Assert.Contains("Machine: test machine. Backend of the runs: cpu.", readme);
            Assert.Contains("| **total** |  | 1:02:05 |  |", readme);
            Assert.Contains(Invocation, readme);
            Assert.Contains("gta compare --model runs/paper/alpha/base --data alpha --steps 2 --seed 1 --out runs/paper/alpha/seed-1\n", readme);
            Assert.Contains("gta report --runs runs/paper --out docs/results\n", readme);
            Assert.Contains("commit `abc1234`", readme);

            // (e) Figures exist, are PNGs and are linked; the reward caption says why sft has none.
            foreach (string figure in new[] { "alpha-validation-accuracy.png", "alpha-rollout-reward.png", "alpha-ablations-validation-accuracy.png", "beta-validation-accuracy.png", "beta-rollout-reward.png" })
            {
                string path = Path.Combine(results, ReportCommand.FiguresFolder, figure);
                Assert.True(File.Exists(path), $"{figure} missing");
                Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(path)[..4]);
                Assert.Contains($"]({ReportCommand.FiguresFolder}/{figure})", readme);
            }
            Assert.Contains("sft is trained by teacher forcing and samples no rollouts", readme);
            Assert.DoesNotContain("Missing or unfinished", readme);

            // Hand-written text before and after the generated block survives a second report, and the block is replaced, not repeated.
            Assert.Contains("## Honest reading", readme);
            string handWritten = readme.Replace("# The GTA paper's experiment: results\n", "# Results\n\nIntro written by hand.\n", StringComparison.Ordinal)
                .Replace("_Not written yet._", "GTA beats nothing at this size; written by hand.", StringComparison.Ordinal);
            File.WriteAllText(readmePath, handWritten);
            // An unfinished run: its cells become – and the report says why instead of failing.
            File.Delete(Path.Combine(runs, "beta", "seed-1", "grpo", "eval.json"));
            Assert.Equal(0, CliErrors.Invoke(ReportCommand.Build(), ["--runs", runs, "--out", results]));
            string second = File.ReadAllText(readmePath);
            Assert.StartsWith("# Results\n\nIntro written by hand.\n", second);
            Assert.Contains("GTA beats nothing at this size; written by hand.", second);
            Assert.Single(Regex.Matches(second, Regex.Escape(MarkedSection.Begin)));
            Assert.Single(Regex.Matches(second, Regex.Escape(MarkedSection.End)));
            Assert.Contains("- beta/seed-1/grpo: unfinished, no eval.json (at step 2 of 2); its test cells are empty", second);
            var alphaGrpo = m["alpha/seed-1/grpo"];
            Assert.Contains($"| grpo | {Pct(alphaGrpo.Accuracy)} | {Pct(alphaGrpo.WeightedF1)} | – | – |\n", second);

            // A README without the markers is refused and left as it was.
            File.WriteAllText(readmePath, "# Someone's notes\n");
            var (code, output) = Captured(ReportCommand.Build(), "--runs", runs, "--out", results);
            Assert.Equal(2, code);
            Assert.Contains("README.md: expected one <!-- report:begin --> line", output);
            Assert.Equal("# Someone's notes\n", File.ReadAllText(readmePath));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Report_on_a_runs_folder_without_runs_exits_2_naming_the_folder()
    {
        string root = Path.Combine(Path.GetTempPath(), $"gta-report-empty-{Guid.NewGuid():N}");
        try
        {
            string runs = Path.Combine(root, "runs");
            Directory.CreateDirectory(Path.Combine(runs, "sst5", "base")); // a dataset folder whose study never got past its base
            var (code, output) = Captured(ReportCommand.Build(), "--runs", runs, "--out", Path.Combine(root, "results"));
            Assert.Equal(2, code);
            Assert.Contains($"--runs {runs}: no runs found", output);
            Assert.False(Directory.Exists(Path.Combine(root, "results")));

            (code, output) = Captured(ReportCommand.Build(), "--runs", Path.Combine(root, "absent"), "--out", Path.Combine(root, "results"));
            Assert.Equal(2, code);
            Assert.Contains("folder not found", output);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Marked_section_replaces_only_the_block_and_refuses_a_file_without_one_pair_of_markers()
    {
        string fresh = MarkedSection.Merge(null, "numbers\n", "# Title\n\n", "\n## Mine\n", "R.md");
        Assert.Equal($"# Title\n\n{MarkedSection.Begin}\nnumbers\n{MarkedSection.End}\n\n## Mine\n", fresh);
        string edited = "intro\n" + fresh.Replace("## Mine", "## Mine, edited", StringComparison.Ordinal);
        Assert.Equal($"intro\n# Title\n\n{MarkedSection.Begin}\nnew numbers\n{MarkedSection.End}\n\n## Mine, edited\n",
            MarkedSection.Merge(edited, "new numbers", "", "", "R.md"));

        foreach (string bad in new[] { "no markers", $"{MarkedSection.End}\n{MarkedSection.Begin}", $"{MarkedSection.Begin}\n{MarkedSection.Begin}\n{MarkedSection.End}" })
            Assert.Contains("R.md: expected one", Assert.Throws<InvalidDataException>(() => MarkedSection.Merge(bad, "x", "", "", "R.md")).Message);
    }
}
