using System.Text.Json.Serialization;

namespace GtaIlgpu.Gta;

/// <summary>
/// How the per-token losses of one RL batch are summed, with TRL's names (GRPOConfig.loss_type). B is
/// the number of sequences in the batch, |o_i| the counted tokens of sequence i, L the maximum completion
/// length. GTA normalises over the whole rollout batch (one process; --micro-batch splits only the
/// forward/backward and keeps the whole batch's normalisers, unlike TRL's bnpo under gradient accumulation),
/// so bnpo's "local batch" and dapo's "global batch" are the same tokens here and give the same loss.
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
        var batch = GrpoBatch.Of(rows, T, counted);
        var sums = new GrpoSums();
        Coefficients(batch, 0, rows, counted, logp, logpOld, logpRef, advantages, objective, coefficients, ref sums, entropies, entropyThreshold);
        return sums.Stats(batch);
    }

    /// <summary>
    /// The coefficients of rows [<paramref name="firstRow"/>, firstRow + <paramref name="rowCount"/>) of a batch
    /// (one micro-batch), with the whole batch's normalisers from <paramref name="batch"/>: a row's coefficients
    /// depend only on that row and on B and the batch's counted tokens, so the micro-batches of one batch, taken
    /// in row order into one <paramref name="sums"/>, give the whole batch's coefficients and statistics to the bit.
    /// Spans are the whole batch's, indexed r·T + t.
    /// </summary>
    public static void Coefficients(GrpoBatch batch, int firstRow, int rowCount, ReadOnlySpan<bool> counted, ReadOnlySpan<float> logp,
        ReadOnlySpan<float> logpOld, ReadOnlySpan<float> logpRef, ReadOnlySpan<float> advantages, GrpoObjective objective,
        Span<float> coefficients, ref GrpoSums sums, ReadOnlySpan<float> entropies = default, float entropyThreshold = float.NegativeInfinity)
    {
        int rows = batch.Rows, T = batch.Sequence, n = rows * T;
        float beta = objective.Beta;
        if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > rows)
            throw new ArgumentOutOfRangeException(nameof(firstRow), $"grpo loss: rows [{firstRow}, {firstRow + rowCount}) outside a batch of {rows}");
        if (counted.Length < n || logp.Length < n || logpOld.Length < n || coefficients.Length < n || advantages.Length < rows)
            throw new ArgumentException("grpo loss: arrays are shorter than rows·T");
        if (beta != 0 && logpRef.Length < n) throw new ArgumentException("grpo loss: reference log-probabilities are needed when beta ≠ 0");
        bool masked = entropyThreshold > float.NegativeInfinity;
        if ((masked || !entropies.IsEmpty) && entropies.Length < n) throw new ArgumentException("grpo loss: entropies are shorter than rows·T");
        if (objective.LossType == GrpoLossType.DrGrpo && objective.MaxCompletionLength <= 0)
            throw new ArgumentException("grpo loss: dr_grpo needs the maximum completion length");
        coefficients.Slice(firstRow * T, rowCount * T).Clear();
        int total = batch.CountedTokens;
        if (total == 0) return;

        for (int r = firstRow; r < firstRow + rowCount; r++)
        {
            int rowTokens = 0;
            for (int t = 0; t < T; t++) if (counted[r * T + t]) rowTokens++;
            if (rowTokens == 0) continue;
            double w = objective.LossType switch
            {
                GrpoLossType.Grpo => 1.0 / (rows * (double)rowTokens),
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
                if (clipActive && ratio < 1) sums.ClippedLow++;
                else if (clipActive) sums.ClippedHigh++;
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
                sums.Loss += w * (-surrogate + beta * tokenKl);
                sums.Kl += tokenKl;
                sums.Ratio += ratio;
                if (!entropies.IsEmpty) sums.Entropy += entropies[i];
                coefficients[i] = (float)(w * c);
            }
        }
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

/// <summary>
/// What the loss-type normalisers need of a whole RL batch, known from its mask before any forward pass:
/// B (grpo, dr_grpo) and the counted tokens (bnpo, dapo, and every token-mean statistic).
/// </summary>
public readonly record struct GrpoBatch(int Rows, int Sequence, int CountedTokens)
{
    public static GrpoBatch Of(int rows, int T, ReadOnlySpan<bool> counted)
    {
        if (counted.Length < rows * T) throw new ArgumentException("grpo loss: the mask is shorter than rows·T");
        int total = 0;
        for (int i = 0; i < rows * T; i++) if (counted[i]) total++;
        return new GrpoBatch(rows, T, total);
    }
}

/// <summary>Running sums of one RL batch's statistics over its micro-batches (in double; the counts exactly).</summary>
public struct GrpoSums
{
    public double Loss, Kl, Ratio, Entropy;
    public int ClippedLow, ClippedHigh;

    /// <summary>The batch's token means; an empty batch has loss 0 and ratio 1.</summary>
    public readonly GrpoStats Stats(GrpoBatch batch)
    {
        int total = batch.CountedTokens;
        if (total == 0) return new GrpoStats(0, 0, 0, 0, 1, 0, 0);
        return new GrpoStats((float)Loss, (float)(Kl / total), (float)ClippedLow / total, (float)ClippedHigh / total,
            (float)(Ratio / total), (float)(Entropy / total), total);
    }
}
