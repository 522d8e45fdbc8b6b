namespace GtaIlgpu.Gta;

public enum LossAggregation
{
    /// <summary>Every counted token weighs the same across the batch (DAPO/TRL "token" style).</summary>
    TokenMean,
    /// <summary>Mean over sequences of each sequence's token mean (the original GRPO form).</summary>
    SequenceMean,
}

/// <summary>What one evaluation of the clipped surrogate measured.</summary>
public readonly record struct GrpoStats(float Loss, float MeanKl, float ClipFraction, float MeanRatio, int Tokens);

/// <summary>
/// The GRPO objective on sampled tokens, reduced to one coefficient per token for the fused
/// log-likelihood kernel. Per counted token t of sequence i with advantage A_i:
///   ratio = exp(logp − logp_old)
///   L_t   = −min(ratio·A, clip(ratio, 1−ε_low, 1+ε_high)·A) + β·KL_t,
///   KL_t  = exp(ref − logp) − (ref − logp) − 1   (the k3 estimator, ≥ 0)
/// and the loss is Σ w_t·L_t with w_t from the aggregation. The kernel writes the gradient of
/// −Σ c_t·logp_t, so c_t = −∂L/∂logp_t = w_t·(A·ratio·[unclipped] + β·(exp(ref − logp) − 1)).
/// </summary>
public static class GrpoLoss
{
    /// <param name="rows">Sequences in the batch; row r owns positions [r·T, (r+1)·T).</param>
    /// <param name="counted">Whether a position's target takes part (RL mask).</param>
    /// <param name="coefficients">Output, one per position (0 where not counted).</param>
    public static GrpoStats Coefficients(int rows, int T, ReadOnlySpan<bool> counted, ReadOnlySpan<float> logp,
        ReadOnlySpan<float> logpOld, ReadOnlySpan<float> logpRef, ReadOnlySpan<float> advantages,
        float clipLow, float clipHigh, float beta, LossAggregation aggregation, Span<float> coefficients)
    {
        int n = rows * T;
        if (counted.Length < n || logp.Length < n || logpOld.Length < n || coefficients.Length < n || advantages.Length < rows)
            throw new ArgumentException("grpo loss: arrays are shorter than rows·T");
        if (beta != 0 && logpRef.Length < n) throw new ArgumentException("grpo loss: reference log-probabilities are needed when beta ≠ 0");
        int total = 0, rowsWithTokens = 0;
        for (int r = 0; r < rows; r++)
        {
            int c = 0;
            for (int t = 0; t < T; t++) if (counted[r * T + t]) c++;
            total += c;
            if (c > 0) rowsWithTokens++;
        }
        coefficients[..n].Clear();
        if (total == 0) return new GrpoStats(0, 0, 0, 1, 0);

        double loss = 0, kl = 0, ratioSum = 0;
        int clipped = 0;
        for (int r = 0; r < rows; r++)
        {
            int rowCount = 0;
            for (int t = 0; t < T; t++) if (counted[r * T + t]) rowCount++;
            if (rowCount == 0) continue;
            double w = aggregation == LossAggregation.TokenMean ? 1.0 / total : 1.0 / (rowsWithTokens * (double)rowCount);
            double a = advantages[r];
            for (int t = 0; t < T; t++)
            {
                int i = r * T + t;
                if (!counted[i]) continue;
                double ratio = Math.Exp((double)logp[i] - logpOld[i]);
                double clippedRatio = Math.Clamp(ratio, 1 - clipLow, 1 + clipHigh);
                double unclippedTerm = ratio * a, clippedTerm = clippedRatio * a;
                // min(·) takes the clipped branch (zero gradient) exactly when clipping makes the objective smaller.
                bool clipActive = clippedTerm < unclippedTerm;
                double surrogate = clipActive ? clippedTerm : unclippedTerm;
                double c = clipActive ? 0 : a * ratio;
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
                if (ratio < 1 - clipLow || ratio > 1 + clipHigh) clipped++;
                coefficients[i] = (float)(w * c);
            }
        }
        return new GrpoStats((float)loss, (float)(kl / total), (float)clipped / total, (float)(ratioSum / total), total);
    }
}
