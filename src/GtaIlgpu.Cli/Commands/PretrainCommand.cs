using System.CommandLine;
using System.Globalization;
using System.Text;
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
    public static Command Build()
    {
        var text = new Option<FileInfo?>("--text") { Description = "training text: a .jsonl file (\"text\" field per line) or plain text (documents separated by blank lines); default: the embedded sentiment dataset's training sentences" };
        var output = new Option<DirectoryInfo>("--out") { Description = "run folder for the checkpoint and metrics", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "pretrain")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a run already in --out" };
        var layers = new Option<int>("--layers") { Description = "transformer blocks", DefaultValueFactory = _ => 4 };
        var channels = new Option<int>("--channels") { Description = "model width", DefaultValueFactory = _ => 256 };
        var heads = new Option<int>("--heads") { Description = "attention heads", DefaultValueFactory = _ => 4 };
        var sequence = new Option<int>("--sequence") { Description = "tokens per training window", DefaultValueFactory = _ => 128 };
        var batch = new Option<int>("--batch") { Description = "windows per step", DefaultValueFactory = _ => 8 };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 300 };
        var lr = new Option<float>("--lr") { Description = "peak learning rate (linear warmup, cosine decay to 10%)", DefaultValueFactory = _ => 1e-3f };
        var warmup = new Option<int>("--warmup") { Description = "warmup steps", DefaultValueFactory = _ => 20 };
        var device = CommonOptions.Device();
        var seed = CommonOptions.Seed(1337);

        var command = new Command("pretrain", "train a GPT-2-style model from scratch as a language model");
        foreach (var option in new Option[] { text, output, overwrite, layers, channels, heads, sequence, batch, steps, lr, warmup, device, seed })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var settings = new PretrainSettings
            {
                Batch = parse.GetValue(batch), Sequence = parse.GetValue(sequence), Steps = parse.GetValue(steps),
                LearningRate = parse.GetValue(lr), WarmupSteps = parse.GetValue(warmup), Seed = parse.GetValue(seed),
            };
            return Run(parse.GetValue(text), parse.GetValue(output)!, parse.GetValue(overwrite), parse.GetValue(layers),
                parse.GetValue(channels), parse.GetValue(heads), settings, parse.GetValue(device)!);
        });
        return command;
    }

    private static int Run(FileInfo? textFile, DirectoryInfo outDir, bool overwrite, int layers, int channels, int heads,
        PretrainSettings settings, string device)
    {
        if (File.Exists(Path.Combine(outDir.FullName, "model.safetensors")) && !overwrite)
            throw new ArgumentException($"{outDir.FullName} already holds a model; choose another --out or pass --overwrite");

        List<string> documents;
        if (textFile is null)
        {
            var data = DefaultDataset.Load(log: m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]"));
            documents = data.Train.Select(e => e.Text).ToList();
            AnsiConsole.MarkupLineInterpolated($"[grey]text:[/] default dataset '{DefaultDataset.Name}', {documents.Count} training sentences");
        }
        else
        {
            documents = TextCorpus.Load(textFile.FullName);
            AnsiConsole.MarkupLineInterpolated($"[grey]text:[/] {textFile.FullName}, {documents.Count} documents");
        }
        // Hold out every tenth document to show that the loss falls on text the model did not train on.
        var heldOut = documents.Where((_, i) => i % 10 == 9).ToList();
        var training = documents.Where((_, i) => i % 10 != 9).ToList();
        var vocabulary = CompactVocabulary.Build(documents);
        var stream = TextCorpus.Tokenize(training, vocabulary);
        var heldOutStream = TextCorpus.Tokenize(heldOut.Count > 0 ? heldOut : training, vocabulary);

        var config = new GptConfig(layers, channels, heads, vocabulary.Size, settings.Sequence);
        using var backend = CommonOptions.OpenBackend(device);
        using var model = new Gpt(backend, config);
        model.InitializeWeights(settings.Seed);
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]model:[/] {layers} layers, {channels} channels, {heads} heads, vocabulary {vocabulary.Size}, {model.Layout.ParameterCount / 1e6:F2}M parameters; {stream.Length} training tokens");

        using var trainer = new LanguageModelTrainer(model, stream, settings);
        var metrics = new StringBuilder();
        float heldOutBefore = trainer.Evaluate(heldOutStream, 4 * settings.Batch);
        float firstLoss = float.NaN, lastLoss = float.NaN;
        double seconds = 0;
        long tokens = 0;
        int logEvery = Math.Max(1, settings.Steps / 10);
        string metricsPath = Path.Combine(outDir.FullName, "metrics.jsonl");

        void Save()
        {
            AtomicFile.WriteText(metricsPath, metrics.ToString());
        }

        try
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("pretraining", maxValue: settings.Steps);
                    for (int s = 0; s < settings.Steps; s++)
                    {
                        var report = trainer.Step();
                        if (s == 0) firstLoss = report.Loss;
                        lastLoss = report.Loss;
                        if (s > 0) { seconds += report.Seconds; tokens += report.Tokens; } // the first step includes warm-up
                        metrics.Append(CultureInfo.InvariantCulture,
                            $"{{\"step\":{report.Step},\"loss\":{report.Loss:R},\"grad_norm\":{report.GradNorm:R},\"lr\":{report.LearningRate:R},\"tokens_per_s\":{report.TokensPerSecond:F1}}}\n");
                        task.Description = $"pretraining  loss {report.Loss:F3}  {report.TokensPerSecond:F0} tok/s";
                        task.Increment(1);
                        if (report.Step % logEvery == 0 || report.Step == 1)
                            AnsiConsole.MarkupLineInterpolated($"step {report.Step,5}/{settings.Steps}  loss {report.Loss:F4}  grad norm {report.GradNorm:F3}  lr {report.LearningRate:G3}  {report.TokensPerSecond:F0} tok/s");
                    }
                });
        }
        catch (NonFiniteException)
        {
            Save();
            throw;
        }
        float heldOutAfter = trainer.Evaluate(heldOutStream, 4 * settings.Batch);
        Save();
        ModelCheckpoint.Save(outDir.FullName, model, vocabulary, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "gta pretrain" });

        var table = new Table().AddColumns("", "value");
        table.AddRow("training loss, first step", firstLoss.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("training loss, last step", lastLoss.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("held-out loss, before → after", $"{heldOutBefore:F4} → {heldOutAfter:F4}");
        table.AddRow("training tokens/s (steps 2..N)", seconds > 0 ? (tokens / seconds).ToString("F0", CultureInfo.InvariantCulture) : "n/a");
        table.AddRow("checkpoint", outDir.FullName);
        AnsiConsole.Write(table);
        return 0;
    }
}
