using System.Text.Json;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>Exact resume of `gta pretrain`, and checkpoints that survive a write killed midway.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class TrainingCheckpointTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-resume-{Guid.NewGuid():N}");
    private readonly string _text;

    public TrainingCheckpointTests()
    {
        Directory.CreateDirectory(_folder);
        _text = Path.Combine(_folder, "text.txt");
        File.WriteAllText(_text, string.Concat(Enumerable.Range(0, 40).Select(i => $"the cat sat on the mat number {i % 7}.\n\nthe dog ran to the park {i % 3} times.\n\n")));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string[] Args(string run, params string[] more) =>
        ["--text", _text, "--out", run, "--layers", "1", "--channels", "16", "--heads", "2", "--sequence", "16", "--batch", "4",
            "--steps", "12", "--lr", "1e-2", "--warmup", "2", "--device", "cpu", .. more];

    /// <summary>Each metrics line without its timing field, which is the only part that may differ between runs.</summary>
    private static string[] Metrics(string run) => File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
        .Select(line =>
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            return $"{r.GetProperty("step").GetRawText()} {r.GetProperty("loss").GetRawText()} {r.GetProperty("grad_norm").GetRawText()} {r.GetProperty("lr").GetRawText()}";
        }).ToArray();

    [Fact]
    public void An_interrupted_and_resumed_pretraining_run_equals_an_uninterrupted_one_bit_for_bit()
    {
        string straight = Path.Combine(_folder, "straight"), split = Path.Combine(_folder, "split");
        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), Args(straight, "--checkpoint-every", "6")));
        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), Args(split, "--checkpoint-every", "6", "--stop-after", "6")));
        Assert.Equal(6, Metrics(split).Length);
        Assert.False(File.Exists(Path.Combine(split, "model.safetensors")));
        Assert.EndsWith("step-000006", TrainingCheckpoint.Latest(split));

        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        Assert.Equal(Metrics(straight), Metrics(split));
        Assert.Equal(12, Metrics(split).Length);
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "model.safetensors")), File.ReadAllBytes(Path.Combine(split, "model.safetensors")));
        Assert.EndsWith("step-000012", TrainingCheckpoint.Latest(split));
        Assert.Single(Directory.GetDirectories(Path.Combine(split, TrainingCheckpoint.FolderName))); // older checkpoints are removed

        // Resuming a finished run needs a larger --steps; a fresh run into it needs --overwrite.
        Assert.Equal(2, CliErrors.Invoke(PretrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        Assert.Equal(2, CliErrors.Invoke(PretrainCommand.Build(), Args(split)));
        Assert.Equal(2, CliErrors.Invoke(PretrainCommand.Build(), ["--resume", Path.Combine(_folder, "nothing"), "--device", "cpu"]));
    }

    [Theory]
    [InlineData("model.safetensors")]
    [InlineData("optimizer.safetensors")]
    [InlineData("metrics.jsonl")]
    public void A_checkpoint_write_killed_midway_leaves_the_previous_checkpoint_intact_and_loadable(string dyingFile)
    {
        string run = Path.Combine(_folder, "run");
        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), Args(run, "--stop-after", "3")));
        string previous = TrainingCheckpoint.Latest(run)!;
        var before = DyingStream.Hashes(run);

        using var backend = new CpuBackend();
        using var loaded = ModelCheckpoint.Load(run, backend); // a run without a final model loads its latest checkpoint
        using var optimizer = new GtaIlgpu.Training.AdamWOptimizer(loaded.Model, new());
        var state = TrainingCheckpoint.Restore(previous, loaded.Model, optimizer);
        var later = state with { Step = 4, OptimizerStep = 4 };
        var error = Assert.Throws<IOException>(() => TrainingCheckpoint.Save(run, loaded.Model, optimizer, loaded.Tokenizer, later, new string('x', 1000),
            wrapWrite: (file, stream) => file == dyingFile ? new DyingStream(stream, 100) : stream));
        Assert.Contains("simulated kill", error.Message);

        Assert.Equal(previous, TrainingCheckpoint.Latest(run));
        Assert.Equal(before, DyingStream.Hashes(run)); // nothing changed, and no partial files were left behind
        Assert.Equal(0, CliErrors.Invoke(PretrainCommand.Build(), ["--resume", run, "--device", "cpu", "--stop-after", "5"]));
        Assert.EndsWith("step-000005", TrainingCheckpoint.Latest(run));
    }
}
