using System.CommandLine;
using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>`gta eval`: greedy decoding of a split with a trained run's checkpoint, metrics to a JSON file.</summary>
public static class EvalCommand
{
    public static Command Build()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "a run folder written by gta train (config.json + checkpoint/)", Required = true };
        var data = new Option<string?>("--data") { Description = "dataset name or folder (default: the run's own dataset)" };
        var split = new Option<string>("--split") { Description = "train, validation or test", DefaultValueFactory = _ => "test" };
        var output = new Option<FileInfo?>("--out") { Description = "metrics JSON (accuracy, macro_f1, weighted_f1, format_valid_rate, guess_accuracy, confusion matrix)" };
        var limit = new Option<int>("--limit") { Description = "evaluate only the first N examples (0: all)" };
        var device = CommonOptions.Device();
        var command = new Command("eval", "evaluate a trained run on a dataset split");
        foreach (var option in new Option[] { model, data, split, output, limit, device }) command.Options.Add(option);
        command.SetAction(p => Run(p.GetValue(model)!.FullName, p.GetValue(data), p.GetValue(split)!, p.GetValue(output)?.FullName, p.GetValue(limit), p.GetValue(device)!));
        return command;
    }

    private static int Run(string runDir, string? dataName, string split, string? outPath, int limit, string device)
    {
        string configPath = Path.Combine(runDir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{runDir} is not a run folder of gta train (no config.json)", configPath);
        JsonNode run;
        try { run = JsonNode.Parse(File.ReadAllText(configPath)) ?? throw new InvalidDataException($"{configPath}: empty"); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{configPath}: not valid JSON ({e.Message})"); }
        string task = run["task"]?.GetValue<string>() ?? throw new InvalidDataException($"{configPath}: no \"task\"");
        var labels = run["labels"]?.AsArray().Select(l => l!.GetValue<string>()).ToList() ?? throw new InvalidDataException($"{configPath}: no \"labels\"");
        string methodName = run["settings"]?["method"]?.GetValue<string>() ?? throw new InvalidDataException($"{configPath}: no settings.method");
        int maxCompletion = run["settings"]?["max_completion_tokens"]?.GetValue<int>() ?? new GtaSettings().MaxCompletionTokens;
        var template = methodName switch
        {
            "gta" => CompletionTemplate.GuessThinkAnswer,
            "grpo" => CompletionTemplate.ThinkAnswer,
            "sft" => CompletionTemplate.Answer,
            _ => throw new InvalidDataException($"{configPath}: unknown method '{methodName}'"),
        };
        var splits = DatasetLoader.LoadSplits(dataName ?? run["data"]?.GetValue<string>());
        IReadOnlyList<LabeledExample> examples = split.ToLowerInvariant() switch
        {
            "train" => splits.Train,
            "validation" => splits.Validation,
            "test" => splits.Test,
            _ => throw new ArgumentException($"--split must be train, validation or test, got '{split}'"),
        };
        if (limit > 0) examples = examples.Take(limit).ToList();

        using var backend = CommonOptions.OpenBackend(device);
        var loaded = ModelCheckpoint.Load(Path.Combine(runDir, "checkpoint"), backend);
        using var model = loaded.Model;
        var format = BaseCheckpoint.FormatOf(loaded, task, labels);
        var metrics = GtaRunner.Evaluate(model, format, examples, template, maxCompletion, $"{split} evaluation");
        if (outPath is not null) AtomicFile.WriteText(outPath, metrics.ToJson());
        var table = new Table().AddColumns("metric", "value");
        table.AddRow("examples", metrics.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        table.AddRow("accuracy", $"{metrics.Accuracy:P1}");
        table.AddRow("macro F1", $"{metrics.MacroF1:P1}");
        table.AddRow("weighted F1", $"{metrics.WeightedF1:P1}");
        table.AddRow("format-valid rate", $"{metrics.FormatValidRate:P1}");
        table.AddRow("guess accuracy", metrics.GuessAccuracy is double g ? $"{g:P1}" : "–");
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(metrics.ConfusionMarkdown());
        return 0;
    }
}
