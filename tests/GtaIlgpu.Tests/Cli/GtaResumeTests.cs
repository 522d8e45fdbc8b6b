using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Tests.Fixtures;

namespace GtaIlgpu.Tests.Cli;

/// <summary>`gta train --checkpoint-every / --stop-after / --resume`: a split run is the same run.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class GtaResumeTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"gta-train-resume-{Guid.NewGuid():N}");
    private readonly string _data;

    public GtaResumeTests() => _data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    /// <summary>
    /// 40 training examples and 2 + 6 per step (rollout prompts, extra SFT prompts): an epoch lasts 5 steps,
    /// so by step 6 the data order has been reshuffled once. μ = 2 exercises the PPO ratio, and β = 0.01
    /// (the default) the KL to the frozen reference.
    /// </summary>
    private string[] Args(string run, params string[] more) =>
    [
        "--data", _data, "--out", run, "--steps", "8", "--prompts", "2", "--sft-prompts", "8", "--generations", "2", "--mu", "2",
        "--max-completion", "16", "--eval-every", "3", "--eval-examples", "4", "--base-layers", "1", "--base-channels", "16",
        "--base-heads", "2", "--base-sequence", "64", "--base-pretrain-steps", "2", "--base-prime-steps", "2", "--device", "cpu", .. more,
    ];

    /// <summary>The fields that measure wall-clock time; every other field must match exactly.</summary>
    private static readonly string[] WallClock = ["tokens_per_second", "seconds"];

    private static string[] MetricsWithoutTiming(string run) => File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
        .Select(line =>
        {
            var json = JsonNode.Parse(line)!.AsObject();
            foreach (var key in WallClock) Assert.True(json.Remove(key), $"metrics line lacks {key}");
            Assert.Equal(26, json.Count); // every field of GtaStepMetrics but the two timings
            return json.ToJsonString();
        }).ToArray();

    [Fact]
    public void An_interrupted_and_resumed_gta_run_writes_the_same_metrics_validation_eval_and_model_as_an_uninterrupted_one()
    {
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(straight)));
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(split, "--checkpoint-every", "4", "--stop-after", "6")));

        // Stopped after step 6: metrics and validation so far, a checkpoint with the GTA state, no test evaluation yet.
        Assert.Equal(6, File.ReadAllLines(Path.Combine(split, "metrics.jsonl")).Length);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(split, "validation.jsonl")).Length); // steps 0, 3, 6
        Assert.False(File.Exists(Path.Combine(split, "eval.json")));
        string checkpoint = TrainingCheckpoint.Latest(split)!;
        Assert.EndsWith("step-000006", checkpoint);
        Assert.True(File.Exists(Path.Combine(checkpoint, "reference.safetensors")), "β ≠ 0: the frozen reference belongs in the checkpoint");
        var state = TrainingCheckpoint.ReadState(checkpoint);
        Assert.Equal(40, state.DataOrder!.Length);
        Assert.Equal(16, state.DataPosition); // 6 steps × (8 + 8 fresh SFT rows for the second update) = 96: two epochs of 40, then 16
        Assert.NotEqual(Enumerable.Range(0, 40), state.DataOrder);

        // Only --steps, --checkpoint-every, --stop-after and --device may be given with --resume.
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--lr", "0.1", "--device", "cpu"]));
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--device", "cpu"]));

        Assert.Equal(MetricsWithoutTiming(straight), MetricsWithoutTiming(split));
        Assert.Equal(File.ReadAllLines(Path.Combine(straight, "validation.jsonl")), File.ReadAllLines(Path.Combine(split, "validation.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(straight, "eval.json")), File.ReadAllText(Path.Combine(split, "eval.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "checkpoint", "model.safetensors")), File.ReadAllBytes(Path.Combine(split, "checkpoint", "model.safetensors")));
        Assert.EndsWith("step-000008", TrainingCheckpoint.Latest(split));

        // A finished run needs a larger --steps; a fresh run into its folder needs --overwrite.
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), Args(split)));
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), ["--resume", straight, "--device", "cpu"])); // no checkpoints
    }

    [Fact]
    public void Resuming_on_changed_data_is_refused()
    {
        string run = Path.Combine(_root, "run");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(run, "--stop-after", "1")));
        var train = Path.Combine(_data, "train.jsonl");
        File.WriteAllLines(train, File.ReadAllLines(train).Skip(1));
        Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), ["--resume", run, "--device", "cpu"]));
        Assert.EndsWith("step-000001", TrainingCheckpoint.Latest(run));
    }
}
