using System.Runtime.Intrinsics;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>Span kernels of the Llama-family ops: RMSNorm segments, rotate-half rotary, SwiGLU.</summary>
internal static partial class CpuSimd
{
    // ---- RMSNorm segments ----------------------------------------------------------------------
    /// <summary>o = (x·rstd)·w with rstd = 1/√(mean(x²) + eps), in that order (Hugging Face's float32 LlamaRMSNorm); returns rstd.</summary>
    public static float RmsNormalize(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> o)
    {
        int n = x.Length;
        float rstd = 1f / MathF.Sqrt(Dot(x, x) / n + eps);
        var rv = Vector256.Create(rstd);
        int i = 0;
        for (; i <= n - W; i += W) Store(o, i, Load(x, i) * rv * Load(w, i));
        for (; i < n; i++) o[i] = x[i] * rstd * w[i];
        return rstd;
    }

    /// <summary>
    /// One segment of the RMSNorm backward: with x̂ = x·rstd, dx += rstd·(w·dy − x̂·mean(w·dy·x̂)); dw += x̂·dy.
    /// </summary>
    public static void RmsNormBackwardSegment(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, float rstd, Span<float> dx, Span<float> dw)
    {
        var rv = Vector256.Create(rstd);
        int n = x.Length, i = 0;
        var s0 = Vector256<float>.Zero; var s1 = s0;
        for (; i <= n - 2 * W; i += 2 * W)
        {
            s0 = Fma(Load(w, i) * Load(dy, i), Load(x, i) * rv, s0);
            s1 = Fma(Load(w, i + W) * Load(dy, i + W), Load(x, i + W) * rv, s1);
        }
        for (; i <= n - W; i += W) s0 = Fma(Load(w, i) * Load(dy, i), Load(x, i) * rv, s0);
        float sum = Vector256.Sum(s0 + s1);
        for (; i < n; i++) sum += w[i] * dy[i] * (x[i] * rstd);
        float meanDn = sum / n;
        var mv = Vector256.Create(meanDn);
        for (i = 0; i <= n - W; i += W)
        {
            var g = Load(dy, i);
            var norm = Load(x, i) * rv;
            Store(dw, i, Fma(norm, g, Load(dw, i)));
            Store(dx, i, Fma(rv, Load(w, i) * g - norm * mv, Load(dx, i)));
        }
        for (; i < n; i++)
        {
            float norm = x[i] * rstd;
            dw[i] += norm * dy[i];
            dx[i] += rstd * (w[i] * dy[i] - norm * meanDn);
        }
    }

    // ---- rotary ---------------------------------------------------------------------------------
    /// <summary>Turns the pairs (lo[i], hi[i]): lo' = lo·cos − hi·sin, hi' = hi·cos + lo·sin (sin carries the direction).</summary>
    public static void RotatePairs(Span<float> lo, Span<float> hi, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int n = lo.Length, i = 0;
        for (; i <= n - W; i += W)
        {
            var a = Load(lo, i); var b = Load(hi, i); var c = Load(cos, i); var s = Load(sin, i);
            Store(lo, i, a * c - b * s);
            Store(hi, i, b * c + a * s);
        }
        for (; i < n; i++)
        {
            float a = lo[i], b = hi[i];
            lo[i] = a * cos[i] - b * sin[i];
            hi[i] = b * cos[i] + a * sin[i];
        }
    }

    // ---- SwiGLU ---------------------------------------------------------------------------------
    /// <summary>o = silu(g)·u, silu(g) = g/(1 + e^−g).</summary>
    public static void SwiGluForward(ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> o)
    {
        var one = Vector256<float>.One;
        int n = g.Length, i = 0;
        for (; i <= n - W; i += W)
        {
            var gv = Load(g, i);
            Store(o, i, gv / (one + Vector256.Exp(-gv)) * Load(u, i));
        }
        for (; i < n; i++) o[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
    }

    /// <summary>With σ = 1/(1 + e^−g): dg += dy·u·σ·(1 + g·(1 − σ)); du += dy·g·σ.</summary>
    public static void SwiGluBackward(ReadOnlySpan<float> g, ReadOnlySpan<float> u, ReadOnlySpan<float> dy, Span<float> dg, Span<float> du)
    {
        var one = Vector256<float>.One;
        int n = g.Length, i = 0;
        for (; i <= n - W; i += W)
        {
            var gv = Load(g, i); var d = Load(dy, i);
            var sigma = one / (one + Vector256.Exp(-gv));
            var silu = gv * sigma;
            Store(du, i, Fma(d, silu, Load(du, i)));
            Store(dg, i, Fma(d * Load(u, i), sigma * Fma(gv, one - sigma, one), Load(dg, i)));
        }
        for (; i < n; i++)
        {
            float gi = g[i], sigma = 1f / (1f + MathF.Exp(-gi));
            du[i] += dy[i] * gi * sigma;
            dg[i] += dy[i] * u[i] * (sigma * (1f + gi * (1f - sigma)));
        }
    }
}
