using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Checkpoints;

namespace GtaIlgpu.Tests.Gta;

/// <summary>GTA trainer checkpoints: a restored trainer takes the same next step, and a killed write leaves the previous checkpoint whole.</summary>
public sealed class GtaTrainingCheckpointTests : IDisposable
{
    private readonly string _run = Path.Combine(Path.GetTempPath(), $"gta-trainer-ckpt-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        if (Directory.Exists(_run)) Directory.Delete(_run, recursive: true);
    }

    private static readonly GtaSettings Settings = new()
    {
        Steps = 10, PromptsPerStep = 2, Generations = 2, SftPrompts = 4, Mu = 1, MaxCompletionTokens = 12,
        Beta = 0.05f, WarmupSteps = 1, LearningRate = 1e-2f, Seed = 3,
    };

    /// <summary>Step metrics without their wall-clock fields.</summary>
    private static GtaStepMetrics Timeless(GtaStepMetrics m) => m with { TokensPerSecond = 0, Seconds = 0 };

    [Theory]
    [InlineData("reference.safetensors")]
    [InlineData("trainer_state.json")]
    [InlineData("validation.jsonl")]
    public void A_killed_write_leaves_the_previous_checkpoint_from_which_a_fresh_trainer_takes_the_same_next_step(string dyingFile)
    {
        var data = GtaEndToEndTests.SyntheticSentiment(6, 4, 5); // 4 examples per step: the order is reshuffled within step 2
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text), data.Labels, "sentiment");
        var format = new PromptFormat(vocabulary, "sentiment", data.Labels);
        var config = new ModelConfig(1, 16, 2, vocabulary.Size, 80);
        var run = new JsonObject { ["test"] = true };
        string validation = string.Concat(Enumerable.Repeat("{\"step\":0,\"accuracy\":0.5}\n", 40)); // longer than the dying stream's budget

        using var model = new Transformer(_backend, config);
        model.InitializeWeights(1);
        using var trainer = new GtaTrainer(model, format, data.Train, Settings);
        trainer.Step();
        trainer.Step();
        string previous = GtaTrainingCheckpoint.Save(_run, trainer, format, run, "metrics\n", validation);
        var before = DyingStream.Hashes(_run);
        var third = trainer.Step();

        var error = Assert.Throws<IOException>(() => GtaTrainingCheckpoint.Save(_run, trainer, format, run, "metrics\n", validation,
            (file, stream) => file == dyingFile ? new DyingStream(stream, 100) : stream));
        Assert.Contains("simulated kill", error.Message);
        Assert.Equal(previous, TrainingCheckpoint.Latest(_run));
        Assert.Equal(before, DyingStream.Hashes(_run));

        // Another model with other weights: everything the next step depends on must come from the checkpoint.
        using var other = new Transformer(_backend, config);
        other.InitializeWeights(99);
        using var restored = new GtaTrainer(other, format, data.Train, Settings);
        var state = GtaTrainingCheckpoint.Restore(previous, restored);
        Assert.Equal(2, restored.StepsDone);
        Assert.Equal(run.ToJsonString(), state.Run.ToJsonString());
        Assert.Equal(validation, GtaTrainingCheckpoint.ReadValidation(previous));
        var again = restored.Step();
        Assert.True(third.Kl > 0, "the KL term must take part for the reference to be tested");
        Assert.Equal(Timeless(third), Timeless(again));
        Assert.Equal(_backend.ToArray(model.Parameters.View), _backend.ToArray(other.Parameters.View));
    }
}
