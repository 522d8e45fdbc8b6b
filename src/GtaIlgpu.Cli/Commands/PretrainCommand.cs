using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Text;
using GtaIlgpu.Training;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>`gta pretrain`: language-model training from scratch, with a progress bar and a falling loss.</summary>
public static class PretrainCommand
{
    /// <summary>Everything that defines a run; saved in its checkpoints so --resume rebuilds the same run.</summary>
    private sealed record RunSpec(string? TextPath, int Layers, int Channels, int Heads, PretrainSettings Settings, int CheckpointEvery, string Arch = "gpt2")
    {
        public JsonObject ToJson() => new()
        {
            ["text"] = TextPath, ["arch"] = Arch, ["layers"] = Layers, ["channels"] = Channels, ["heads"] = Heads,
            ["batch"] = Settings.Batch, ["sequence"] = Settings.Sequence, ["steps"] = Settings.Steps,
            ["lr"] = Settings.LearningRate, ["warmup"] = Settings.WarmupSteps, ["seed"] = Settings.Seed,
            ["beta1"] = Settings.Optimizer.Beta1, ["beta2"] = Settings.Optimizer.Beta2, ["eps"] = Settings.Optimizer.Eps,
            ["weight_decay"] = Settings.Optimizer.WeightDecay, ["clip_norm"] = Settings.Optimizer.ClipNorm,
            ["checkpoint_every"] = CheckpointEvery,
        };

        public static RunSpec FromJson(JsonObject json, string source)
        {
            try
            {
                T Get<T>(string key) => (json[key] ?? throw new InvalidDataException($"missing \"{key}\"")).GetValue<T>();
                var settings = new PretrainSettings
                {
                    Batch = Get<int>("batch"), Sequence = Get<int>("sequence"), Steps = Get<int>("steps"),
                    LearningRate = Get<float>("lr"), WarmupSteps = Get<int>("warmup"), Seed = Get<ulong>("seed"),
                    Optimizer = new AdamWSettings(Get<float>("beta1"), Get<float>("beta2"), Get<float>("eps"), Get<float>("weight_decay"), Get<float>("clip_norm")),
                };
                // Runs from before the Llama family have no "arch": they were GPT-2.
                return new RunSpec(json["text"]?.GetValue<string>(), Get<int>("layers"), Get<int>("channels"), Get<int>("heads"), settings,
                    Get<int>("checkpoint_every"), json["arch"]?.GetValue<string>() ?? "gpt2");
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or InvalidDataException)
            {
                throw new InvalidDataException($"{source}: the run settings are incomplete ({e.Message})");
            }
        }
    }

