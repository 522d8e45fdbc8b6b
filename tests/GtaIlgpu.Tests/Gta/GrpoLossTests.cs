using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Gta;

public class GrpoLossTests
{
    private static (float[] Coefficients, GrpoStats Stats) Run(bool[] counted, float[] logp, float[] old, float[] reference,
        float[] advantages, int rows, float beta, GrpoLossType lossType, float epsilonLow = 0.2f, float epsilonHigh = 0.2f,
        int maxCompletion = 0, float[]? entropies = null, float threshold = float.NegativeInfinity)
    {
        var coefficients = new float[counted.Length];
        var stats = GrpoLoss.Coefficients(rows, counted.Length / rows, counted, logp, old, reference, advantages,
            new GrpoObjective(epsilonLow, epsilonHigh, beta, lossType, maxCompletion), coefficients, entropies, threshold);
        return (coefficients, stats);
    }

    private static double Kl(double r, double l) => Math.Exp(r - l) - (r - l) - 1;
    private static double KlGrad(double r, double l) => Math.Exp(r - l) - 1;

    [Fact]
    public void Coefficients_follow_the_clipped_ratio_and_the_k3_kl_by_hand()
    {
        // Row 0 (A = +1): tokens 0, 1; row 1 (A = −1): tokens 2, 3.
        bool[] counted = [true, true, true, true];
        float ln13 = MathF.Log(1.3f), ln07 = MathF.Log(0.7f), ln11 = MathF.Log(1.1f);
        float[] old = [-1f, -1f, -2f, -2f];
        float[] logp = [-1f + ln13, -1f + ln11, -2f + ln07, -2f + ln11];
        float[] reference = [-1.5f, -1f, -2f, -1f];
        float[] advantages = [1f, -1f];
        var (c, stats) = Run(counted, logp, old, reference, advantages, rows: 2, beta: 0.1f, GrpoLossType.Dapo);
        double w = 1.0 / 4;
        // token 0: A>0, ratio 1.3 > 1.2 → clipped, no policy gradient; only the KL term.
        Assert.Equal(w * 0.1 * KlGrad(reference[0], logp[0]), c[0], 6);
        // token 1: A>0, ratio 1.1 inside → A·ratio.
        Assert.Equal(w * (1.0 * 1.1 + 0.1 * KlGrad(reference[1], logp[1])), c[1], 5);
        // token 2: A<0, ratio 0.7 < 0.8 → clipped, no policy gradient.
        Assert.Equal(w * 0.1 * KlGrad(reference[2], logp[2]), c[2], 6);
        // token 3: A<0, ratio 1.1 → unclipped (for A<0 only ratios below 1−ε are clipped).
        Assert.Equal(w * (-1.0 * 1.1 + 0.1 * KlGrad(reference[3], logp[3])), c[3], 5);
        double expectedLoss = w * (-(1.2 * 1) - 1.1 * 1 - (0.8 * -1) - (1.1 * -1))
            + w * 0.1 * (Kl(reference[0], logp[0]) + Kl(reference[1], logp[1]) + Kl(reference[2], logp[2]) + Kl(reference[3], logp[3]));
        Assert.Equal(expectedLoss, stats.Loss, 5);
        Assert.Equal(0.25f, stats.ClipLowFraction);
        Assert.Equal(0.25f, stats.ClipHighFraction);
        Assert.Equal(0.5f, stats.ClipRegionFraction);
        Assert.True(Kl(-1.0, -1.0) == 0 && Kl(0.3, -0.2) > 0, "k3 is zero at equality and positive otherwise");
    }

    [Fact]
    public void Asymmetric_bounds_clip_below_at_one_minus_epsilon_low_and_above_at_one_plus_epsilon_high()
    {
        // ε_low = 0.1, ε_high = 0.3: the band is [0.9, 1.3]. Four rows of one token each.
        // A>0 with ratio 1.2: inside (clipped only if the bounds were swapped: 1.2 > 1.1).
        // A<0 with ratio 0.85: below 0.9 → clipped low (with swapped bounds 0.85 > 0.7 would be inside).
        // A>0 with ratio 0.5: outside the band but the min keeps the unclipped term: NOT an active clip.
        // A<0 with ratio 1.4: outside above, min keeps the unclipped term: NOT an active clip.
        bool[] counted = [true, true, true, true];
        float[] old = [0f, 0f, 0f, 0f];
        float[] logp = [MathF.Log(1.2f), MathF.Log(0.85f), MathF.Log(0.5f), MathF.Log(1.4f)];
        float[] advantages = [2f, -1f, 1f, -1f];
        var (c, stats) = Run(counted, logp, old, old, advantages, rows: 4, beta: 0, GrpoLossType.Dapo, epsilonLow: 0.1f, epsilonHigh: 0.3f);
        Assert.Equal(0.25 * 2 * 1.2, c[0], 5);
        Assert.Equal(0f, c[1]);
        Assert.Equal(0.25 * 1 * 0.5, c[2], 5);
        Assert.Equal(0.25 * -1 * 1.4, c[3], 5);
        Assert.Equal(0.25f, stats.ClipLowFraction);   // only token 1
        Assert.Equal(0f, stats.ClipHighFraction);     // token 0 is inside [0.9, 1.3]; token 3's clip is inactive
        Assert.Equal(0.25f, stats.ClipRegionFraction);
        double loss = 0.25 * (-(2 * 1.2) - (0.9 * -1) - (1 * 0.5) - (-1 * 1.4));
        Assert.Equal(loss, stats.Loss, 5);
    }

