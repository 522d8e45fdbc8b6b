using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Gta;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Gta;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Cli;

/// <summary>`gta base --from HF_DIR` and `gta train --model HF_DIR` on a tiny random GPT-2 folder, then eval, generate and resume.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class HuggingFaceGtaTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"gta-hf-cli-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static string[] Tiny(string data, string model, string run, params string[] more) =>
    [
        "--data", data, "--model", model, "--out", run, "--task", "mood", "--steps", "2", "--prompts", "2", "--generations", "2",
        "--mu", "1", "--max-completion", "16", "--eval-every", "1", "--eval-examples", "4", "--base-prime-steps", "2", "--device", "cpu", .. more,
    ];

    [Fact]
    public void A_downloaded_gpt2_is_primed_trained_evaluated_generated_from_and_resumed()
    {
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        string gpt2 = Path.Combine(_root, "gpt2");
        var hf = PretrainedBaseTests.WriteTinyGpt2(gpt2);

        // gta base --from: the saved base has the grown vocabulary and, without priming steps, the file's rows unchanged.
        string unprimed = Path.Combine(_root, "base-unprimed");
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", gpt2, "--data", data, "--task", "mood", "--base-prime-steps", "0", "--out", unprimed, "--device", "cpu"]));
        Assert.Equal(266, JsonNode.Parse(File.ReadAllText(Path.Combine(unprimed, "config.json")))!["vocab_size"]!.GetValue<int>());
        Assert.True(File.Exists(Path.Combine(unprimed, Gpt2BpeTokenizer.AddedTokensFile)));
        Assert.Equal(gpt2, JsonNode.Parse(File.ReadAllText(Path.Combine(unprimed, BaseCheckpoint.InfoFile)))!["from"]!.GetValue<string>());
        using (var backend = new CpuBackend())
        using (var loaded = ModelCheckpoint.Load(unprimed, backend))
        {
            var original = hf.Tensors["wte.weight"].Values;
            Assert.Equal(original, backend.ToArray(loaded.Model.W.Wte)[..original.Length]);
            var tokenizer = loaded.RequireTokenizer();
            foreach (var tag in PromptFormat.Tags) Assert.Single(tokenizer.Encode(tag));
        }

        // gta train --model HF_DIR primes first, then trains; gta eval reproduces eval.json; gta generate loads the checkpoint.
        string run = Path.Combine(_root, "run");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Tiny(data, gpt2, run)));
        Assert.True(File.Exists(Path.Combine(run, "checkpoint", Gpt2BpeTokenizer.AddedTokensFile)));
        string evalOut = Path.Combine(_root, "eval.json");
        Assert.Equal(0, CliErrors.Invoke(EvalCommand.Build(), ["--model", run, "--data", data, "--out", evalOut, "--device", "cpu"]));
        Assert.Equal(File.ReadAllText(Path.Combine(run, "eval.json")), File.ReadAllText(evalOut));
        Assert.Equal(0, CliErrors.Invoke(GenerateCommand.Build(), ["--model", Path.Combine(run, "checkpoint"), "--prompt", " the food<guess>", "--max-tokens", "4", "--device", "cpu"]));

        // A primed base from --from trains with --model, and such a run stops and resumes like any other.
        string primed = Path.Combine(_root, "base");
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", gpt2, "--data", data, "--task", "mood", "--base-prime-steps", "2", "--out", primed, "--device", "cpu"]));
        string split = Path.Combine(_root, "split");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Tiny(data, primed, split, "--stop-after", "1")));
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(split, "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(split, "eval.json")));

        // A folder that is neither a base nor a GPT-2 folder is refused with one line.
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), Tiny(data, data, Path.Combine(_root, "bad"))));
    }
}
