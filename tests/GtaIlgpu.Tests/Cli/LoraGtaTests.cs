using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Tests.Checkpoints;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Text;
using Spectre.Console;

namespace GtaIlgpu.Tests.Cli;

/// <summary>
/// `gta train --lora-rank` on a random Qwen3 folder (bf16 base, recomputation): the run folder holds the frozen
/// base once and PEFT adapters; a run stopped and resumed is the same run bit for bit; gta eval and logprobs read
/// the adapters with their base, and `gta export --merge` gives a full model that scores the same.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class LoraGtaTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"gta-lora-{Guid.NewGuid():N}");

    public LoraGtaTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string WriteQwen3()
    {
        string folder = Path.Combine(_root, "qwen3");
        var hf = new LlamaHuggingFaceFolder { ModelType = "qwen3", HeadDim = 6, KvHeads = 2, DType = "BF16", Layers = 2, Vocab = 280, Positions = 4096 };
        hf.Build(11);
        hf.Write(folder);
        TokenizerFixtures.WriteQwen2(folder);
        return folder;
    }

    private static string[] WithoutTimes(string path) => File.ReadAllLines(path).Select(line =>
    {
        var json = JsonNode.Parse(line)!.AsObject();
        json.Remove("tokens_per_second");
        json.Remove("seconds");
        return json.ToJsonString();
    }).ToArray();

    [Fact]
    public void A_lora_run_keeps_its_base_once_resumes_exactly_and_exports_a_merged_model_that_scores_the_same()
    {
        string hf = WriteQwen3();
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        string baseDir = Path.Combine(_root, "base");
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", hf, "--data", data, "--out", baseDir, "--base-prime-steps", "1", "--max-completion", "64", "--device", "cpu"]));
        string[] Args(string run, params string[] more) =>
            ["--model", baseDir, "--data", data, "--out", run, "--steps", "3", "--prompts", "2", "--generations", "2", "--mu", "2", "--beta", "0.04",
             "--lora-rank", "4", "--lora-alpha", "8", "--lora-targets", "q,v,o,down", "--base-dtype", "bf16", "--recompute", "--lr", "1e-2",
             "--eval-every", "3", "--eval-examples", "4", "--max-completion", "64", "--device", "cpu", .. more];
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(straight)));
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(split, "--checkpoint-every", "1", "--stop-after", "1")));

        // Checkpoints hold adapters and their moments only; the base is the run's base/ folder.
        string checkpoint = TrainingCheckpoint.Latest(split)!;
        Assert.True(File.Exists(Path.Combine(checkpoint, PeftAdapter.WeightsFile)));
        Assert.False(File.Exists(Path.Combine(checkpoint, ModelCheckpoint.ModelFile)), "a LoRA checkpoint must not copy the frozen base");
        Assert.False(File.Exists(Path.Combine(checkpoint, "reference.safetensors")), "the KL reference is the base: nothing to save");
        Assert.True(HuggingFaceWeights.ExistIn(Path.Combine(split, TrainingCheckpoint.BaseFolder)));

        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        Assert.Equal(WithoutTimes(Path.Combine(straight, "metrics.jsonl")), WithoutTimes(Path.Combine(split, "metrics.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(straight, "eval.json")), File.ReadAllText(Path.Combine(split, "eval.json")));
        string adapters = Path.Combine(straight, "checkpoint");
        Assert.Equal(File.ReadAllBytes(Path.Combine(adapters, PeftAdapter.WeightsFile)), File.ReadAllBytes(Path.Combine(split, "checkpoint", PeftAdapter.WeightsFile)));

        // The policy moved away from the base: KL is zero at the first update (B = 0) and positive later.
        var metrics = File.ReadAllLines(Path.Combine(straight, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToArray();
        Assert.True(metrics[^1]["kl"]!.GetValue<double>() > 0, "the adapters never moved the policy from its base");

        string evalOut = Path.Combine(_root, "eval.json");
        Assert.Equal(0, CliErrors.Invoke(EvalCommand.Build(), ["--model", straight, "--data", data, "--split", "test", "--out", evalOut, "--device", "cpu"]));
        Assert.Equal(JsonNode.Parse(File.ReadAllText(Path.Combine(straight, "eval.json")))!["accuracy"]!.GetValue<double>(),
            JsonNode.Parse(File.ReadAllText(evalOut))!["accuracy"]!.GetValue<double>());

        string merged = Path.Combine(_root, "merged");
        Assert.Equal(0, CliErrors.Invoke(ExportCommand.Build(), [adapters, "--out", merged, "--merge"]));
        string tokens = Path.Combine(_root, "tokens.json");
        File.WriteAllText(tokens, """{"tokens": [[1, 40, 41, 42, 97, 98, 99, 100, 5, 6], [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]}""");
        string fromAdapters = Path.Combine(_root, "adapters.json"), fromMerged = Path.Combine(_root, "merged.json"), fromBase = Path.Combine(_root, "base.json");
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", adapters, "--tokens", tokens, "--out", fromAdapters, "--device", "cpu"]));
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", merged, "--tokens", tokens, "--out", fromMerged, "--device", "cpu"]));
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", Path.Combine(straight, TrainingCheckpoint.BaseFolder), "--tokens", tokens, "--out", fromBase, "--device", "cpu"]));
        double Loss(string path) => JsonNode.Parse(File.ReadAllText(path))!["loss"]!.GetValue<double>();
        Assert.Equal(Loss(fromMerged), Loss(fromAdapters), 4);
        // An adapter moved away from its run (its "../base" no longer resolves) takes --base.
        string moved = Path.Combine(_root, "elsewhere", "adapter");
        Directory.CreateDirectory(moved);
        foreach (var file in Directory.GetFiles(adapters)) File.Copy(file, Path.Combine(moved, Path.GetFileName(file)));
        string fromMoved = Path.Combine(_root, "moved.json");
        Assert.Equal(2, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", moved, "--tokens", tokens, "--out", fromMoved, "--device", "cpu"]));
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", moved, "--base", Path.Combine(straight, TrainingCheckpoint.BaseFolder), "--tokens", tokens, "--out", fromMoved, "--device", "cpu"]));
        Assert.Equal(Loss(fromAdapters), Loss(fromMoved));
        Assert.NotEqual(Loss(fromBase), Loss(fromAdapters));
    }

    [Fact]
    public void Bf16_without_lora_is_refused_with_the_reason()
    {
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        var error = new StringWriter();
        var previous = AnsiConsole.Console;
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(error) });
        try
        {
            Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), ["--data", data, "--out", Path.Combine(_root, "run"), "--base-dtype", "bf16", "--device", "cpu"]));
        }
        finally { AnsiConsole.Console = previous; }
        Assert.Contains("--lora-rank", error.ToString());
        Assert.False(Directory.Exists(Path.Combine(_root, "run")));
    }
}
