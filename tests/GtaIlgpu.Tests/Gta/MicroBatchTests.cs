using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// A base primed long enough that its rollouts close their answers, so rewards differ within groups and
/// the RL gradient is not zero; built once on the CPU backend and handed to every test as plain weights.
/// </summary>
public sealed class MicroBatchBase
{
    public MicroBatchBase()
    {
        Data = GtaEndToEndTests.SyntheticSentiment(40, 4, 11);
        using var backend = new CpuBackend();
        var settings = new BaseSettings { Layers = 1, Channels = 16, Heads = 2, MaxSequence = 80, PretrainSteps = 2, PrimeSteps = 300, Batch = 8, LearningRate = 3e-3f, Seed = 3, MaxCompletionTokens = 8 };
        var (model, format) = BaseModelBuilder.Build(backend, Data, settings, taskName: "sentiment");
        using (model)
        {
            Format = format;
            Config = model.Config;
            Weights = backend.ToArray(model.Parameters.View);
        }
    }

    public DatasetSplits Data { get; }
    public PromptFormat Format { get; }
    public ModelConfig Config { get; }
    public float[] Weights { get; }
}

/// <summary>
/// --micro-batch: the same steps with the RL and SFT batches cut into micro-batches must give the weights
/// and metrics of the whole batch up to floating-point summation order (the gradients are summed per
/// micro-batch, then across them), on the CPU backend and on the scalar reference; 0 or ≥ rows, the bits.
/// Rows here: RL P·G = 8, SFT max(P, 5) = 5, so micro-batches of 3 leave a short last one in both.
/// </summary>
public class MicroBatchTests(MicroBatchBase based) : IClassFixture<MicroBatchBase>
{
    // Summation order only: a row's log-probs do not depend on its micro-batch, its coefficients are the same
    // formula with the same normalisers, and the gradient is the same sum of per-row terms, grouped
    // differently. Gradients (the last update's, as the optimizer left them): |Δ| ≤ 1e-5 of the largest
    // component (measured ≤ 2e-6). Metrics: |Δ| ≤ 1e-6 + 1e-5·|x| (measured ≤ 1e-6 relative; the absolute
    // part for an RL loss near 0). Weights: |Δ| ≤ 1e-5·|w| + 0.02·lr, because AdamW's step g/(√v + ε) is about
    // ±lr whatever g's size: a component whose gradient nearly cancels (a rarely used position) carries its
    // rounding noise into the step (measured ≤ 0.005·lr after two steps of μ = 3); the key bias, whose true
    // gradient is zero, is left out of the weights (its gradient is compared). A bug flips or rescales
    // steps of size lr and moves gradients and metrics by far more than these bounds.
    private const double Rtol = 1e-5, GradientTolerance = 1e-5, MetricAtol = 1e-6, WeightAtolInLearningRates = 0.02;

    private static GtaSettings Small(TrainingMethod method) => new()
    {
        Method = method, Steps = 2, PromptsPerStep = 2, Generations = 4, SftPrompts = 5, Mu = 2, MaxCompletionTokens = 20,
        Beta = 0.05f, ClipEpsilonLow = 0.05f, ClipEpsilonHigh = 0.3f, Constraint = ConstraintKind.Gate, LearningRate = 3e-3f, WarmupSteps = 1, Seed = 4,
    };

    private static IBackend Open(string backend) => backend switch
    {
        "cpu" => new CpuBackend(),
        "reference" => new ReferenceBackend(),
        _ => throw new ArgumentException(backend),
    };

    private sealed record Run(List<float[]> Weights, List<float[]> Gradients, List<GtaStepMetrics> Metrics);

    /// <summary>The steps from the shared base; after each, the weights and the last update's gradient.</summary>
    private Run Train(IBackend backend, GtaSettings settings)
    {
        using var model = new Transformer(backend, based.Config);
        backend.Upload(model.Parameters.View, based.Weights);
        using var trainer = new GtaTrainer(model, based.Format, based.Data.Train, settings);
        var run = new Run([], [], []);
        for (int s = 0; s < settings.Steps; s++)
        {
            run.Metrics.Add(trainer.Step() with { TokensPerSecond = 0, Seconds = 0 });
            run.Weights.Add(backend.ToArray(model.Parameters.View));
            run.Gradients.Add(backend.ToArray(model.Gradients.View));
        }
        return run;
    }

