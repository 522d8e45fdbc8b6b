using GtaIlgpu.Backends;

namespace GtaIlgpu.Gta;

public enum ConstraintKind
{
    /// <summary>The paper's rule: when cos(g_sft, g_rl) &lt; 0 use g_rl alone, else λ1·g_sft + λ2·g_rl.</summary>
    Gate,
    /// <summary>PCGrad: on conflict remove from g_sft its component along g_rl, then λ1·g_sft' + λ2·g_rl.</summary>
    PCGrad,
    /// <summary>Plain weighted sum λ1·g_sft + λ2·g_rl.</summary>
    None,
}

public readonly record struct ConstraintResult(float Cosine, bool SftDropped, float SftNorm, float RlNorm);

/// <summary>
/// Combines the SFT and RL gradients over ALL parameters at once: two flat buffers, three flat
/// reductions (dot and both norms) and one flat linear combination, whatever the backend.
/// </summary>
public static class GradientConstraint
{
    /// <summary>Writes the combined gradient into <paramref name="sftAndResult"/> (which holds g_sft on entry).</summary>
    public static ConstraintResult Apply(IOps ops, BufferView<float> sftAndResult, BufferView<float> rl, ConstraintKind kind, float lambda1, float lambda2)
    {
        if (sftAndResult.Length != rl.Length) throw new ArgumentException("gradient constraint: the two gradients differ in length");
        double dot = ops.Dot(sftAndResult, rl);
        double sftSq = ops.SumOfSquares(sftAndResult), rlSq = ops.SumOfSquares(rl);
        double sftNorm = Math.Sqrt(sftSq), rlNorm = Math.Sqrt(rlSq);
        float cosine = sftNorm > 0 && rlNorm > 0 ? (float)(dot / (sftNorm * rlNorm)) : 0f;
        bool conflict = dot < 0 && sftNorm > 0 && rlNorm > 0;
        switch (kind)
        {
            case ConstraintKind.Gate when conflict:
                ops.LinearCombination(sftAndResult, 0f, sftAndResult, lambda2, rl);
                return new ConstraintResult(cosine, true, (float)sftNorm, (float)rlNorm);
            case ConstraintKind.PCGrad when conflict:
                // λ1·(g_s − (g_s·g_r/|g_r|²)·g_r) + λ2·g_r, folded into one pass.
                ops.LinearCombination(sftAndResult, lambda1, sftAndResult, (float)(lambda2 - lambda1 * dot / rlSq), rl);
                return new ConstraintResult(cosine, false, (float)sftNorm, (float)rlNorm);
            default:
                ops.LinearCombination(sftAndResult, lambda1, sftAndResult, lambda2, rl);
                return new ConstraintResult(cosine, false, (float)sftNorm, (float)rlNorm);
        }
    }
}
