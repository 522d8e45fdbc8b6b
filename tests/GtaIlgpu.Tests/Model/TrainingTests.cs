using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>Training behaviour on the CPU backend: overfitting, determinism, NaN detection.</summary>
public class TrainingTests
{
    private static readonly ModelConfig Config = new(Layers: 2, Channels: 32, Heads: 4, VocabSize: 29, MaxSequence: 16);

    private static float[] Losses(IBackend backend, int[] stream, PretrainSettings settings)
    {
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(settings.Seed);
        using var trainer = new LanguageModelTrainer(model, stream, settings);
        var losses = new float[settings.Steps];
        for (int s = 0; s < settings.Steps; s++) losses[s] = trainer.Step().Loss;
        return losses;
    }

    [Fact]
    public void Model_overfits_one_small_batch()
    {
        // A stream exactly one window long: every step sees the same batch.
        var stream = ModelTests.RandomTokens(17, Config.VocabSize, 99);
        var settings = new PretrainSettings { Batch = 1, Sequence = 16, Steps = 120, LearningRate = 3e-3f, WarmupSteps = 5, Seed = 3, Optimizer = new AdamWSettings(WeightDecay: 0) };
        using var backend = new CpuBackend();
        var losses = Losses(backend, stream, settings);
        Assert.True(losses[0] > 3.0f, $"initial loss {losses[0]} should be near ln(29) ≈ 3.37");
        Assert.True(losses[^1] < losses[0] / 10, $"loss fell only from {losses[0]} to {losses[^1]}");
    }

    [Fact]
    public void Same_seed_gives_identical_losses_on_the_cpu_backend()
    {
        var stream = ModelTests.RandomTokens(400, Config.VocabSize, 5);
        var settings = new PretrainSettings { Batch = 3, Sequence = 12, Steps = 6, Seed = 11 };
        using var backend = new CpuBackend();
        var first = Losses(backend, stream, settings);
        var second = Losses(backend, stream, settings);
        Assert.Equal(first, second);
        var otherSeed = Losses(backend, stream, settings with { Seed = 12 });
        Assert.NotEqual(first, otherSeed);
    }

    [Fact]
    public void Cpu_backend_training_matches_the_reference_for_a_few_steps()
    {
        var stream = ModelTests.RandomTokens(300, Config.VocabSize, 8);
        var settings = new PretrainSettings { Batch = 2, Sequence = 10, Steps = 4, Seed = 21 };
        using var cpu = new CpuBackend();
        using var reference = new Reference.ReferenceBackend();
        var a = Losses(cpu, stream, settings);
        var b = Losses(reference, stream, settings);
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 3);
    }

    [Fact]
    public void A_non_finite_gradient_stops_training_with_the_step_named()
    {
        var stream = ModelTests.RandomTokens(100, Config.VocabSize, 2);
        var settings = new PretrainSettings { Batch = 1, Sequence = 8, Steps = 3, Seed = 1 };
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(1);
        var p = backend.ToArray(model.Parameters.View);
        p[model.Layout["ln_f.weight"].Offset] = float.NaN;
        backend.Upload(model.Parameters.View, p);
        using var trainer = new LanguageModelTrainer(model, stream, settings);
        var error = Assert.Throws<NonFiniteException>(() => trainer.Step());
        Assert.Contains("step 1", error.Message);
    }
}
