using System.CommandLine;
using System.Globalization;
using System.Text;
using GtaIlgpu.Backends;
using GtaIlgpu.Cli.Reporting;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta compare`: one base model, then sft, grpo and gta trained from it with the same budget and seed;
/// writes DIR/summary.md (a table) and DIR/accuracy.png (validation accuracy against step), plus one
/// run folder per method.
/// </summary>
public static class CompareCommand
{
    private static readonly TrainingMethod[] Methods = [TrainingMethod.Sft, TrainingMethod.Grpo, TrainingMethod.Gta];

    public static Command Build()
    {
        var options = new GtaOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "folder for the summary, the plot and one run folder per method", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "compare")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a comparison already in --out" };
        var command = new Command("compare", "train sft, grpo and gta from the same base with the same budget and seed, and compare them");
        options.AddTo(command);
        command.Options.Add(output);
        command.Options.Add(overwrite);
        command.SetAction(p => Run(options, p, p.GetValue(output)!.FullName, p.GetValue(overwrite)));
        return command;
    }

    private static int Run(GtaOptions options, ParseResult p, string outDir, bool overwrite)
    {
        TrainCommand.RefuseExisting(outDir, overwrite);
        foreach (var m in Methods) options.Settings(p, m).Validate();
        var data = DatasetLoader.LoadSplits(p.GetValue(options.Data));
        AnsiConsole.MarkupLineInterpolated($"[grey]data:[/] {data.Name}: {data.Train.Count} train, {data.Validation.Count} validation, {data.Test.Count} test");
        using var backend = CommonOptions.OpenBackend(p.GetValue(options.Device)!);
        var (baseModel, format, baseInfo) = GtaRunner.ObtainBase(backend, data, options, p);
        var results = new List<RunResult>();
        using (baseModel)
        {
            foreach (var method in Methods)
            {
                AnsiConsole.MarkupLineInterpolated($"[bold]{method.ToString().ToLowerInvariant()}[/] from the shared base");
                var settings = options.Settings(p, method);
                // Each method trains its own model over the shared base's weights (full, or LoRA adapters on it).
                using var model = baseModel.WithOptions(settings.ModelOptions, AdapterLayout.Seed(settings.Seed));
                results.Add(GtaRunner.Train(model, format, data, settings, Path.Combine(outDir, method.ToString().ToLowerInvariant()),
                    new Dictionary<string, object?> { ["data"] = data.Name, ["task"] = format.TaskName, ["labels"] = format.Labels, ["device"] = backend.Name, ["base"] = baseInfo }));
            }
        }

        LinePlot.Save(Path.Combine(outDir, "accuracy.png"), $"{data.Name}: validation accuracy", "accuracy",
            results.Select(r => new LinePlot.Series(r.Method.ToString().ToLowerInvariant(),
                r.Validation.Select(v => (double)v.Step).ToList(), r.Validation.Select(v => v.Accuracy).ToList())));
        string summary = Summary(data.Name, results, options.Settings(p, TrainingMethod.Gta), backend);
        AtomicFile.WriteText(Path.Combine(outDir, "summary.md"), summary);
        var table = new Table().AddColumns("method", "accuracy", "macro F1", "weighted F1", "format-valid", "guess accuracy");
        foreach (var r in results)
            table.AddRow(r.Method.ToString().ToLowerInvariant(), $"{r.FinishedTest.Accuracy:P1}", $"{r.FinishedTest.MacroF1:P1}", $"{r.FinishedTest.WeightedF1:P1}",
                $"{r.FinishedTest.FormatValidRate:P1}", r.FinishedTest.GuessAccuracy is double g ? $"{g:P1}" : "–");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[grey]summary:[/] {Path.Combine(outDir, "summary.md")}");
        return 0;
    }

    private static string Summary(string dataset, IReadOnlyList<RunResult> results, GtaSettings settings, IBackend backend)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# sft vs grpo vs gta on {dataset}");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture,
            $"Same base, {settings.Steps} steps of {settings.PromptsPerStep} prompts each (RL: {settings.Generations} completions per prompt, μ = {settings.Mu} updates per step; SFT and GTA's guess: {Math.Max(settings.PromptsPerStep, settings.SftPrompts)} teacher-forced rows per update{(settings.FreshSftPerUpdate ? ", fresh for each update" : "")}), seed {settings.Seed}, device {backend.Name}. Test split, greedy decoding.");
        md.AppendLine();
        md.AppendLine("| method | accuracy | macro F1 | weighted F1 | format-valid | guess accuracy | answer corrects wrong guess |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            var test = r.FinishedTest;
            string Pct(double? v) => v is double x ? x.ToString("P1", CultureInfo.InvariantCulture) : "–";
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Method.ToString().ToLowerInvariant()} | {Pct(test.Accuracy)} | {Pct(test.MacroF1)} | {Pct(test.WeightedF1)} | {Pct(test.FormatValidRate)} | {Pct(test.GuessAccuracy)} | {Pct(test.AnswerCorrectsGuessRate)} |");
        }
        md.AppendLine();
        md.AppendLine("![validation accuracy against step](accuracy.png)");
        return md.ToString();
    }
}
