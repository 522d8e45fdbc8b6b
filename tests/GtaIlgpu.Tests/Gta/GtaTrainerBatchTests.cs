using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// The batches GtaTrainer builds itself, seen through its inspection hook: which tokens each loss
/// trains, and the RL coefficients recomputed by hand from the trainer's own log-probabilities.
/// </summary>
public class GtaTrainerBatchTests
{
    private static (DatasetSplits Data, CpuBackend Backend, Transformer Model, PromptFormat Format) TinyBase(int window = 64, int primeSteps = 20)
    {
        var data = GtaEndToEndTests.SyntheticSentiment(40, 4, 11);
        var backend = new CpuBackend();
        var baseSettings = new BaseSettings { Layers = 1, Channels = 16, Heads = 2, MaxSequence = window, PretrainSteps = 2, PrimeSteps = primeSteps, Batch = 8, LearningRate = 3e-3f, Seed = 3, MaxCompletionTokens = 8 };
        var (model, format) = BaseModelBuilder.Build(backend, data, baseSettings, taskName: "sentiment");
        return (data, backend, model, format);
    }

    private static GtaSettings Small => new()
    {
        Steps = 3, PromptsPerStep = 2, Generations = 4, SftPrompts = 8, Mu = 1, MaxCompletionTokens = 8,
        Beta = 0.01f, Constraint = ConstraintKind.None, LearningRate = 1e-3f, WarmupSteps = 1, Seed = 4,
    };

