using System.Text.Json.Serialization;

namespace GtaIlgpu.Gta;

/// <summary>
/// How the per-token losses of one RL batch are summed, with TRL's names (GRPOConfig.loss_type). B is
/// the number of sequences in the batch, |o_i| the counted tokens of sequence i, L the maximum completion
/// length. GTA updates on the whole rollout batch at once (one process, no gradient accumulation), so
/// bnpo's "local batch" and dapo's "global batch" are the same tokens here and give the same loss.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<GrpoLossType>))]
public enum GrpoLossType
{
    /// <summary>Mean over the B sequences of each sequence's token mean (the original GRPO; length-biased).</summary>
    [JsonStringEnumMemberName("grpo")] Grpo,
    /// <summary>Token sum over the batch divided by its number of counted tokens.</summary>
    [JsonStringEnumMemberName("bnpo")] Bnpo,
    /// <summary>Token sum divided by the constant B·L (Dr. GRPO: no length bias).</summary>
    [JsonStringEnumMemberName("dr_grpo")] DrGrpo,
    /// <summary>Token sum divided by the counted tokens of the global batch (DAPO; TRL's current default).</summary>
    [JsonStringEnumMemberName("dapo")] Dapo,
}

/// <summary>The knobs of the clipped surrogate: ε_low, ε_high (clip-higher), β, the aggregation and L for dr_grpo.</summary>
public readonly record struct GrpoObjective(float EpsilonLow, float EpsilonHigh, float Beta, GrpoLossType LossType, int MaxCompletionLength);

/// <summary>
/// What one evaluation of the clipped surrogate measured, as token means over the counted tokens. The clip
/// fractions count ACTIVE clips only, as TRL's clip_ratio does: low where ratio &lt; 1 − ε_low and A &lt; 0,
/// high where ratio &gt; 1 + ε_high and A &gt; 0 (a ratio outside the band on the other side of A is not
/// clipped by the min and still gets its gradient). They are disjoint, so the region fraction is their sum.
/// </summary>
public readonly record struct GrpoStats(float Loss, float MeanKl, float ClipLowFraction, float ClipHighFraction, float MeanRatio,
    float MeanEntropy, int Tokens)
{
    public float ClipRegionFraction => ClipLowFraction + ClipHighFraction;
}

