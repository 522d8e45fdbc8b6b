using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// GTA with LoRA adapters from a primed base: the KL reference is the base itself (no copy), recomputation
/// changes no bit of a run, micro-batches agree with the whole batch, and only the adapters move.
/// </summary>
public class LoraTrainerTests(MicroBatchBase based) : IClassFixture<MicroBatchBase>
{
    private static GtaSettings Settings => new()
    {
        Method = TrainingMethod.Gta, Steps = 3, PromptsPerStep = 2, Generations = 4, SftPrompts = 5, Mu = 1, MaxCompletionTokens = 20,
        Beta = 0.05f, LearningRate = 1e-2f, WarmupSteps = 1, Seed = 4, LoraRank = 4, LoraAlpha = 8, LoraTargets = "q,k,v,o,up,down",
    };

    private (List<GtaStepMetrics> Metrics, float[] Adapters, float[] Base, bool HasReferenceCopy) Train(GtaSettings settings)
    {
        using var backend = new CpuBackend();
        using var full = new Transformer(backend, based.Config);
        backend.Upload(full.Parameters.View, based.Weights);
        using var model = full.WithOptions(settings.ModelOptions, 7);
        using var trainer = new GtaTrainer(model, based.Format, based.Data.Train, settings);
        var metrics = new List<GtaStepMetrics>();
        for (int s = 0; s < settings.Steps; s++) metrics.Add(trainer.Step() with { TokensPerSecond = 0, Seconds = 0 });
        return (metrics, model.DownloadAdapters(), model.DownloadBaseWeights(), trainer.Reference is not null);
    }

    [Fact]
    public void The_kl_reference_is_the_base_without_adapters()
    {
        var run = Train(Settings);
        Assert.False(run.HasReferenceCopy);
        // μ = 1: the first step's policy is the base (B = 0), so its KL is exactly 0; afterwards the adapters have
        // moved the policy and the KL to the base is positive. A reference that kept the adapters would read 0 throughout.
        Assert.Equal(0f, run.Metrics[0].Kl);
        Assert.All(run.Metrics.Skip(1), m => Assert.True(m.Kl > 0, $"step {m.Step}: KL {m.Kl}"));
        // Only the adapters trained; the base is the primed base's bits.
        Assert.Equal(based.Weights, run.Base);
        Assert.Contains(run.Adapters, a => a != 0);
    }

    [Fact]
    public void Recomputation_changes_no_bit_of_a_lora_run_and_micro_batches_only_the_summation_order()
    {
        var plain = Train(Settings with { BaseDtype = WeightDtype.Bf16 });
        var recomputed = Train(Settings with { BaseDtype = WeightDtype.Bf16, Recompute = true });
        Assert.Equal(plain.Adapters, recomputed.Adapters);
        Assert.Equal(plain.Metrics, recomputed.Metrics);

        var micro = Train(Settings with { BaseDtype = WeightDtype.Bf16, Recompute = true, MicroBatch = 3 });
        for (int i = 0; i < plain.Adapters.Length; i++)
            Assert.True(Math.Abs(plain.Adapters[i] - micro.Adapters[i]) <= 1e-5 * Math.Abs(plain.Adapters[i]) + 0.02 * Settings.LearningRate,
                $"adapter {i}: whole batch {plain.Adapters[i]:G7}, micro-batches of 3 {micro.Adapters[i]:G7}");
        for (int s = 0; s < plain.Metrics.Count; s++)
            Assert.Equal(plain.Metrics[s].Reward, micro.Metrics[s].Reward);
    }
}