    [Fact]
    public void Rl_and_sft_batches_of_the_same_shape_do_not_share_a_workspace()
    {
        var (data, backend, model, format) = TinyBase();
        using (backend) using (model)
        {
            // P·G = 8 rollouts and 8 SFT rows, both padded to the same 16-multiple: one shape for both batches.
            var settings = Small;
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

    /// <summary>The guess span as DESIGN §4 and PromptFormat.GuessSpan define it, written out again here.</summary>
    private static (int Start, int End) ExpectedGuessSpan(int[] completion, PromptFormat format, IReadOnlySet<int> specials)
    {
        int open = Array.IndexOf(completion, format.GuessOpenId);
        if (open < 0) return (0, 0);
        for (int i = open + 1; i < completion.Length; i++)
        {
            if (completion[i] == format.GuessCloseId) return (open, i + 1);
            if (specials.Contains(completion[i])) return (open, i);
        }
        return (open, completion.Length);
    }

    private static HashSet<int> Specials(PromptFormat format) =>
        [.. CompletionTags.All.Concat([CompletionTags.EndOfText]).Select(t => format.Encode(t).Single())];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_trainers_rl_batch_trains_think_and_answer_tokens_and_never_the_guess(bool maskTruncated)
    {
        var (data, backend, model, format) = TinyBase();
        using (backend) using (model)
        {
            var specials = Specials(format);
            using var trainer = new GtaTrainer(model, format, data.Train, Small with { Mu = 2, MaskTruncatedCompletions = maskTruncated, MaxCompletionTokens = 6 });
            int guessTokens = 0, trainedTokens = 0, truncatedRows = 0, inspected = 0;
            trainer.Inspect = batch =>
            {
                if (batch.Kind != BatchKind.Rl) return;
                inspected++;
                var w = batch.Batch;
                for (int r = 0; r < batch.Completions.Length; r++)
                {
                    int[] p = batch.Prompts[r], c = batch.Completions[r];
                    var span = ExpectedGuessSpan(c, format, specials);
                    bool truncated = !c.Contains(format.EndOfText);
                    if (truncated) truncatedRows++;
                    for (int j = 0; j < c.Length; j++)
                    {
                        int position = r * w.Sequence + p.Length + j - 1;
                        bool inGuess = j >= span.Start && j < span.End;
                        bool expected = !inGuess && !(maskTruncated && truncated);
                        Assert.True(expected == w.Counted[position], $"row {r}, completion token {j} ({(inGuess ? "guess" : "think/answer")}{(truncated ? ", truncated" : "")}): counted {w.Counted[position]}");
                        Assert.True(!w.Counted[position] || w.HostTargets[position] == c[j], $"row {r}, token {j}: the target is not the sampled token");
                        if (!w.Counted[position]) Assert.Equal(0f, w.Coefficients[position]);
                        if (inGuess) guessTokens++;
                        else if (expected) trainedTokens++;
                    }
                    // Nothing of the prompt is trained by RL.
                    for (int t = 0; t < p.Length - 1; t++) Assert.False(w.Counted[r * w.Sequence + t]);
                }
            };
            for (int s = 0; s < 2; s++) trainer.Step();
            Assert.Equal(4, inspected);
            Assert.True(guessTokens > 0 && trainedTokens > 0, $"the rollouts must hold guesses ({guessTokens}) and trained tokens ({trainedTokens}) for this test to mean anything");
            if (maskTruncated) Assert.True(truncatedRows > 0, "no rollout was truncated: the mask was not exercised");
        }
    }

    [Fact]
    public void The_trainers_sft_batch_targets_exactly_a_guess_and_nothing_else()
    {
        var (data, backend, model, format) = TinyBase();
        using (backend) using (model)
        {
            var guesses = data.Labels.Select(format.Guess).ToList();
            using var trainer = new GtaTrainer(model, format, data.Train, Small with { Mu = 2 });
            int rows = 0;
            trainer.Inspect = batch =>
            {
                if (batch.Kind != BatchKind.Sft) return;
                var w = batch.Batch;
                for (int r = 0; r < w.Rows; r++)
                {
                    var targets = Enumerable.Range(r * w.Sequence, w.Sequence).Where(i => w.Counted[i]).Select(i => w.HostTargets[i]).ToArray();
                    Assert.Contains(guesses, g => g.SequenceEqual(targets));
                    rows++;
                }
                Assert.Equal(w.Counted.Count(x => x), Enumerable.Range(0, w.HostTargets.Length).Count(i => w.HostTargets[i] >= 0));
            };
            trainer.Step();
            Assert.Equal(2 * 8, rows);
        }
    }

    /// <summary>log softmax(logits/τ) at each counted position, in double, from the model's own logits: independent of the fused op.</summary>
    private static double[] LogProbsAt(Transformer model, BatchWorkspace like, float temperature)
    {
        using var w = new BatchWorkspace(model.Backend, model.Config, like.Rows, like.Sequence);
        like.HostInputs.CopyTo(w.HostInputs, 0);
        model.Backend.Upload(w.Inputs.View, w.HostInputs);
        w.Acts.UseAllHeadRows();
        model.Forward(w.Acts, w.Inputs.View);
        var logits = model.Backend.ToArray(w.Acts.Logits);
        int V = model.Config.VocabSize;
        var result = new double[like.Counted.Length];
        for (int i = 0; i < result.Length; i++)
        {
            if (!like.Counted[i]) continue;
            double max = double.NegativeInfinity, sum = 0;
            for (int v = 0; v < V; v++) max = Math.Max(max, logits[i * V + v] / temperature);
            for (int v = 0; v < V; v++) sum += Math.Exp(logits[i * V + v] / temperature - max);
            result[i] = logits[i * V + like.HostTargets[i]] / temperature - max - Math.Log(sum);
        }
        return result;
    }

    private static Transformer Snapshot(Transformer model)
    {
        var copy = new Transformer(model.Backend, model.Config);
        model.Backend.Ops.Copy(copy.Parameters.View, model.Parameters.View);
        return copy;
    }

    [Fact]
    public void Rl_coefficients_are_the_clipped_surrogate_and_kl_of_the_trainers_own_log_probs_at_the_sampling_temperature()
    {
        var (data, backend, model, format) = TinyBase(window: 80, primeSteps: 300); // a base that closes its answers, so rewards differ within groups
        using (backend) using (model)
        {
            // Unequal clip bounds: some ratios of the later updates move by more than ε_low and less than
            // ε_high, so swapping the two bounds changes which tokens are clipped (counted below).
            const float tau = 0.7f, beta = 0.05f, low = 0.05f, high = 0.35f;
            var settings = Small with { Mu = 3, PromptsPerStep = 4, Generations = 8, MaxCompletionTokens = 20, Temperature = tau, Beta = beta, ClipEpsilonLow = low, ClipEpsilonHigh = high, LearningRate = 3e-3f };
            using var reference = Snapshot(model); // the frozen KL reference is the policy as the stage starts
            using var trainer = new GtaTrainer(model, format, data.Train, settings);
            Transformer? beforeStep = null;
            var losses = new List<double>();
            var kls = new List<double>();
            int checkedUpdates = 0;
            double refGap = 0, temperatureGap = 0;
            int tellSwappedBoundsApart = 0;

            trainer.Inspect = batch =>
            {
                if (batch.Kind != BatchKind.Rl) return;
                var w = batch.Batch;
                int n = w.Rows * w.Sequence;
                if (batch.Update == 0)
                {
                    // The old log-probs are the policy's before any update, at τ: the sampler's own distribution,
                    // so the first update's ratio is exactly 1; temperature-1 log-probs would not give 1.
                    var sampler = LogProbsAt(beforeStep!, w, tau);
                    var plain = LogProbsAt(beforeStep!, w, 1f);
                    var frozen = LogProbsAt(reference, w, tau);
                    for (int i = 0; i < n; i++)
                    {
                        if (!w.Counted[i]) continue;
                        Assert.Equal(w.LogProbsOld[i], w.LogProbs[i]);
                        Assert.True(Math.Abs(sampler[i] - w.LogProbsOld[i]) < 2e-4, $"old log-prob {w.LogProbsOld[i]} is not the sampler's {sampler[i]} at position {i}");
                        Assert.True(Math.Abs(frozen[i] - w.LogProbsRef[i]) < 2e-4, $"reference log-prob {w.LogProbsRef[i]} is not the frozen base's {frozen[i]} at position {i}");
                        temperatureGap = Math.Max(temperatureGap, Math.Abs(plain[i] - w.LogProbsOld[i]));
                        refGap = Math.Max(refGap, Math.Abs(w.LogProbsRef[i] - w.LogProbsOld[i]));
                    }
                }
                // c_t recomputed by hand: w·(A·ratio·[clip inactive] + β·(exp(ref − logp) − 1)), dapo weights.
                int total = w.Counted.Count(x => x);
                double loss = 0, kl = 0;
                for (int i = 0; i < n; i++)
                {
                    if (!w.Counted[i]) { Assert.Equal(0f, w.Coefficients[i]); continue; }
                    double a = batch.Advantages[i / w.Sequence];
                    double ratio = Math.Exp((double)w.LogProbs[i] - w.LogProbsOld[i]);
                    if (batch.Update == 0) Assert.Equal(1.0, ratio);
                    bool clipped = (a > 0 && ratio > 1 + high) || (a < 0 && ratio < 1 - low);
                    bool clippedIfSwapped = (a > 0 && ratio > 1 + low) || (a < 0 && ratio < 1 - high);
                    if (clipped != clippedIfSwapped) tellSwappedBoundsApart++;
                    double d = (double)w.LogProbsRef[i] - w.LogProbs[i];
                    double expected = (clipped ? 0 : a * ratio) + beta * (Math.Exp(d) - 1);
                    Assert.True(Math.Abs(expected / total - w.Coefficients[i]) <= 1e-6 + 1e-4 * Math.Abs(expected / total),
                        $"update {batch.Update}, position {i}: coefficient {w.Coefficients[i]}, by hand {expected / total}");
                    double surrogate = a * (clipped ? Math.Clamp(ratio, 1 - low, 1 + high) : ratio);
                    double tokenKl = Math.Exp(d) - d - 1;
                    loss += (-surrogate + beta * tokenKl) / total;
                    kl += tokenKl / total;
                }
                losses.Add(loss);
                kls.Add(kl);
                checkedUpdates++;
            };
            for (int s = 0; s < 2; s++)
            {
                beforeStep?.Dispose();
                beforeStep = Snapshot(model);
                losses.Clear(); kls.Clear();
                var m = trainer.Step();
                // Metrics are the means over the μ updates, not the last update's.
                Assert.Equal(losses.Average(), m.RlLoss, 4);
                Assert.Equal(kls.Average(), m.Kl, 4);
            }
            beforeStep?.Dispose();
            Assert.Equal(6, checkedUpdates);
            Assert.True(temperatureGap > 1e-2, $"temperature-1 log-probs differ from the sampler's by only {temperatureGap}: the test cannot tell them apart");
            Assert.True(refGap > 1e-4, $"the policy never left the reference ({refGap}): the KL gradient was not exercised");
            Assert.True(tellSwappedBoundsApart > 0, "no token's clipping depends on which bound is which: the bounds were not exercised");
        }
    }

    [Fact]
    public void Metrics_follow_trl_meanings_and_average_over_the_updates()
    {
        var (data, backend, model, format) = TinyBase();
        using (backend) using (model)
        {
            using var trainer = new GtaTrainer(model, format, data.Train, Small with { Mu = 4, Constraint = ConstraintKind.Gate });
            double tokens = 0;
            trainer.Inspect = batch =>
            {
                if (batch.Kind == BatchKind.Rl && batch.Update == 0)
                    tokens += batch.Prompts.Zip(batch.Completions, (p, c) => p.Length + c.Length).Sum();
            };
            for (int s = 0; s < 2; s++)
            {
                var m = trainer.Step();
                Assert.Equal(m.FormatRewardMean + m.AccuracyRewardMean, m.Reward, 5);
                Assert.Equal(tokens, m.NumTokens); // cumulative, prompt + completion
                Assert.True(m.CompletionsMinLength <= m.CompletionsMeanLength && m.CompletionsMeanLength <= m.CompletionsMaxLength);
                Assert.InRange(m.CompletionsMaxLength, 1, 8);
                Assert.Equal(m.ClipRatioLowMean + m.ClipRatioHighMean, m.ClipRatioRegionMean, 6);
                Assert.True(m.Entropy > 0, $"entropy {m.Entropy}");
                // The gate's drop is a fraction of the 4 updates.
                Assert.Equal(Math.Round(m.GateDroppedSft * 4), m.GateDroppedSft * 4, 5);
                Assert.True(m.GradNormSft > 0 && m.GradNormRl > 0, $"grad norms {m.GradNormSft}, {m.GradNormRl}");
            }
        }
    }
}
