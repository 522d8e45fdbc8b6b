using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Gta;

public class GrpoLossTests
{
    private static (float[] Coefficients, GrpoStats Stats) Run(bool[] counted, float[] logp, float[] old, float[] reference,
        float[] advantages, int rows, float beta, LossAggregation aggregation)
    {
        var coefficients = new float[counted.Length];
        var stats = GrpoLoss.Coefficients(rows, counted.Length / rows, counted, logp, old, reference, advantages, 0.2f, 0.2f, beta, aggregation, coefficients);
        return (coefficients, stats);
    }

    [Fact]
    public void Coefficients_follow_the_clipped_ratio_and_the_k3_kl_by_hand()
    {
        // One sequence, four counted tokens, A = +1 (tokens 0,1) then a second sequence with A = −1 (tokens 2,3).
        bool[] counted = [true, true, true, true];
        float ln13 = MathF.Log(1.3f), ln07 = MathF.Log(0.7f), ln11 = MathF.Log(1.1f);
        float[] old = [-1f, -1f, -2f, -2f];
        float[] logp = [-1f + ln13, -1f + ln11, -2f + ln07, -2f + ln11];
        float[] reference = [-1.5f, -1f, -2f, -1f];
        float[] advantages = [1f, -1f];
        var (c, stats) = Run(counted, logp, old, reference, advantages, rows: 2, beta: 0.1f, LossAggregation.TokenMean);
        double w = 1.0 / 4;
        double Kl(double r, double l) => Math.Exp(r - l) - (r - l) - 1;
        double KlGrad(double r, double l) => Math.Exp(r - l) - 1;
        // token 0: A>0, ratio 1.3 > 1.2 → clipped, no policy gradient; only the KL term.
        Assert.Equal(w * 0.1 * KlGrad(reference[0], logp[0]), c[0], 6);
        // token 1: A<0 (row 1 has tokens 2,3 — token 1 belongs to row 0: A=+1), ratio 1.1 inside → A·ratio.
        Assert.Equal(w * (1.0 * 1.1 + 0.1 * KlGrad(reference[1], logp[1])), c[1], 5);
        // token 2: A<0, ratio 0.7 < 0.8 → clipped, no policy gradient.
        Assert.Equal(w * 0.1 * KlGrad(reference[2], logp[2]), c[2], 6);
        // token 3: A<0, ratio 1.1 → unclipped (for A<0 only ratios below 1−ε are clipped).
        Assert.Equal(w * (-1.0 * 1.1 + 0.1 * KlGrad(reference[3], logp[3])), c[3], 5);
        double expectedLoss = w * (-(1.2 * 1) - 1.1 * 1 - (0.8 * -1) - (1.1 * -1))
            + w * 0.1 * (Kl(reference[0], logp[0]) + Kl(reference[1], logp[1]) + Kl(reference[2], logp[2]) + Kl(reference[3], logp[3]));
        Assert.Equal(expectedLoss, stats.Loss, 5);
        Assert.Equal(0.5f, stats.ClipFraction);
        Assert.True(Kl(-1.0, -1.0) == 0 && Kl(0.3, -0.2) > 0, "k3 is zero at equality and positive otherwise");
    }

    [Fact]
    public void Coefficients_are_the_negative_derivative_of_the_loss()
    {
        var rng = new Common.Rng(5);
        int rows = 3, T = 5;
        var counted = new bool[rows * T];
        var logp = new float[rows * T];
        var old = new float[rows * T];
        var reference = new float[rows * T];
        for (int i = 0; i < counted.Length; i++)
        {
            counted[i] = rng.NextDouble() < 0.7;
            old[i] = (float)(-1 - rng.NextDouble());
            logp[i] = old[i] + (float)(0.3 * (rng.NextDouble() - 0.5));
            reference[i] = old[i] + (float)(0.5 * (rng.NextDouble() - 0.5));
        }
        float[] advantages = [1.2f, -0.7f, 0.4f];
        foreach (var aggregation in new[] { LossAggregation.TokenMean, LossAggregation.SequenceMean })
        {
            var (c, _) = Run(counted, logp, old, reference, advantages, rows, 0.05f, aggregation);
            for (int i = 0; i < counted.Length; i++)
            {
                if (!counted[i]) { Assert.Equal(0f, c[i]); continue; }
                const float h = 1e-3f;
                var plus = (float[])logp.Clone(); plus[i] += h;
                var minus = (float[])logp.Clone(); minus[i] -= h;
                double lp = Run(counted, plus, old, reference, advantages, rows, 0.05f, aggregation).Stats.Loss;
                double lm = Run(counted, minus, old, reference, advantages, rows, 0.05f, aggregation).Stats.Loss;
                Assert.Equal(-(lp - lm) / (2 * h), c[i], 2);
            }
        }
    }

    [Fact]
    public void Token_mean_weighs_tokens_equally_and_sequence_mean_weighs_sequences_equally()
    {
        // Row 0 has one counted token, row 1 has three; all ratios 1, A = 1 for both.
        bool[] counted = [true, false, false, true, true, true];
        var zeros = new float[6];
        float[] advantages = [1f, 1f];
        var (tokenMean, _) = Run(counted, zeros, zeros, zeros, advantages, 2, 0, LossAggregation.TokenMean);
        var (sequenceMean, _) = Run(counted, zeros, zeros, zeros, advantages, 2, 0, LossAggregation.SequenceMean);
        Assert.Equal(0.25f, tokenMean[0], 6);
        Assert.Equal(0.25f, tokenMean[3], 6);
        Assert.Equal(0.5f, sequenceMean[0], 6);
        Assert.Equal(1f / 6, sequenceMean[3], 6);
    }
}