    private void AssertSameUpdate(Run whole, Run micro, string what, float learningRate)
    {
        var keyBias = KeyBias();
        for (int s = 0; s < whole.Weights.Count; s++)
        {
            string step = $"{what}, step {s + 1}";
            float[] g = whole.Gradients[s], h = micro.Gradients[s];
            double largest = g.Max(x => Math.Abs(x));
            for (int i = 0; i < g.Length; i++)
                if (Math.Abs(g[i] - h[i]) > GradientTolerance * largest)
                    Assert.Fail($"{step}: gradient {i} of the last update is {h[i]}, whole batch {g[i]} (largest component {largest})");
            float[] w = whole.Weights[s], m = micro.Weights[s];
            for (int i = 0; i < w.Length; i++)
                if (!keyBias(i) && Math.Abs(w[i] - m[i]) > Rtol * Math.Abs(w[i]) + WeightAtolInLearningRates * learningRate)
                    Assert.Fail($"{step}: weight {i} is {m[i]}, whole batch {w[i]}");
            GtaStepMetrics a = whole.Metrics[s], b = micro.Metrics[s];
            // The rollouts of a step are sampled before its updates: the same draws while the weights agree.
            Assert.Equal((a.Reward, a.CompletionsMeanLength, a.NumTokens), (b.Reward, b.CompletionsMeanLength, b.NumTokens));
            foreach (var (name, x, y) in new[]
                     {
                         ("sft_loss", a.SftLoss, b.SftLoss), ("rl_loss", a.RlLoss, b.RlLoss), ("kl", a.Kl, b.Kl), ("entropy", a.Entropy, b.Entropy),
                         ("clip_ratio/low_mean", a.ClipRatioLowMean, b.ClipRatioLowMean), ("clip_ratio/high_mean", a.ClipRatioHighMean, b.ClipRatioHighMean),
                         ("cos_sft_rl", a.CosSftRl, b.CosSftRl), ("gate_dropped_sft", a.GateDroppedSft, b.GateDroppedSft),
                         ("grad_norm", a.GradNorm, b.GradNorm), ("grad_norm_sft", a.GradNormSft, b.GradNormSft), ("grad_norm_rl", a.GradNormRl, b.GradNormRl),
                     })
                Assert.True(Math.Abs(x - y) <= MetricAtol + Rtol * Math.Abs(x), $"{step}: {name} is {y}, whole batch {x}");
        }
    }

    /// <summary>
    /// The key part of GPT-2's fused QKV bias: adding b to every key adds q·b to all of a query's scores,
    /// which the softmax ignores, so its true gradient is exactly zero and the computed one is rounding
    /// noise that AdamW divides by its own size: steps of up to lr in a direction summation order decides.
    /// </summary>
    private Func<int, bool> KeyBias()
    {
        var layout = new ParameterLayout(based.Config);
        int C = based.Config.Channels;
        var ranges = layout.Tensors.Where(t => t.Name.EndsWith("attn.c_attn.bias", StringComparison.Ordinal))
            .Select(t => (Start: t.Offset + C, End: t.Offset + 2 * C)).ToArray();
        return i => ranges.Any(r => i >= r.Start && i < r.End);
    }

    /// <summary>The whole-batch run must train something for the comparison to mean anything.</summary>
    private static void AssertExercised(Run whole, TrainingMethod method)
    {
        var m = whole.Metrics;
        if (method != TrainingMethod.Sft)
        {
            Assert.True(m.Any(x => x.FracRewardZeroStd < 1), "every group had equal rewards: the RL gradient held only the KL");
            Assert.True(m.All(x => x.GradNormRl > 0), "no RL gradient");
            Assert.True(m.Any(x => x.ClipRatioRegionMean > 0), "no ratio was clipped: the clipped branch was not exercised");
            Assert.True(m[^1].Kl > 0, "the policy never left the reference: the KL term was not exercised");
        }
        if (method != TrainingMethod.Grpo) Assert.True(m.All(x => x.GradNormSft > 0 && x.SftLoss > 0), "no SFT gradient");
    }

    [Theory]
    [InlineData(TrainingMethod.Gta, "cpu")]
    [InlineData(TrainingMethod.Grpo, "cpu")]
    [InlineData(TrainingMethod.Sft, "cpu")]
    [InlineData(TrainingMethod.Gta, "reference")]
    [InlineData(TrainingMethod.Grpo, "reference")]
    [InlineData(TrainingMethod.Sft, "reference")]
    public void Micro_batches_of_1_2_and_3_rows_give_the_whole_batch_update(TrainingMethod method, string backendName)
    {
        using var backend = Open(backendName);
        var settings = Small(method);
        var whole = Train(backend, settings);
        AssertExercised(whole, method);
        foreach (int micro in new[] { 1, 2, 3 })
            AssertSameUpdate(whole, Train(backend, settings with { MicroBatch = micro }), $"{method} on {backendName}, micro-batch {micro}", settings.LearningRate);
    }