    public static Command Build()
    {
        var text = new Option<FileInfo?>("--text") { Description = "training text: a .jsonl file (\"text\" field per line) or plain text (documents separated by blank lines); default: the embedded sentiment dataset's training sentences" };
        var output = new Option<DirectoryInfo>("--out") { Description = "run folder for the checkpoint and metrics", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "pretrain")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a run already in --out" };
        var arch = CommonOptions.Arch("--arch", "model");
        var layers = new Option<int>("--layers") { Description = "transformer blocks", DefaultValueFactory = _ => 4 };
        var channels = new Option<int>("--channels") { Description = "model width", DefaultValueFactory = _ => 256 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 4 };
        var sequence = new Option<int>("--sequence") { Description = "tokens per training window", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch") { Description = "windows per step", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "optimizer steps (with --resume: the new total, which also stretches the learning-rate schedule)", DefaultValueFactory = _ => 300 };
        var lr = new Option<float>("--lr") { Description = "peak learning rate (linear warmup, cosine decay to 10%)", DefaultValueFactory = _ => 1e-3f };
        var warmup = new Option<int>("--warmup") { Description = "warmup steps", DefaultValueFactory = _ => 20 };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "write a training checkpoint (weights, AdamW state, RNG, step) every N steps and at the end, for --resume; 0: none", DefaultValueFactory = _ => 0 };
        var resume = new Option<DirectoryInfo?>("--resume") { Description = "continue the run in this folder from its latest checkpoint, with its settings (only --steps, --checkpoint-every, --stop-after and --device may change)" };
        var stopAfter = new Option<int>("--stop-after") { Description = "stop after this step, leaving a checkpoint to --resume from (splits a run across jobs); 0: run to --steps", DefaultValueFactory = _ => 0 };
        var device = CommonOptions.Device();
        var seed = CommonOptions.Seed(1337);

        var command = new Command("pretrain", "train a GPT-2- or Llama-style model from scratch as a language model");
        foreach (var option in new Option[] { text, output, overwrite, arch, layers, channels, heads, sequence, batch, steps, lr, warmup, checkpointEvery, resume, stopAfter, device, seed })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            int every = parse.GetValue(checkpointEvery), stop = parse.GetValue(stopAfter);
            if (every < 0 || stop < 0) throw new ArgumentException("--checkpoint-every and --stop-after must be non-negative");
            if (parse.GetValue(resume) is { } runDir)
            {
                int? newSteps = parse.GetResult(steps) is { Implicit: false } ? parse.GetValue(steps) : null;
                int? newEvery = parse.GetResult(checkpointEvery) is { Implicit: false } ? every : null;
                return Resume(runDir, newSteps, newEvery, stop, parse.GetValue(device)!);
            }
            var settings = new PretrainSettings
            {
                Batch = parse.GetValue(batch), Sequence = parse.GetValue(sequence), Steps = parse.GetValue(steps),
                LearningRate = parse.GetValue(lr), WarmupSteps = parse.GetValue(warmup), Seed = parse.GetValue(seed),
            };
            var spec = new RunSpec(parse.GetValue(text)?.FullName, parse.GetValue(layers), parse.GetValue(channels), parse.GetValue(heads), settings, every, parse.GetValue(arch)!);
            var outDir = parse.GetValue(output)!;
            bool holdsRun = File.Exists(Path.Combine(outDir.FullName, ModelCheckpoint.ModelFile)) || File.Exists(Path.Combine(outDir.FullName, TrainingCheckpoint.PointerFile));
            if (holdsRun && !parse.GetValue(overwrite))
                throw new ArgumentException($"{outDir.FullName} already holds a run; choose another --out, continue it with --resume, or pass --overwrite");
            if (holdsRun)
            {
                // A fresh run must not mistake the old run's checkpoints for its own.
                File.Delete(Path.Combine(outDir.FullName, TrainingCheckpoint.PointerFile));
                if (Directory.Exists(Path.Combine(outDir.FullName, TrainingCheckpoint.FolderName)))
                    Directory.Delete(Path.Combine(outDir.FullName, TrainingCheckpoint.FolderName), recursive: true);
            }
            return Run(spec, outDir, parse.GetValue(device)!, stop, resumeFrom: null);
        });
        return command;
    }

    private static int Resume(DirectoryInfo runDir, int? newSteps, int? newCheckpointEvery, int stopAfter, string device)
    {
        var (checkpoint, state) = TrainingCheckpoint.ForResume(runDir.FullName);
        var spec = RunSpec.FromJson(state.Run, Path.Combine(checkpoint, TrainingCheckpoint.StateFile));
        if (newSteps is { } total)
        {
            if (total <= state.Step) throw new ArgumentException($"--steps {total}: the checkpoint is already at step {state.Step}");
            spec = spec with { Settings = spec.Settings with { Steps = total } };
        }
        if (newCheckpointEvery is { } every) spec = spec with { CheckpointEvery = every };
        AnsiConsole.MarkupLineInterpolated($"[grey]resuming:[/] {checkpoint} at step {state.Step} of {spec.Settings.Steps}");
        return Run(spec, runDir, device, stopAfter, checkpoint);
    }

    private static int Run(RunSpec spec, DirectoryInfo outDir, string device, int stopAfter, string? resumeFrom)
    {
        var settings = spec.Settings;
        int checkpointEvery = spec.CheckpointEvery;
        List<string> documents;
        if (spec.TextPath is null)
        {
            var data = DefaultDataset.Load(log: m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"));
            documents = data.Train.Select(e => e.Text).ToList();
            AnsiConsole.MarkupLineInterpolated($"[grey]text:[/] default dataset '{DefaultDataset.Name}', {documents.Count} training sentences");
        }
        else
        {
            documents = TextCorpus.Load(spec.TextPath);
            AnsiConsole.MarkupLineInterpolated($"[grey]text:[/] {spec.TextPath}, {documents.Count} documents");
        }
        // Hold out every tenth document to show that the loss falls on text the model did not train on.
        var heldOut = documents.Where((_, i) => i % 10 == 9).ToList();
        var training = documents.Where((_, i) => i % 10 != 9).ToList();
        var vocabulary = CompactVocabulary.Build(documents);
        if (resumeFrom is not null && CompactVocabulary.Load(Path.Combine(resumeFrom, CompactVocabulary.FileName)).ToJson() != vocabulary.ToJson())
            throw new InvalidDataException($"{spec.TextPath ?? "the default dataset"}: the text has changed since the checkpoint was written; resuming would not continue the same run");
        var stream = TextCorpus.Tokenize(training, vocabulary);
        var heldOutStream = TextCorpus.Tokenize(heldOut.Count > 0 ? heldOut : training, vocabulary);

        var config = ModelConfig.FromScratch(spec.Arch, spec.Layers, spec.Channels, spec.Heads, vocabulary.Size, settings.Sequence);
        using var backend = CommonOptions.OpenBackend(device);
        var plan = MemoryPlan.ForPretraining(config, settings.Batch, settings.Sequence);
        AnsiConsole.MarkupLineInterpolated($"[grey]model:[/] {config.Describe(new ParameterLayout(config).ParameterCount)}; {stream.Length} training tokens");
        AnsiConsole.MarkupLineInterpolated($"[grey]memory:[/] {plan.Summary()} of {MemoryPlan.Format(backend.MemoryBytes)} on {backend.Name}");
        plan.EnsureFits(backend.MemoryBytes, backend.Name);
        using var model = new Transformer(backend, config);
        model.InitializeWeights(settings.Seed);

        using var trainer = new LanguageModelTrainer(model, stream, settings);
        var metrics = new StringBuilder();
        if (resumeFrom is not null)
        {
            var state = TrainingCheckpoint.Restore(resumeFrom, model, trainer.Optimizer);
            trainer.RestoreProgress(state.Step, state.RngState);
            metrics.Append(TrainingCheckpoint.ReadMetrics(resumeFrom));
        }
        int start = trainer.StepsDone;
        int end = stopAfter > 0 ? Math.Min(stopAfter, settings.Steps) : settings.Steps;
        if (end <= start) throw new ArgumentException($"the run is already at step {start}, past the requested end {end} (pass a larger --steps or --stop-after)");
        float heldOutBefore = trainer.Evaluate(heldOutStream, 4 * settings.Batch);
        float firstLoss = float.NaN, lastLoss = float.NaN;
        double seconds = 0;
        long tokens = 0;
        int logEvery = Math.Max(1, settings.Steps / 10);
        string metricsPath = Path.Combine(outDir.FullName, "metrics.jsonl");

        void SaveMetrics() => AtomicFile.WriteText(metricsPath, metrics.ToString());
        void SaveCheckpoint() => TrainingCheckpoint.Save(outDir.FullName, model, trainer.Optimizer, vocabulary,
            new TrainingState(trainer.StepsDone, trainer.Optimizer.StepCount, trainer.RngState, 0, spec.ToJson()), metrics.ToString());

        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("pretraining", maxValue: end - start);
                    for (int s = start; s < end; s++)
                    {
                        var report = trainer.Step();
                        if (s == start) firstLoss = report.Loss;
                        lastLoss = report.Loss;
                        if (s > start) { seconds += report.Seconds; tokens += report.Tokens; } // the first step includes warm-up
                        metrics.Append(CultureInfo.InvariantCulture,
                            $"{{\"step\":{report.Step},\"loss\":{report.Loss:R},\"grad_norm\":{report.GradNorm:R},\"lr\":{report.LearningRate:R},\"tokens_per_s\":{report.TokensPerSecond:F1}}}\n");
                        task.Description = $"pretraining  loss {report.Loss:F3}  {report.TokensPerSecond:F0} tok/s";
                        task.Increment(1);
                        if (report.Step % logEvery == 0 || report.Step == 1)
                            AnsiConsole.MarkupLineInterpolated($"step {report.Step,5}/{settings.Steps}  loss {report.Loss:F4}  grad norm {report.GradNorm:F3}  lr {report.LearningRate:G3}  {report.TokensPerSecond:F0} tok/s");
                        bool checkpointDue = checkpointEvery > 0 && (report.Step % checkpointEvery == 0 || report.Step == end);
                        if (checkpointDue || (stopAfter > 0 && report.Step == end)) SaveCheckpoint();
                    }
                });
        }
        catch (NonFiniteException)
        {
            SaveMetrics();
            throw;
        }
        SaveMetrics();
        if (end < settings.Steps)
        {
            AnsiConsole.MarkupLineInterpolated($"stopped after step {end} of {settings.Steps}; continue with: gta pretrain --resume {outDir.FullName}");
            return 0;
        }
        float heldOutAfter = trainer.Evaluate(heldOutStream, 4 * settings.Batch);
        ModelCheckpoint.Save(outDir.FullName, model, vocabulary, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "gta pretrain" });

        var table = new Table().AddColumns("", "value");
        table.AddRow($"training loss, step {start + 1}", firstLoss.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("training loss, last step", lastLoss.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("held-out loss, before → after", $"{heldOutBefore:F4} → {heldOutAfter:F4}");
        table.AddRow($"training tokens/s (steps {start + 2}..N)", seconds > 0 ? (tokens / seconds).ToString("F0", CultureInfo.InvariantCulture) : "n/a");
        table.AddRow("checkpoint", outDir.FullName);
        AnsiConsole.Write(table);
        return 0;
    }
}
