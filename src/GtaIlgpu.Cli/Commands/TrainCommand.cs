using System.CommandLine;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta train`: build the shared base for a dataset, train one method from it, validate periodically,
/// evaluate on test, and write the run folder. With no arguments it is the default end-to-end run
/// on the embedded dataset.
/// </summary>
public static class TrainCommand
{
    public static Command Build()
    {
        var options = new GtaOptions();
        var method = new Option<TrainingMethod>("--method") { Description = "Gta, Sft or Grpo", DefaultValueFactory = _ => TrainingMethod.Gta };
        var output = new Option<DirectoryInfo>("--out") { Description = "run folder", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "gta")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a run already in --out" };
        var command = new Command("train", "train a classifier with GTA (or the sft / grpo baselines) from a freshly built base model");
        options.AddTo(command);
        command.Options.Add(method);
        command.Options.Add(output);
        command.Options.Add(overwrite);
        command.SetAction(p => Run(options, p, p.GetValue(method), p.GetValue(output)!.FullName, p.GetValue(overwrite)));
        return command;
    }

    public static void RefuseExisting(string folder, bool overwrite)
    {
        if (!overwrite && Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new ArgumentException($"{folder} already holds a run; choose another --out or pass --overwrite");
    }

    private static int Run(GtaOptions options, ParseResult p, TrainingMethod method, string runDir, bool overwrite)
    {
        RefuseExisting(runDir, overwrite);
        var settings = options.Settings(p, method);
        settings.Validate();
        var data = DatasetLoader.LoadSplits(p.GetValue(options.Data));
        AnsiConsole.MarkupLineInterpolated($"[grey]data:[/] {data.Name}: {data.Train.Count} train, {data.Validation.Count} validation, {data.Test.Count} test; labels {string.Join(", ", data.Labels)}");
        using var backend = CommonOptions.OpenBackend(p.GetValue(options.Device)!);
        var (model, format, baseInfo) = GtaRunner.ObtainBase(backend, data, options, p);
        using (model)
        {
            var baseTest = GtaRunner.Evaluate(model, format, data.Test, settings.Template, settings.MaxCompletionTokens, "base model on test");
            var result = GtaRunner.Train(model, format, data, settings, runDir, new Dictionary<string, object?>
            {
                ["data"] = data.Name, ["task"] = format.TaskName, ["labels"] = format.Labels, ["device"] = backend.Name, ["base"] = baseInfo,
            });
            var table = new Table().AddColumns("test split", "base", method.ToString().ToLowerInvariant());
            void Row(string name, double? a, double? b) => table.AddRow(name, a is double x ? $"{x:P1}" : "–", b is double y ? $"{y:P1}" : "–");
            Row("accuracy", baseTest.Accuracy, result.Test.Accuracy);
            Row("macro F1", baseTest.MacroF1, result.Test.MacroF1);
            Row("weighted F1", baseTest.WeightedF1, result.Test.WeightedF1);
            Row("format-valid rate", baseTest.FormatValidRate, result.Test.FormatValidRate);
            Row("guess accuracy", baseTest.GuessAccuracy, result.Test.GuessAccuracy);
            Row("answer corrects a wrong guess", baseTest.AnswerCorrectsGuessRate, result.Test.AnswerCorrectsGuessRate);
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"[grey]run folder:[/] {runDir}");
        }
        return 0;
    }
}