    [Fact]
    public void Coefficients_are_the_negative_derivative_of_the_loss_for_every_loss_type_and_the_entropy_mask()
    {
        var rng = new Common.Rng(5);
        int rows = 3, T = 5;
        var counted = new bool[rows * T];
        var logp = new float[rows * T];
        var old = new float[rows * T];
        var reference = new float[rows * T];
        var entropies = new float[rows * T];
        for (int i = 0; i < counted.Length; i++)
        {
            counted[i] = rng.NextDouble() < 0.7;
            old[i] = (float)(-1 - rng.NextDouble());
            logp[i] = old[i] + (float)(0.3 * (rng.NextDouble() - 0.5));
            reference[i] = old[i] + (float)(0.5 * (rng.NextDouble() - 0.5));
            entropies[i] = (float)rng.NextDouble();
        }
        float[] advantages = [1.2f, -0.7f, 0.4f];
        foreach (var lossType in Enum.GetValues<GrpoLossType>())
            foreach (float threshold in new[] { float.NegativeInfinity, 0.5f })
            {
                var (c, _) = Run(counted, logp, old, reference, advantages, rows, 0.05f, lossType, 0.1f, 0.15f, 7, entropies, threshold);
                for (int i = 0; i < counted.Length; i++)
                {
                    if (!counted[i]) { Assert.Equal(0f, c[i]); continue; }
                    const float h = 1e-3f;
                    var plus = (float[])logp.Clone(); plus[i] += h;
                    var minus = (float[])logp.Clone(); minus[i] -= h;
                    double lp = Run(counted, plus, old, reference, advantages, rows, 0.05f, lossType, 0.1f, 0.15f, 7, entropies, threshold).Stats.Loss;
                    double lm = Run(counted, minus, old, reference, advantages, rows, 0.05f, lossType, 0.1f, 0.15f, 7, entropies, threshold).Stats.Loss;
                    Assert.Equal(-(lp - lm) / (2 * h), c[i], 2);
                }
            }
    }

    [Fact]
    public void Loss_types_weigh_tokens_as_trl_defines_them()
    {
        // Row 0 has one counted token, row 1 three, row 2 none (e.g. a masked truncated completion);
        // all ratios 1, A = 1 for rows 0 and 1: c_t = w_t.
        bool[] counted = [true, false, false, true, true, true, false, false, false];
        var zeros = new float[9];
        float[] advantages = [1f, 1f, 1f];
        float Weight(GrpoLossType type, int position) => Run(counted, zeros, zeros, zeros, advantages, 3, 0, type, maxCompletion: 24).Coefficients[position];
        // grpo: mean over the B = 3 sequences (the empty one included, as TRL's .mean()) of per-sequence token means.
        Assert.Equal(1f / 3, Weight(GrpoLossType.Grpo, 0), 6);
        Assert.Equal(1f / 9, Weight(GrpoLossType.Grpo, 3), 6);
        // bnpo and dapo: token sum over the 4 counted tokens of the batch.
        foreach (var type in new[] { GrpoLossType.Bnpo, GrpoLossType.Dapo })
        {
            Assert.Equal(0.25f, Weight(type, 0), 6);
            Assert.Equal(0.25f, Weight(type, 3), 6);
        }
        // dr_grpo: token sum over B · max_completion_length = 3 · 24.
        Assert.Equal(1f / 72, Weight(GrpoLossType.DrGrpo, 0), 6);
        Assert.Equal(1f / 72, Weight(GrpoLossType.DrGrpo, 5), 6);
    }

    [Fact]
    public void The_entropy_mask_keeps_only_the_kl_term_on_low_entropy_tokens()
    {
        bool[] counted = [true, true, true, true, false];
        float[] entropies = [0.1f, 0.9f, 0.5f, 0.3f, 5f];
        var scratch = new float[5];
        // ρ = 0.5 over the four counted entropies {0.1, 0.3, 0.5, 0.9}: the 0.5 quantile interpolates 0.3 and 0.5 → 0.4.
        float threshold = GrpoLoss.EntropyThreshold(counted, entropies, 0.5f, scratch);
        Assert.Equal(0.4f, threshold, 6);
        Assert.Equal(float.NegativeInfinity, GrpoLoss.EntropyThreshold(counted, entropies, 1f, scratch));
        // ρ = 0.25: the 0.75 quantile, position 2.25 → 0.5 + 0.25·(0.9 − 0.5) = 0.6.
        Assert.Equal(0.6f, GrpoLoss.EntropyThreshold(counted, entropies, 0.25f, scratch), 6);

        float[] logp = [-1f, -1f, -1f, -1f, -1f];
        float[] reference = [-0.5f, -0.5f, -0.5f, -0.5f, -0.5f];
        var (c, stats) = Run(counted, logp, logp, reference, [2f], 1, 0.1f, GrpoLossType.Dapo, entropies: entropies, threshold: threshold);
        double kl = 0.1 * KlGrad(-0.5, -1), w = 0.25;
        Assert.Equal(w * kl, c[0], 6);           // below the threshold: KL only
        Assert.Equal(w * (2 + kl), c[1], 6);     // above: A·ratio + KL
        Assert.Equal(w * (2 + kl), c[2], 6);
        Assert.Equal(w * kl, c[3], 6);
        Assert.Equal(0f, c[4]);
        Assert.Equal((0.1f + 0.9f + 0.5f + 0.3f) / 4, stats.MeanEntropy, 6);
    }
}
