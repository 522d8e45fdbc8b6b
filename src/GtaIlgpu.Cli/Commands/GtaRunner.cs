using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Reporting;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;
using GtaIlgpu.Training;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>What a finished training stage produced.</summary>
public sealed record RunResult(TrainingMethod Method, IReadOnlyList<GtaStepMetrics> Steps,
    IReadOnlyList<(int Step, ClassificationMetrics Metrics)> Validation, ClassificationMetrics Test);

/// <summary>
/// The pieces `gta train` and `gta compare` share: building the base with a progress bar, one
/// training stage with periodic validation, and the run folder (config.json, metrics.jsonl,
/// validation.jsonl, eval.json, PNG plots, the checkpoint), every file written atomically.
/// </summary>
public static class GtaRunner
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The base every method starts from: loaded from --model when given, else built for the dataset.</summary>
    public static (Gpt Model, PromptFormat Format, object BaseInfo) ObtainBase(IBackend backend, DatasetSplits data, GtaOptions options, ParseResult p)
    {
        if (p.GetValue(options.Model) is { } folder)
        {
            var (model, format) = BaseCheckpoint.Load(folder.FullName, backend, data.Labels);
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]base:[/] {folder.FullName}: {model.Config.Layers} layers, {model.Config.Channels} channels, vocabulary {model.Config.VocabSize}, {model.Layout.ParameterCount / 1e6:F2}M parameters");
            return (model, format, folder.FullName);
        }
        var settings = options.Base(p);
        var built = BuildBase(backend, data, settings, GtaOptions.TaskName(p.GetValue(options.Task), data.Name));
        return (built.Model, built.Format, settings);
    }

    public static (Gpt Model, PromptFormat Format) BuildBase(IBackend backend, DatasetSplits data, BaseSettings settings, string task)
    {
        (Gpt, PromptFormat)? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("base model", maxValue: settings.PretrainSteps + settings.PrimeSteps);
                int offset = 0;
                string phase = "";
                result = BaseModelBuilder.Build(backend, data, settings, (message, step, total) =>
                {
                    string current = message.Split(',')[0];
                    if (current != phase && phase.Length > 0) offset = settings.PretrainSteps;
                    phase = current;
                    bar.Description = message;
                    bar.Value = offset + step;
                }, task);
            });
        var (model, format) = result ?? throw new InvalidOperationException("the base model was not built");
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]base:[/] {model.Config.Layers} layers, {model.Config.Channels} channels, {model.Config.Heads} heads, vocabulary {model.Config.VocabSize}, {model.Layout.ParameterCount / 1e6:F2}M parameters");
        return (model, format);
    }

    public static ClassificationMetrics Evaluate(Gpt model, PromptFormat format, IReadOnlyList<LabeledExample> examples,
        CompletionTemplate template, int maxCompletionTokens, string what)
    {
        List<EvaluatedExample> results = [];
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask(what, maxValue: examples.Count);
                results = GtaEvaluator.Run(model, format, examples, template, maxCompletionTokens, progress: done => bar.Value = done);
            });
        return GtaEvaluator.Metrics(format.Labels, results);
    }

    /// <summary>Trains one stage and writes its run folder. The model is trained in place.</summary>
    public static RunResult Train(Gpt model, PromptFormat format, DatasetSplits data, GtaSettings settings, string runDir,
        IReadOnlyDictionary<string, object?> runInfo)
    {
        Directory.CreateDirectory(runDir);
        var config = new Dictionary<string, object?>(runInfo) { ["settings"] = settings };
        AtomicFile.WriteText(Path.Combine(runDir, "config.json"), JsonSerializer.Serialize(config, Json));

        var validationSet = data.Validation.Take(settings.EvalExamples).ToList();
        var steps = new List<GtaStepMetrics>();
        var validation = new List<(int, ClassificationMetrics)>();
        var metricsLines = new StringBuilder();
        var validationLines = new StringBuilder();

        void Validate(int step)
        {
            var metrics = GtaEvaluator.Metrics(format.Labels,
                GtaEvaluator.Run(model, format, validationSet, settings.Template, settings.MaxCompletionTokens));
            validation.Add((step, metrics));
            validationLines.Append(CultureInfo.InvariantCulture,
                $"{{\"step\":{step},\"accuracy\":{metrics.Accuracy:R},\"macro_f1\":{metrics.MacroF1:R},\"weighted_f1\":{metrics.WeightedF1:R},\"format_valid_rate\":{metrics.FormatValidRate:R},\"guess_accuracy\":{(metrics.GuessAccuracy is double g ? g.ToString("R", CultureInfo.InvariantCulture) : "null")}}}\n");
        }

        void Flush()
        {
            AtomicFile.WriteText(Path.Combine(runDir, "metrics.jsonl"), metricsLines.ToString());
            AtomicFile.WriteText(Path.Combine(runDir, "validation.jsonl"), validationLines.ToString());
            Plot(runDir, settings.Method, steps, validation);
        }

        using var trainer = new GtaTrainer(model, format, data.Train, settings);
        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask($"{settings.Method.ToString().ToLowerInvariant()} training", maxValue: settings.Steps);
                    bar.Description = $"{settings.Method.ToString().ToLowerInvariant()}: validating the start";
                    Validate(0);
                    for (int s = 0; s < settings.Steps; s++)
                    {
                        var m = trainer.Step();
                        steps.Add(m);
                        metricsLines.Append(JsonSerializer.Serialize(m, JsonLine)).Append('\n');
                        bar.Description = $"{settings.Method.ToString().ToLowerInvariant()}  reward {m.FormatReward + m.AccuracyReward:F2}  sft {m.SftLoss:F3}  {m.TokensPerSecond:F0} tok/s";
                        bar.Increment(1);
                        if (m.Step % settings.EvalEvery == 0 || m.Step == settings.Steps)
                        {
                            Validate(m.Step);
                            Flush(); // a run stopped from outside keeps its metrics up to the last validation
                            var v = validation[^1].Item2;
                            AnsiConsole.MarkupLineInterpolated(
                                $"{settings.Method.ToString().ToLowerInvariant(),-4} step {m.Step,4}: format reward {m.FormatReward:F2}, accuracy reward {m.AccuracyReward:F2}; validation accuracy {v.Accuracy:P1}, format-valid {v.FormatValidRate:P1}");
                        }
                    }
                });
        }
        finally
        {
            Flush(); // what was collected so far survives a NaN stop or any other failure
        }

        var test = Evaluate(model, format, data.Test, settings.Template, settings.MaxCompletionTokens, "test evaluation");
        AtomicFile.WriteText(Path.Combine(runDir, "eval.json"), test.ToJson());
        ModelCheckpoint.Save(Path.Combine(runDir, "checkpoint"), model, format.Tokenizer,
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = $"gta train --method {settings.Method.ToString().ToLowerInvariant()}" });
        return new RunResult(settings.Method, steps, validation, test);
    }

    private static readonly JsonSerializerOptions JsonLine = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private static void Plot(string runDir, TrainingMethod method, IReadOnlyList<GtaStepMetrics> steps, IReadOnlyList<(int Step, ClassificationMetrics Metrics)> validation)
    {
        var x = steps.Select(s => (double)s.Step).ToList();
        LinePlot.Save(Path.Combine(runDir, "rewards.png"), $"{method.ToString().ToLowerInvariant()}: rollout rewards", "mean reward",
        [
            new("format reward", x, steps.Select(s => (double)s.FormatReward).ToList()),
            new("accuracy reward", x, steps.Select(s => (double)s.AccuracyReward).ToList()),
        ]);
        LinePlot.Save(Path.Combine(runDir, "accuracy.png"), $"{method.ToString().ToLowerInvariant()}: validation", "rate",
        [
            new("accuracy", validation.Select(v => (double)v.Step).ToList(), validation.Select(v => v.Metrics.Accuracy).ToList()),
            new("format-valid", validation.Select(v => (double)v.Step).ToList(), validation.Select(v => v.Metrics.FormatValidRate).ToList()),
        ]);
    }
}