    [Theory]
    [InlineData(GrpoLossType.Grpo)]
    [InlineData(GrpoLossType.Bnpo)]
    [InlineData(GrpoLossType.DrGrpo)]
    public void Each_loss_type_keeps_its_whole_batch_normaliser(GrpoLossType lossType)
    {
        using var backend = new CpuBackend();
        // μ = 3: later updates move the ratio, so the clipped surrogate (not only the KL) carries the normaliser.
        var settings = Small(TrainingMethod.Grpo) with { LossType = lossType, Mu = 3 };
        var whole = Train(backend, settings);
        AssertExercised(whole, TrainingMethod.Grpo);
        foreach (int micro in new[] { 3, 5 })
            AssertSameUpdate(whole, Train(backend, settings with { MicroBatch = micro }), $"{lossType}, micro-batch {micro}", settings.LearningRate);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("reference")]
    public void The_top_entropy_quantile_is_taken_over_the_whole_batch(string backendName)
    {
        using var backend = Open(backendName);
        var settings = Small(TrainingMethod.Gta) with { TopEntropyQuantile = 0.3f };
        var whole = Train(backend, settings);
        AssertExercised(whole, TrainingMethod.Gta);
        // The quantile matters here: without it the same steps train differently.
        var all = Train(backend, Small(TrainingMethod.Gta));
        Assert.True(all.Weights[0].Zip(whole.Weights[0], (a, b) => Math.Abs(a - b)).Max() > 1e-5, "the entropy mask changed nothing: the test cannot see a per-micro-batch threshold");
        foreach (int micro in new[] { 1, 3 })
            AssertSameUpdate(whole, Train(backend, settings with { MicroBatch = micro }), $"top entropy quantile, micro-batch {micro}", settings.LearningRate);
    }

    [Theory]
    [InlineData(TrainingMethod.Gta)]
    [InlineData(TrainingMethod.Sft)]
    public void A_micro_batch_of_at_least_the_rows_is_the_whole_batch_to_the_bit(TrainingMethod method)
    {
        using var backend = new CpuBackend();
        var settings = Small(method) with { TopEntropyQuantile = 0.5f };
        var whole = Train(backend, settings);
        // 8 = the RL rows (and more than the 5 SFT rows); 64 exceeds both.
        foreach (int micro in new[] { 8, 64 })
        {
            var same = Train(backend, settings with { MicroBatch = micro });
            for (int s = 0; s < whole.Weights.Count; s++)
            {
                Assert.True(whole.Weights[s].AsSpan().SequenceEqual(same.Weights[s]), $"micro-batch {micro}, step {s + 1}: the weights are not the whole batch's bits");
                Assert.Equal(whole.Metrics[s], same.Metrics[s]);
            }
        }
    }

    [Fact]
    public void The_memory_plan_counts_the_activations_of_one_micro_batch()
    {
        // 16 validation prompts: the validation decoder's prefill, chunked by the micro-batch too, stays whole at 32.
        var settings = Small(TrainingMethod.Gta) with { PromptsPerStep = 4, Generations = 8, SftPrompts = 16, EvalExamples = 16 };
        long ActivationBytes(GtaSettings s) => GtaTrainer.PlanMemory(based.Config, s).Items.Where(i => i.Name.Contains("batch activations")).Sum(i => i.Bytes);
        long whole = GtaTrainer.PlanMemory(based.Config, settings).TotalBytes;
        Assert.Equal(whole, GtaTrainer.PlanMemory(based.Config, settings with { MicroBatch = 32 }).TotalBytes);
        long previous = whole;
        foreach (int micro in new[] { 16, 4, 1 })
        {
            var plan = GtaTrainer.PlanMemory(based.Config, settings with { MicroBatch = micro });
            Assert.True(plan.TotalBytes < previous, $"micro-batch {micro}: {plan.TotalBytes} bytes, not less than {previous}");
            previous = plan.TotalBytes;
            // RL and SFT: one micro-batch's activations each, at the full window.
            long expected = 4 * (Activations.Floats(based.Config, micro, based.Config.MaxSequence, true)
                                 + Activations.Floats(based.Config, Math.Min(micro, 16), based.Config.MaxSequence, true));
            Assert.Equal(expected, ActivationBytes(settings with { MicroBatch = micro }));
        }
        Assert.True(ActivationBytes(settings with { MicroBatch = 1 }) * 16 < ActivationBytes(settings), "one row's activations are not a small part of 32 rows'");
    }

    [Fact]
    public void A_negative_micro_batch_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => (Small(TrainingMethod.Gta) with { MicroBatch = -1 }).Validate());
        Assert.Contains("micro-batch", error.Message);
    }
}
