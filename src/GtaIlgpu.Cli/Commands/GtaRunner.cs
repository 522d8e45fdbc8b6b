using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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
using GtaIlgpu.Text;
using GtaIlgpu.Training;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>What a training stage produced; Test is null when the stage stopped early (--stop-after).</summary>
public sealed record RunResult(TrainingMethod Method, IReadOnlyList<GtaStepMetrics> Steps,
    IReadOnlyList<ValidationPoint> Validation, ClassificationMetrics? Test)
{
    public ClassificationMetrics FinishedTest => Test ?? throw new InvalidOperationException($"the {Method} stage stopped before its test evaluation");
}

/// <summary>
/// Training checkpoints of a stage: every <paramref name="Every"/> steps and at its end (0: none), a
/// step to stop after with a checkpoint (0: run to the end), the checkpoint to resume from, and the run
/// description that each checkpoint carries for `gta train --resume`.
/// </summary>
public sealed record StageCheckpoints(JsonObject Run, int Every = 0, int StopAfter = 0, string? ResumeFrom = null);

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

    /// <summary>
    /// The base every method starts from: with --model, a base saved by `gta base`, or a Hugging Face
    /// GPT-2 folder primed here first; without it, a base built for the dataset.
    /// </summary>
    public static (Transformer Model, PromptFormat Format, object BaseInfo) ObtainBase(IBackend backend, DatasetSplits data, GtaOptions options, ParseResult p)
    {
        if (p.GetValue(options.Model) is { } folder)
        {
            if (!folder.Exists) throw new DirectoryNotFoundException($"--model: folder not found: {folder.FullName}");
            if (PretrainedBase.IsHuggingFaceFolder(folder.FullName))
            {
                var baseSettings = options.Base(p);
                var primed = BuildPretrainedBase(backend, data, folder.FullName, baseSettings, GtaOptions.TaskName(p.GetValue(options.Task), data.Name));
                return (primed.Model, primed.Format, new Dictionary<string, object?> { ["from"] = folder.FullName, ["settings"] = baseSettings });
            }
            if (!BaseCheckpoint.IsBase(folder.FullName))
                throw new InvalidDataException($"--model {folder.FullName}: neither a base of gta base ({BaseCheckpoint.InfoFile}) nor a Hugging Face model folder ({ModelCheckpoint.ConfigFile}, weights, and a tokenizer: {Gpt2BpeTokenizer.VocabFile} + {Gpt2BpeTokenizer.MergesFile}, tokenizer.json or original/tokenizer.model)");
            var (model, format) = BaseCheckpoint.Load(folder.FullName, backend, data.Labels);
            AnsiConsole.MarkupLineInterpolated(
                $"[grey]base:[/] {folder.FullName}: {model.Config.Describe(model.Layout.ParameterCount)}");
            return (model, format, folder.FullName);
        }
        var settings = options.Base(p);
        var built = BuildBase(backend, data, settings, GtaOptions.TaskName(p.GetValue(options.Task), data.Name));
        return (built.Model, built.Format, settings);
    }

    public static (Transformer Model, PromptFormat Format) BuildBase(IBackend backend, DatasetSplits data, BaseSettings settings, string task)
    {
        (Transformer, PromptFormat)? result = null;
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
            $"[grey]base:[/] {model.Config.Describe(model.Layout.ParameterCount)}");
        if (model.Config.MaxSequence > settings.MaxSequence)
            AnsiConsole.MarkupLineInterpolated(
                $"[yellow]note:[/] window {settings.MaxSequence} → {model.Config.MaxSequence}: the instruction with {format.Labels.Count} labels and a {settings.MaxCompletionTokens}-token completion take {format.LongestInstructionTokens + settings.MaxCompletionTokens} tokens; the window leaves at least {BaseModelBuilder.MinTextTokens} for the text");
        return (model, format);
    }

    /// <summary>A base from a Hugging Face GPT-2 folder: the tags added as tokens, then format priming (no language-model pretraining).</summary>
    public static (Transformer Model, PromptFormat Format) BuildPretrainedBase(IBackend backend, DatasetSplits data, string folder, BaseSettings settings, string task)
    {
        (Transformer, PromptFormat)? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("base model: format priming", maxValue: Math.Max(1, settings.PrimeSteps));
                result = PretrainedBase.Build(folder, backend, data, settings, task, (message, step, _) =>
                {
                    bar.Description = message;
                    bar.Value = step;
                });
            });
        var (model, format) = result ?? throw new InvalidOperationException("the base model was not built");
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]base:[/] {folder}: {model.Config.Describe(model.Layout.ParameterCount)} (the tags added)");
        return (model, format);
    }

    /// <summary>
    /// The model a stage trains: the base itself for full fine-tuning, or (LoRA, a bf16 base, recomputation)
    /// a model with those options over the base's weights, the base disposed.
    /// </summary>
    public static Transformer ForTraining(Transformer baseModel, GtaSettings settings)
    {
        if (settings.ModelOptions == ModelOptions.Full) return baseModel;
        using (baseModel) return baseModel.WithOptions(settings.ModelOptions, AdapterLayout.Seed(settings.Seed));
    }

    public static ClassificationMetrics Evaluate(Transformer model, PromptFormat format, IReadOnlyList<LabeledExample> examples,
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

    /// <summary>
    /// Trains one stage and writes its run folder; the model is trained in place. With checkpoints, the
    /// stage writes training checkpoints, may stop early, and may continue one (the model then only
    /// needs the checkpoint's shape: the weights are restored from it).
    /// </summary>
    public static RunResult Train(Transformer model, PromptFormat format, DatasetSplits data, GtaSettings settings, string runDir,
        IReadOnlyDictionary<string, object?> runInfo, StageCheckpoints? checkpoints = null)
    {
        var validationSet = data.ValidationSample(settings.EvalExamples);
        var steps = new List<GtaStepMetrics>();
        var validation = new List<ValidationPoint>();
        var metricsLines = new StringBuilder();
        var validationLines = new StringBuilder();
        string method = settings.Method.ToString().ToLowerInvariant();

        var plan = GtaTrainer.PlanMemory(model.Config, settings);
        AnsiConsole.MarkupLineInterpolated($"[grey]memory:[/] {plan.Summary()} of {MemoryPlan.Format(model.Backend.MemoryBytes)} on {model.Backend.Name}");
        if (model.AdapterLayout is { } lora)
            AnsiConsole.MarkupLineInterpolated($"[grey]LoRA:[/] r = {lora.Lora.Rank}, alpha {lora.Lora.Alpha} (scale {lora.Lora.Scale}) on {string.Join(", ", lora.ResolvedTargets)}: {lora.ParameterCount:N0} trainable of {model.Layout.ParameterCount:N0} parameters ({100.0 * lora.ParameterCount / model.Layout.ParameterCount:F2}%), base in {model.Options.BaseDtype.ToString().ToLowerInvariant()}{(model.Options.Recompute ? ", recompute" : "")}");
        GtaTrainer.EnsureFits(plan, settings, model.Backend);
        using var trainer = new GtaTrainer(model, format, data.Train, settings);
        if (checkpoints?.ResumeFrom is { } checkpoint)
        {
            GtaTrainingCheckpoint.Restore(checkpoint, trainer);
            string metricsSoFar = TrainingCheckpoint.ReadMetrics(checkpoint), validationSoFar = GtaTrainingCheckpoint.ReadValidation(checkpoint);
            metricsLines.Append(metricsSoFar);
            validationLines.Append(validationSoFar);
            string source = Path.Combine(checkpoint, TrainingCheckpoint.MetricsFile);
            steps.AddRange(Lines(metricsSoFar).Select(line => GtaStepMetrics.FromJsonLine(line, source)));
            // num_tokens is cumulative: a checkpoint written before gta_progress.json existed continues from the
            // last metrics line (a line of an even older run did not record it: NaN, count from 0 again).
            if (!File.Exists(Path.Combine(checkpoint, GtaTrainingCheckpoint.ProgressFile)) && steps.Count > 0 && double.IsFinite(steps[^1].NumTokens))
                trainer.NumTokens = steps[^1].NumTokens;
            validation.AddRange(Lines(validationSoFar).Select(line => ValidationPoint.Parse(line, Path.Combine(checkpoint, GtaTrainingCheckpoint.ValidationFile))));
        }
        int start = trainer.StepsDone;
        int stopAfter = checkpoints?.StopAfter ?? 0;
        int end = stopAfter > 0 ? Math.Min(stopAfter, settings.Steps) : settings.Steps;
        if (end <= start) throw new ArgumentException($"the run is already at step {start}, past the requested end {end} (pass a larger --steps or --stop-after)");

        Directory.CreateDirectory(runDir);
        string baseDir = Path.Combine(runDir, TrainingCheckpoint.BaseFolder);
        if (model.HasAdapters && checkpoints?.ResumeFrom is null)
        {
            // The frozen base is written once; checkpoints and the final model hold adapters that name it.
            ModelCheckpoint.Save(baseDir, model, format.Tokenizer, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "gta train: the frozen base of a LoRA run" });
            format.SaveOptions(baseDir);
        }
        var config = new Dictionary<string, object?>(runInfo) { ["settings"] = settings };
        AtomicFile.WriteText(Path.Combine(runDir, "config.json"), JsonSerializer.Serialize(config, Json));

        void Validate(int step)
        {
            var point = ValidationPoint.Of(step, GtaEvaluator.Metrics(format.Labels,
                GtaEvaluator.Run(model, format, validationSet, settings.Template, settings.MaxCompletionTokens, prefillRows: settings.MicroBatch)));
            validation.Add(point);
            validationLines.Append(point.ToJsonLine()).Append('\n');
        }

        void Flush()
        {
            AtomicFile.WriteText(Path.Combine(runDir, "metrics.jsonl"), metricsLines.ToString());
            AtomicFile.WriteText(Path.Combine(runDir, GtaTrainingCheckpoint.ValidationFile), validationLines.ToString());
            Plot(runDir, settings.Method, steps, validation);
        }

        bool CheckpointDue(int step) => checkpoints is not null &&
            ((checkpoints.Every > 0 && (step % checkpoints.Every == 0 || step == end)) || (stopAfter > 0 && step == end));

        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask($"{method} training", maxValue: end - start);
                    if (start == 0)
                    {
                        bar.Description = $"{method}: validating the start";
                        Validate(0);
                    }
                    for (int s = start; s < end; s++)
                    {
                        var m = trainer.Step();
                        steps.Add(m);
                        metricsLines.Append(m.ToJsonLine()).Append('\n');
                        bar.Description = $"{method}  reward {m.Reward:F2}  sft {m.SftLoss:F3}  {m.TokensPerSecond:F0} tok/s";
                        bar.Increment(1);
                        if (m.Step % settings.EvalEvery == 0 || m.Step == settings.Steps)
                        {
                            Validate(m.Step);
                            Flush(); // a run stopped from outside keeps its metrics up to the last validation
                            var v = validation[^1];
                            AnsiConsole.MarkupLineInterpolated(
                                $"{method,-4} step {m.Step,4}: format reward {m.FormatRewardMean:F2}, accuracy reward {m.AccuracyRewardMean:F2}; validation accuracy {v.Accuracy:P1}, format-valid {v.FormatValidRate:P1}");
                        }
                        if (CheckpointDue(m.Step))
                            GtaTrainingCheckpoint.Save(runDir, trainer, format, checkpoints!.Run, metricsLines.ToString(), validationLines.ToString());
                    }
                });
        }
        finally
        {
            Flush(); // what was collected so far survives a NaN stop or any other failure
        }

        if (end < settings.Steps)
        {
            AnsiConsole.MarkupLineInterpolated($"stopped after step {end} of {settings.Steps}; continue with: gta train --resume {runDir}");
            return new RunResult(settings.Method, steps, validation, null);
        }
        var test = Evaluate(model, format, data.Test, settings.Template, settings.MaxCompletionTokens, "test evaluation");
        AtomicFile.WriteText(Path.Combine(runDir, "eval.json"), test.ToJson());
        string final = Path.Combine(runDir, "checkpoint");
        if (model.AdapterLayout is { } adapters)
        {
            // PEFT's adapter folder (adapter_config.json names ../base); `gta export --merge` writes a full model.
            PeftAdapter.Save(final, adapters, model.DownloadAdapters(), Path.Combine("..", TrainingCheckpoint.BaseFolder));
            format.Tokenizer?.Save(final);
        }
        else
        {
            ModelCheckpoint.Save(final, model, format.Tokenizer,
                new Dictionary<string, string> { ["format"] = "pt", ["producer"] = $"gta train --method {method}" });
        }
        format.SaveOptions(final);
        return new RunResult(settings.Method, steps, validation, test);
    }

    private static IEnumerable<string> Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static void Plot(string runDir, TrainingMethod method, IReadOnlyList<GtaStepMetrics> steps, IReadOnlyList<ValidationPoint> validation)
    {
        var x = steps.Select(s => (double)s.Step).ToList();
        LinePlot.Save(Path.Combine(runDir, "rewards.png"), $"{method.ToString().ToLowerInvariant()}: rollout rewards", "mean reward",
        [
            new("rewards/format/mean", x, steps.Select(s => (double)s.FormatRewardMean).ToList()),
            new("rewards/accuracy/mean", x, steps.Select(s => (double)s.AccuracyRewardMean).ToList()),
        ]);
        LinePlot.Save(Path.Combine(runDir, "accuracy.png"), $"{method.ToString().ToLowerInvariant()}: validation", "rate",
        [
            new("accuracy", validation.Select(v => (double)v.Step).ToList(), validation.Select(v => v.Accuracy).ToList()),
            new("format-valid", validation.Select(v => (double)v.Step).ToList(), validation.Select(v => v.FormatValidRate).ToList()),
        ]);
    }
}
