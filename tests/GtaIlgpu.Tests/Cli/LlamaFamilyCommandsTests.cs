using System.Text.Json;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Checkpoints;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Cli;

/// <summary>
/// Llama-family models through the commands on token ids: Hugging Face folders that the tests write in
/// transformers' layout load, score (`gta logprobs`), generate (`gta generate --tokens`), train and save,
/// and the saved folder reloads bit for bit; `gta pretrain --arch llama` trains one from scratch.
/// </summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class LlamaFamilyCommandsTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-llama-cmd-{Guid.NewGuid():N}");

    public LlamaFamilyCommandsTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>The three families, each with what sets it apart: llama3 rope scaling, untied, BF16 in two shards; Qwen2's biases over one KV head in F16; Qwen3's q/k norm and head_dim ≠ hidden/heads.</summary>
    public static TheoryData<string> Folders => ["llama-untied-llama3-bf16-sharded", "qwen2-bias-mqa-f16", "qwen3-qknorm-headdim-bf16"];

    private static LlamaHuggingFaceFolder Describe(string kind) => kind switch
    {
        "llama-untied-llama3-bf16-sharded" => new LlamaHuggingFaceFolder
        {
            ModelType = "llama", Tied = false, DType = "BF16", Shards = 2, KvHeads = 2, Positions = 64,
            RopeScaling = "{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":16}",
        },
        "qwen2-bias-mqa-f16" => new LlamaHuggingFaceFolder { ModelType = "qwen2", KvHeads = 1, DType = "F16", RopeTheta = 1e6 },
        "qwen3-qknorm-headdim-bf16" => new LlamaHuggingFaceFolder { ModelType = "qwen3", HeadDim = 6, KvHeads = 2, DType = "BF16" },
        _ => throw new ArgumentException(kind),
    };

    private static float[] ScoreFile(string model, string tokensFile, string output)
    {
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", model, "--tokens", tokensFile, "--out", output, "--device", "cpu"]));
        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        return doc.RootElement.GetProperty("logprobs").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
    }

    [Theory]
    [MemberData(nameof(Folders))]
    public void A_hugging_face_folder_scores_generates_trains_and_saves_to_a_folder_that_reloads_bit_for_bit(string kind)
    {
        var hf = Describe(kind);
        hf.Build(5);
        string source = Path.Combine(_folder, "hf");
        hf.Write(source);

        // gta logprobs: the command's numbers are the model's log-softmax at each next token.
        var rng = new Rng(3);
        var sequences = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 9).Select(_ => rng.NextInt(hf.Vocab)).ToArray()).ToArray();
        string tokensFile = Path.Combine(_folder, "tokens.json");
        File.WriteAllText(tokensFile, JsonSerializer.Serialize(new { tokens = sequences }));
        var scored = ScoreFile(source, tokensFile, Path.Combine(_folder, "scores.json"));
        Assert.Equal(3 * 8, scored.Length);
        Assert.All(scored, lp => Assert.True(float.IsFinite(lp) && lp < 0));
        using var backend = new CpuBackend();
        using var loaded = ModelCheckpoint.Load(source, backend);
        Assert.Equal(hf.ModelType, loaded.Model.Config.ModelType);
        var (direct, _) = LogprobsCommand.Score(loaded.Model, sequences, "test");
        Assert.Equal(direct.SelectMany(r => r).ToArray(), scored);

        // gta generate --tokens: ids in, ids out; greedy decoding repeats itself, and matches the model's argmax.
        var generated = GenerateCommand.ContinueIds(loaded.Model, [1, 2, 3], 5, new SamplingSettings(Temperature: 0), seed: 1);
        Assert.Equal(5, generated.Length);
        Assert.Equal(generated, GenerateCommand.ContinueIds(loaded.Model, [1, 2, 3], 5, new SamplingSettings(Temperature: 0), seed: 2));
        var writer = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(writer);
        try
        {
            Assert.Equal(0, CliErrors.Invoke(GenerateCommand.Build(), ["--model", source, "--tokens", "1, 2 3", "--max-tokens", "5", "--temperature", "0", "--device", "cpu"]));
        }
        finally { Console.SetOut(previous); }
        Assert.Equal("[" + string.Join(", ", generated) + "]", writer.ToString().Trim());

        // Train a few steps: the loss must fall on a repeated pattern; then save and reload.
        var stream = Enumerable.Range(0, 400).Select(i => i % 5 + 1).ToArray();
        var settings = new PretrainSettings { Batch = 2, Sequence = 8, Steps = 12, LearningRate = 3e-2f, WarmupSteps = 1 };
        float first, last;
        using (var trainer = new LanguageModelTrainer(loaded.Model, stream, settings))
        {
            first = trainer.Step().Loss;
            last = first;
            for (int s = 1; s < settings.Steps; s++) last = trainer.Step().Loss;
        }
        Assert.True(last < first * 0.8, $"{kind}: loss {first} → {last} did not fall");
        string saved = Path.Combine(_folder, "saved");
        ModelCheckpoint.Save(saved, loaded.Model, null, maxShardBytes: 8_000);
        Assert.True(File.Exists(Path.Combine(saved, "model.safetensors.index.json")), "a model above the shard size is saved in shards");
        using var reloaded = ModelCheckpoint.Load(saved, backend);
        Assert.Equal(loaded.Model.Config, reloaded.Model.Config);
        Assert.Equal(backend.ToArray(loaded.Model.Parameters.View), backend.ToArray(reloaded.Model.Parameters.View));
        var (again, _) = LogprobsCommand.Score(reloaded.Model, sequences, "test");
        var (trained, _) = LogprobsCommand.Score(loaded.Model, sequences, "test");
        Assert.Equal(trained.SelectMany(r => r).ToArray(), again.SelectMany(r => r).ToArray());
    }

    [Fact]
    public void Pretrain_arch_llama_trains_a_llama_model_from_scratch_and_writes_a_llama_folder()
    {
        string text = Path.Combine(_folder, "text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Range(0, 60).Select(i => $"the cat sat on the mat number {i % 7}.\n\nthe dog ran to the park.\n")));
        string run = Path.Combine(_folder, "run");
        string[] args = ["--arch", "llama", "--text", text, "--out", run, "--layers", "1", "--channels", "16", "--heads", "4",
            "--sequence", "16", "--batch", "4", "--steps", "60", "--lr", "1e-2", "--warmup", "2", "--device", "cpu"];
        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), args));
        var losses = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetSingle()).ToArray();
        Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() * 0.5, "loss did not fall");
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Equal("llama", config.RootElement.GetProperty("model_type").GetString());
        Assert.Equal(2, config.RootElement.GetProperty("num_key_value_heads").GetInt32());
        using var backend = new CpuBackend();
        using var loaded = ModelCheckpoint.Load(run, backend);
        Assert.Equal(ModelFamily.Llama, loaded.Model.Config.Family);
        Assert.Equal(48, loaded.Model.Config.MlpWidth); // 8·16/3 = 42.7, rounded up to a multiple of 16
    }

    /// <summary>`gta train --base-arch llama`: the from-scratch base is a Llama-style model; GTA trains it and `gta eval` reads the run.</summary>
    [Fact]
    public void Gta_train_with_a_llama_base_built_from_scratch_trains_and_evaluates()
    {
        string data = GtaIlgpu.Tests.Fixtures.DatasetFolder.WriteSynthetic(Path.Combine(_folder, "data"));
        string run = Path.Combine(_folder, "run");
        string[] tiny =
        [
            "--base-arch", "llama", "--steps", "2", "--prompts", "2", "--generations", "2", "--mu", "1", "--max-completion", "16", "--eval-every", "1",
            "--eval-examples", "4", "--base-layers", "1", "--base-channels", "16", "--base-heads", "2", "--base-sequence", "64",
            "--base-pretrain-steps", "2", "--base-prime-steps", "2", "--device", "cpu",
        ];
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), [.. tiny, "--data", data, "--out", run]));
        using (var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "checkpoint", "config.json"))))
        {
            Assert.Equal("llama", config.RootElement.GetProperty("model_type").GetString());
            Assert.Equal(1, config.RootElement.GetProperty("num_key_value_heads").GetInt32());
        }
        Assert.Equal(2, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Length);
        string evalOut = Path.Combine(_folder, "eval.json");
        Assert.Equal(0, CliErrors.Invoke(EvalCommand.Build(), ["--model", run, "--data", data, "--split", "test", "--out", evalOut, "--device", "cpu"]));
        Assert.True(File.Exists(evalOut));
    }

    [Fact]
    public void The_memory_plan_counts_what_the_layouts_allocate_and_refuses_what_does_not_fit()
    {
        var config = FamilyConfigsForPlan();
        var plan = MemoryPlan.ForPretraining(config, 2, 8);
        long parameters = new ParameterLayout(config).TotalLength;
        Assert.Equal(4 * (4 * parameters + Activations.Floats(config, 2, 8, true)), plan.TotalBytes);
        var inference = MemoryPlan.ForInference(config, 3, 8, decoding: true);
        // Generation: the scoring pool, the KV cache with one decode step's pool, and the prefill pool (one block's room, no logits).
        Assert.Equal(4 * (parameters + Activations.Floats(config, 3, 8, false) + KvCache.Floats(config, 3, 8) + Activations.Floats(config, 3, 1, false)
            + Activations.Floats(config, 3, 8, false, new ActivationOptions(Recompute: true, Logits: false))), inference.TotalBytes);
        Assert.Equal(4L * 2 * 3 * 8 * 2 * config.KvHeadCount * config.HeadSize, 4 * KvCache.Floats(config, 3, 8));
        var e = Assert.Throws<InsufficientMemoryException>(() => plan.EnsureFits(plan.TotalBytes - 1, "a small device"));
        Assert.Contains("a small device", e.Message);
        Assert.Contains(MemoryPlan.Format(plan.TotalBytes), e.Message);
        plan.EnsureFits(plan.TotalBytes, "a device just large enough");

        // The command refuses before it allocates anything: 48 layers of 8192 channels need over 150 GiB for
        // their weights alone (a HostBuffer of that many floats could not even be created), far past this machine.
        string text = Path.Combine(_folder, "huge.txt");
        File.WriteAllText(text, "the cat sat on the mat.\n\nthe dog ran to the park.\n");
        string run = Path.Combine(_folder, "huge");
        var output = new StringWriter();
        var previous = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(output), Ansi = Spectre.Console.AnsiSupport.No, ColorSystem = Spectre.Console.ColorSystemSupport.NoColors,
        });
        int exit;
        try
        {
            exit = CliErrors.Invoke(PretrainCommand.Build(), ["--arch", "llama", "--text", text, "--out", run, "--layers", "48", "--channels", "8192", "--heads", "64", "--device", "cpu"]);
        }
        finally { Spectre.Console.AnsiConsole.Console = previous; }
        Assert.Equal(2, exit);
        Assert.Contains("the run needs", output.ToString());
        Assert.False(File.Exists(Path.Combine(run, "metrics.jsonl")), "a refused run writes nothing");
    }

    private static ModelConfig FamilyConfigsForPlan() => GtaIlgpu.Tests.Model.FamilyConfigs.Cases["qwen3-qknorm-headdim"];
}