/// <summary>
/// The GRPO objective on sampled tokens, reduced to one coefficient per token for the fused
/// log-likelihood kernel. Per counted token t of sequence i with advantage A_i:
///   ratio = exp(logp − logp_old)
///   L_t   = −m_t·min(ratio·A, clip(ratio, 1−ε_low, 1+ε_high)·A) + β·KL_t,
///   KL_t  = exp(ref − logp) − (ref − logp) − 1   (the k3 estimator, ≥ 0)
/// where m_t is the entropy mask (1 unless --top-entropy-quantile keeps only the high-entropy tokens in
/// the policy term; the KL term keeps every token, as in TRL), and the loss is Σ w_t·L_t with w_t from
/// the loss type. The kernel writes the gradient of −Σ c_t·logp_t, so
/// c_t = −∂L/∂logp_t = w_t·(m_t·A·ratio·[unclipped] + β·(exp(ref − logp) − 1)).
/// The log-probabilities are all taken at the sampling temperature; the kernel applies the 1/τ of the chain rule.
/// </summary>
public static class GrpoLoss
{
    /// <param name="rows">Sequences in the batch (B); row r owns positions [r·T, (r+1)·T).</param>
    /// <param name="counted">Whether a position's target takes part (RL mask).</param>
    /// <param name="coefficients">Output, one per position (0 where not counted).</param>
    /// <param name="entropies">The policy's entropy per position; needed when <paramref name="entropyThreshold"/> is finite, and for the entropy statistic.</param>
    /// <param name="entropyThreshold">Counted tokens whose entropy is below it get no policy-gradient term (see <see cref="EntropyThreshold"/>).</param>
    public static GrpoStats Coefficients(int rows, int T, ReadOnlySpan<bool> counted, ReadOnlySpan<float> logp,
        ReadOnlySpan<float> logpOld, ReadOnlySpan<float> logpRef, ReadOnlySpan<float> advantages, GrpoObjective objective,
        Span<float> coefficients, ReadOnlySpan<float> entropies = default, float entropyThreshold = float.NegativeInfinity)
    {
        int n = rows * T;
        float beta = objective.Beta;
        if (counted.Length < n || logp.Length < n || logpOld.Length < n || coefficients.Length < n || advantages.Length < rows)
            throw new ArgumentException("grpo loss: arrays are shorter than rows·T");
        if (beta != 0 && logpRef.Length < n) throw new ArgumentException("grpo loss: reference log-probabilities are needed when beta ≠ 0");
        bool masked = entropyThreshold > float.NegativeInfinity;
        if ((masked || !entropies.IsEmpty) && entropies.Length < n) throw new ArgumentException("grpo loss: entropies are shorter than rows·T");
        if (objective.LossType == GrpoLossType.DrGrpo && objective.MaxCompletionLength <= 0)
            throw new ArgumentException("grpo loss: dr_grpo needs the maximum completion length");
        int total = 0;
        for (int i = 0; i < n; i++) if (counted[i]) total++;
        coefficients[..n].Clear();
        if (total == 0) return new GrpoStats(0, 0, 0, 0, 1, 0, 0);

        double loss = 0, kl = 0, ratioSum = 0, entropySum = 0;
        int clippedLow = 0, clippedHigh = 0;
        for (int r = 0; r < rows; r++)
        {
            int rowCount = 0;
            for (int t = 0; t < T; t++) if (counted[r * T + t]) rowCount++;
            if (rowCount == 0) continue;
            double w = objective.LossType switch
            {
                GrpoLossType.Grpo => 1.0 / (rows * (double)rowCount),
                GrpoLossType.DrGrpo => 1.0 / (rows * (double)objective.MaxCompletionLength),
                _ => 1.0 / total,
            };
            double a = advantages[r];
            for (int t = 0; t < T; t++)
            {
                int i = r * T + t;
                if (!counted[i]) continue;
                double ratio = Math.Exp((double)logp[i] - logpOld[i]);
                double clippedRatio = Math.Clamp(ratio, 1 - objective.EpsilonLow, 1 + objective.EpsilonHigh);
                double unclippedTerm = ratio * a, clippedTerm = clippedRatio * a;
                // min(·) takes the clipped branch (zero gradient) exactly when clipping makes the objective smaller.
                bool clipActive = clippedTerm < unclippedTerm;
                if (clipActive && ratio < 1) clippedLow++;
                else if (clipActive) clippedHigh++;
                bool policyTerm = !masked || entropies[i] >= entropyThreshold;
                double surrogate = !policyTerm ? 0 : clipActive ? clippedTerm : unclippedTerm;
                double c = !policyTerm || clipActive ? 0 : a * ratio;
                double tokenKl = 0;
                if (beta != 0)
                {
                    double d = (double)logpRef[i] - logp[i];
                    double e = Math.Exp(d);
                    tokenKl = e - d - 1;
                    c += beta * (e - 1);
                }
                loss += w * (-surrogate + beta * tokenKl);
                kl += tokenKl;
                ratioSum += ratio;
                if (!entropies.IsEmpty) entropySum += entropies[i];
                coefficients[i] = (float)(w * c);
            }
        }
        return new GrpoStats((float)loss, (float)(kl / total), (float)clippedLow / total, (float)clippedHigh / total,
            (float)(ratioSum / total), (float)(entropySum / total), total);
    }

    /// <summary>
    /// The entropy at the (1 − ρ) quantile of the counted tokens' entropies (linear interpolation between
    /// order statistics, as torch.quantile), so that tokens at or above it — the top ρ by entropy — keep
    /// their policy-gradient term (TRL's top_entropy_quantile). ρ ≥ 1 keeps every token: −∞.
    /// <paramref name="scratch"/> holds at least as many values as there are counted tokens (no allocation).
    /// </summary>
    public static float EntropyThreshold(ReadOnlySpan<bool> counted, ReadOnlySpan<float> entropies, float topQuantile, Span<float> scratch)
    {
        if (!(topQuantile > 0 && topQuantile <= 1)) throw new ArgumentOutOfRangeException(nameof(topQuantile), topQuantile, "top entropy quantile must be in (0, 1]");
        if (topQuantile >= 1) return float.NegativeInfinity;
        int count = 0;
        for (int i = 0; i < counted.Length; i++) if (counted[i]) scratch[count++] = entropies[i];
        if (count == 0) return float.NegativeInfinity;
        var values = scratch[..count];
        values.Sort();
        double position = (1 - (double)topQuantile) * (count - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, count - 1);
        return (float)(values[below] + (position - below) * (values[above] - values[below]));
    }
}
