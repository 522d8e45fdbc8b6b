using System.CommandLine;
using System.Text.Json;
using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Data;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Gta;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta train`: build the shared base for a dataset (or take one with --model), train one method from
/// it, validate periodically, evaluate on test, and write the run folder. With no arguments it is the
/// default end-to-end run on the embedded dataset. --checkpoint-every / --stop-after / --resume split a
/// run across jobs; a resumed run continues exactly where it stopped.
/// </summary>
public static class TrainCommand
{
    public static Command Build()
    {
        var options = new GtaOptions();
        var method = new Option<TrainingMethod>("--method") { Description = "Gta, Sft or Grpo", DefaultValueFactory = _ => TrainingMethod.Gta };
        var output = new Option<DirectoryInfo>("--out") { Description = "run folder", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "gta")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a run already in --out (its training checkpoints included)" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "write a training checkpoint (weights, AdamW state, RNG state, data order, the frozen KL reference, metrics so far) every N steps and at the end, for --resume; 0: none", DefaultValueFactory = _ => 0 };
        var stopAfter = new Option<int>("--stop-after") { Description = "stop after this step with a checkpoint to --resume from (splits a run across jobs); 0: run to --steps", DefaultValueFactory = _ => 0 };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "continue the run in this folder from its latest checkpoint with the run's own settings, data and tokenizer; only --steps (the new total), --checkpoint-every, --stop-after and --device may be given with it" };
        var command = new Command("train", "train a classifier with GTA (or the sft / grpo baselines) from a freshly built base model, a saved base, or a Hugging Face GPT-2 folder");
        options.AddTo(command);
        foreach (var option in new Option[] { method, output, overwrite, checkpointEvery, stopAfter, resume }) command.Options.Add(option);
        command.SetAction(p =>
        {
            int every = p.GetValue(checkpointEvery), stop = p.GetValue(stopAfter);
            if (every < 0 || stop < 0) throw new ArgumentException("--checkpoint-every and --stop-after must be non-negative");
            if (p.GetValue(resume) is not { } runDir)
                return Run(options, p, p.GetValue(method), p.GetValue(output)!.FullName, p.GetValue(overwrite), every, stop);
            Option[] mayChange = [resume, options.Steps, checkpointEvery, stopAfter, options.Device];
            foreach (var option in command.Options)
                if (!mayChange.Contains(option) && p.GetResult(option) is { Implicit: false })
                    throw new ArgumentException($"{option.Name} cannot be given with --resume: a resumed run keeps its own settings (only --steps, --checkpoint-every, --stop-after and --device may change)");
            int? newSteps = p.GetResult(options.Steps) is { Implicit: false } ? p.GetValue(options.Steps) : null;
            int? newEvery = p.GetResult(checkpointEvery) is { Implicit: false } ? every : null;
            return Resume(runDir.FullName, newSteps, newEvery, stop, p.GetValue(options.Device)!);
        });
        return command;
    }

    public static void RefuseExisting(string folder, bool overwrite)
    {
        if (!overwrite && Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new ArgumentException($"{folder} already holds a run; choose another --out or pass --overwrite");
    }

    private static int Run(GtaOptions options, ParseResult p, TrainingMethod method, string runDir, bool overwrite, int checkpointEvery, int stopAfter)
    {
        if (!overwrite && File.Exists(Path.Combine(runDir, TrainingCheckpoint.PointerFile)))
            throw new ArgumentException($"{runDir} already holds a run; continue it with --resume, choose another --out, or pass --overwrite");
        RefuseExisting(runDir, overwrite);
        if (Directory.Exists(runDir))
        {
            // A fresh run must not mistake an old run's checkpoints for its own.
            File.Delete(Path.Combine(runDir, TrainingCheckpoint.PointerFile));
            if (Directory.Exists(Path.Combine(runDir, TrainingCheckpoint.FolderName)))
                Directory.Delete(Path.Combine(runDir, TrainingCheckpoint.FolderName), recursive: true);
        }

        var settings = options.Settings(p, method);
        settings.Validate();
        // A folder is remembered by its full path, so --resume finds it from any working directory.
        string? dataSource = p.GetValue(options.Data) is { } given && Directory.Exists(given) ? Path.GetFullPath(given) : p.GetValue(options.Data);
        var data = DatasetLoader.LoadSplits(dataSource);
        AnsiConsole.MarkupLineInterpolated($"[grey]data:[/] {data.Name}: {data.Train.Count} train, {data.Validation.Count} validation, {data.Test.Count} test; labels {string.Join(", ", data.Labels)}");
        using var backend = CommonOptions.OpenBackend(p.GetValue(options.Device)!);
        var (obtained, format, baseInfo) = GtaRunner.ObtainBase(backend, data, options, p);
        var baseTest = GtaRunner.Evaluate(obtained, format, data.Test, settings.Template, settings.MaxCompletionTokens, "base model on test");
        var model = GtaRunner.ForTraining(obtained, settings);
        using (model)
        {
            var spec = new GtaRunSpec(settings, dataSource, DatasetFingerprint.Of(data), format.TaskName, format.Labels,
                JsonSerializer.SerializeToNode(baseInfo, GtaRunner.Json), checkpointEvery);
            var result = GtaRunner.Train(model, format, data, settings, runDir, RunInfo(spec, data, backend),
                new StageCheckpoints(spec.ToJson(), checkpointEvery, stopAfter));
            if (result.Test is { } test) Report(method, baseTest, test, runDir);
        }
        return 0;
    }

    private static int Resume(string runDir, int? newSteps, int? newCheckpointEvery, int stopAfter, string device)
    {
        var (checkpoint, state) = TrainingCheckpoint.ForResume(runDir);
        var spec = GtaRunSpec.FromJson(state.Run, Path.Combine(checkpoint, TrainingCheckpoint.StateFile));
        if (newSteps is { } total)
        {
            if (total <= state.Step) throw new ArgumentException($"--steps {total}: the checkpoint is already at step {state.Step}");
            spec = spec with { Settings = spec.Settings with { Steps = total } };
        }
        if (newCheckpointEvery is { } every) spec = spec with { CheckpointEvery = every };
        spec.Settings.Validate();

        var data = DatasetLoader.LoadSplits(spec.Data);
        if (DatasetFingerprint.Of(data) != spec.DataFingerprint)
            throw new InvalidDataException($"{spec.Data ?? DefaultDataset.Name}: the data has changed since the checkpoint was written; resuming would not continue the same run");
        using var backend = CommonOptions.OpenBackend(device);
        // A LoRA run's checkpoint holds adapters only: the model is the run's base with the run's options (the adapters are restored below).
        string modelFolder = spec.Settings.LoraRank > 0 ? Path.Combine(runDir, TrainingCheckpoint.BaseFolder) : checkpoint;
        using var loaded = ModelCheckpoint.Load(modelFolder, backend, options: spec.Settings.ModelOptions);
        var format = BaseCheckpoint.FormatOf(loaded, spec.Task, spec.Labels);
        AnsiConsole.MarkupLineInterpolated($"[grey]resuming:[/] {checkpoint} at step {state.Step} of {spec.Settings.Steps}");
        var result = GtaRunner.Train(loaded.Model, format, data, spec.Settings, runDir, RunInfo(spec, data, backend),
            new StageCheckpoints(spec.ToJson(), spec.CheckpointEvery, stopAfter, checkpoint));
        if (result.Test is { } test) Report(spec.Settings.Method, null, test, runDir);
        return 0;
    }

    /// <summary>What config.json records besides the settings.</summary>
    private static Dictionary<string, object?> RunInfo(GtaRunSpec spec, DatasetSplits data, IBackend backend) => new()
    {
        ["data"] = data.Name, ["task"] = spec.Task, ["labels"] = spec.Labels, ["device"] = backend.Name, ["base"] = spec.Base,
    };

    /// <summary>The test table; the base column only where the base was evaluated (not on a resumed run).</summary>
    private static void Report(TrainingMethod method, ClassificationMetrics? baseTest, ClassificationMetrics test, string runDir)
    {
        var table = new Table().AddColumns("test split", "base", method.ToString().ToLowerInvariant());
        void Row(string name, double? a, double? b) => table.AddRow(name, a is double x ? $"{x:P1}" : "–", b is double y ? $"{y:P1}" : "–");
        Row("accuracy", baseTest?.Accuracy, test.Accuracy);
        Row("macro F1", baseTest?.MacroF1, test.MacroF1);
        Row("weighted F1", baseTest?.WeightedF1, test.WeightedF1);
        Row("format-valid rate", baseTest?.FormatValidRate, test.FormatValidRate);
        Row("guess accuracy", baseTest?.GuessAccuracy, test.GuessAccuracy);
        Row("answer corrects a wrong guess", baseTest?.AnswerCorrectsGuessRate, test.AnswerCorrectsGuessRate);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[grey]run folder:[/] {runDir}");
    }
}
