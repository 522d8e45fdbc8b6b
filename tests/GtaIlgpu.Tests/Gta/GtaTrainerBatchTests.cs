using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Gta;

/// <summary>The RL and SFT batches of one step stay apart even when they have the same shape.</summary>
public class GtaTrainerBatchTests
{
    [Fact]
    public void Rl_and_sft_batches_of_the_same_shape_do_not_share_a_workspace()
    {
        var data = GtaEndToEndTests.SyntheticSentiment(40, 4, 11);
        using var backend = new CpuBackend();
        var baseSettings = new BaseSettings { Layers = 1, Channels = 16, Heads = 2, MaxSequence = 64, PretrainSteps = 2, PrimeSteps = 20, Batch = 8, LearningRate = 3e-3f, Seed = 3 };
        var (model, format) = BaseModelBuilder.Build(backend, data, baseSettings, taskName: "sentiment");
        using (model)
        {
            // P·G = 8 rollouts and 8 SFT rows, both padded to the same 16-multiple: one shape for both batches.
            var settings = new GtaSettings
            {
                Steps = 3, PromptsPerStep = 2, Generations = 4, SftPrompts = 8, Mu = 1, MaxCompletionTokens = 8,
                Beta = 0.01f, Constraint = ConstraintKind.None, LearningRate = 1e-3f, WarmupSteps = 1, Seed = 4,
            };
            using var trainer = new GtaTrainer(model, format, data.Train, settings);
            for (int s = 0; s < settings.Steps; s++)
            {
                var m = trainer.Step();
                // Sharing one workspace made the SFT loss reuse the RL coefficients: a negative "cross-entropy"
                // and an SFT gradient identical to the RL one (cos = 1).
                Assert.True(m.SftLoss > 0 && float.IsFinite(m.SftLoss), $"step {m.Step}: SFT cross-entropy {m.SftLoss}");
                Assert.True(m.CosSftRl < 0.999f, $"step {m.Step}: cos(g_sft, g_rl) = {m.CosSftRl}: the two gradients are one");
            }
        }
    }
}
