using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using GtaIlgpu.Common;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Span kernels over <see cref="Vector256{T}"/> shared by the CPU ops. Eight float lanes: AVX2 on x64
/// (the machines we run on have no AVX-512, and 256-bit vectors avoid its frequency drop where they
/// do), NEON pairs on arm64. Reductions use four independent accumulators to hide add latency and
/// fold long rows block by block into a double, so a 50k-wide softmax sum stays accurate. Callers
/// guarantee the lengths; loads are unchecked. Every routine is a fixed sequence of operations for a
/// given length, so results are bit-identical run to run.
/// </summary>
internal static partial class CpuSimd
{
    private const int W = 8; // Vector256<float>.Count

    /// <summary>Elements folded in float before the partial sum moves to a double.</summary>
    private const int Block = 1024;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load(ReadOnlySpan<float> s, int i) =>
        Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Span<float> s, int i, Vector256<float> v) =>
        v.StoreUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.MultiplyAddEstimate(a, b, c);

    public static float Sum(ReadOnlySpan<float> x)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int i = 0, n = x.Length;
        for (; i <= n - 4 * W; i += 4 * W)
        {
            a0 += Load(x, i); a1 += Load(x, i + W); a2 += Load(x, i + 2 * W); a3 += Load(x, i + 3 * W);
        }
        for (; i <= n - W; i += W) a0 += Load(x, i);
        float s = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) s += x[i];
        return s;
    }

    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int i = 0, n = x.Length;
        for (; i <= n - 4 * W; i += 4 * W)
        {
            a0 = Fma(Load(x, i), Load(y, i), a0);
            a1 = Fma(Load(x, i + W), Load(y, i + W), a1);
            a2 = Fma(Load(x, i + 2 * W), Load(y, i + 2 * W), a2);
            a3 = Fma(Load(x, i + 3 * W), Load(y, i + 3 * W), a3);
        }
        for (; i <= n - W; i += W) a0 = Fma(Load(x, i), Load(y, i), a0);
        float s = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>Σ x·y accumulated in float per block of 1024 and in double across blocks.</summary>
    public static double DotLong(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double total = 0;
        for (int i = 0; i < x.Length; i += Block)
        {
            int len = Math.Min(Block, x.Length - i);
            total += Dot(x.Slice(i, len), y.Slice(i, len));
        }
        return total;
    }

    /// <summary>
    /// result[u] = x · rows[u·stride .. u·stride + x.Length) for u &lt; result.Length: the attention
    /// scores of one query against consecutive keys. Four rows per pass share the loads of x and
    /// amortise the horizontal sums, which dominate a single 64-wide dot.
    /// </summary>
    public static void StridedDots(ReadOnlySpan<float> x, ReadOnlySpan<float> rows, int stride, Span<float> result)
    {
        int n = x.Length, count = result.Length, u = 0;
        for (; u <= count - 4; u += 4)
        {
            int r0 = u * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
            var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            int i = 0;
            for (; i <= n - W; i += W)
            {
                var xv = Load(x, i);
                a0 = Fma(xv, Load(rows, r0 + i), a0);
                a1 = Fma(xv, Load(rows, r1 + i), a1);
                a2 = Fma(xv, Load(rows, r2 + i), a2);
                a3 = Fma(xv, Load(rows, r3 + i), a3);
            }
            float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
            for (; i < n; i++)
            {
                float xi = x[i];
                s0 += xi * rows[r0 + i]; s1 += xi * rows[r1 + i]; s2 += xi * rows[r2 + i]; s3 += xi * rows[r3 + i];
            }
            result[u] = s0; result[u + 1] = s1; result[u + 2] = s2; result[u + 3] = s3;
        }
        for (; u < count; u++) result[u] = Dot(x, rows.Slice(u * stride, n));
    }

    /// <summary>
    /// y += Σ_u coefficients[u]·rows[u·stride .. u·stride + y.Length): the attention output (or dq) as a
    /// weighted sum of consecutive value (or key) rows, four rows per pass over y.
    /// </summary>
    public static void StridedAxpys(ReadOnlySpan<float> coefficients, ReadOnlySpan<float> rows, int stride, Span<float> y)
    {
        int n = y.Length, count = coefficients.Length, u = 0;
        for (; u <= count - 4; u += 4)
        {
            int r0 = u * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
            float c0 = coefficients[u], c1 = coefficients[u + 1], c2 = coefficients[u + 2], c3 = coefficients[u + 3];
            var v0 = Vector256.Create(c0); var v1 = Vector256.Create(c1); var v2 = Vector256.Create(c2); var v3 = Vector256.Create(c3);
            int i = 0;
            for (; i <= n - W; i += W)
            {
                var acc = Fma(v0, Load(rows, r0 + i), Load(y, i));
                acc = Fma(v1, Load(rows, r1 + i), acc);
                acc = Fma(v2, Load(rows, r2 + i), acc);
                Store(y, i, Fma(v3, Load(rows, r3 + i), acc));
            }
            for (; i < n; i++) y[i] += c0 * rows[r0 + i] + c1 * rows[r1 + i] + c2 * rows[r2 + i] + c3 * rows[r3 + i];
        }
        for (; u < count; u++) Axpy(coefficients[u], rows.Slice(u * stride, n), y);
    }

    /// <summary>Σ (x − mean)², the second pass of a two-pass variance.</summary>
    public static float SumSquaredDeviation(ReadOnlySpan<float> x, float mean)
    {
        var m = Vector256.Create(mean);
        var a0 = Vector256<float>.Zero; var a1 = a0;
        int i = 0, n = x.Length;
        for (; i <= n - 2 * W; i += 2 * W)
        {
            var d0 = Load(x, i) - m; var d1 = Load(x, i + W) - m;
            a0 = Fma(d0, d0, a0); a1 = Fma(d1, d1, a1);
        }
        for (; i <= n - W; i += W) { var d = Load(x, i) - m; a0 = Fma(d, d, a0); }
        float s = Vector256.Sum(a0 + a1);
        for (; i < n; i++) { float d = x[i] - mean; s += d * d; }
        return s;
    }

    public static float Max(ReadOnlySpan<float> x)
    {
        int i = 0, n = x.Length;
        float best = float.NegativeInfinity;
        if (n >= W)
        {
            var a = Load(x, 0);
            for (i = W; i <= n - W; i += W) a = Vector256.Max(a, Load(x, i));
            for (int j = 0; j < W; j++) best = Math.Max(best, a.GetElement(j));
        }
        for (; i < n; i++) best = Math.Max(best, x[i]);
        return best;
    }

    /// <summary>Index of the largest value; the lowest index among ties.</summary>
    public static int ArgMax(ReadOnlySpan<float> x)
    {
        float best = Max(x);
        int index = x.IndexOf(best);
        return index >= 0 ? index : 0; // only when every value is NaN
    }

    /// <summary>y += a·x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        var av = Vector256.Create(a);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(y, i, Fma(av, Load(x, i), Load(y, i)));
        for (; i < n; i++) y[i] += a * x[i];
    }

    /// <summary>o = a + b.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> o)
    {
        int i = 0, n = a.Length;
        for (; i <= n - W; i += W) Store(o, i, Load(a, i) + Load(b, i));
        for (; i < n; i++) o[i] = a[i] + b[i];
    }

    /// <summary>d += s.</summary>
    public static void AddInPlace(Span<float> d, ReadOnlySpan<float> s) => Add(d, s, d);

    /// <summary>d += widen(s) for bfloat16 patterns s: the same float add as <see cref="AddInPlace"/> of the widened values.</summary>
    public static void AddBf16(Span<float> d, ReadOnlySpan<ushort> s)
    {
        int i = 0, n = s.Length;
        for (; i <= n - W; i += W)
            Store(d, i, Load(d, i) + BFloat16.Widen8(Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)i)));
        for (; i < n; i++) d[i] += BFloat16.ToFloat(s[i]);
    }

    /// <summary>o = s·x.</summary>
    public static void Scale(ReadOnlySpan<float> x, float s, Span<float> o)
    {
        var sv = Vector256.Create(s);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(o, i, Load(x, i) * sv);
        for (; i < n; i++) o[i] = x[i] * s;
    }

    /// <summary>x *= s.</summary>
    public static void Scale(Span<float> x, float s)
    {
        var sv = Vector256.Create(s);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(x, i, Load(x, i) * sv);
        for (; i < n; i++) x[i] *= s;
    }

    /// <summary>d = a·x + b·y; d may alias x or y.</summary>
    public static void LinearCombination(Span<float> d, float a, ReadOnlySpan<float> x, float b, ReadOnlySpan<float> y)
    {
        var av = Vector256.Create(a); var bv = Vector256.Create(b);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(d, i, Fma(av, Load(x, i), Load(y, i) * bv));
        for (; i < n; i++) d[i] = a * x[i] + b * y[i];
    }

    /// <summary>Σ exp(x − shift), without writing.</summary>
    public static double SumExp(ReadOnlySpan<float> x, float shift)
    {
        var sv = Vector256.Create(shift);
        double total = 0;
        int i = 0, n = x.Length;
        while (i <= n - W)
        {
            int end = Math.Min(n, i + Block) - W;
            var a0 = Vector256<float>.Zero; var a1 = a0;
            for (; i <= end - W; i += 2 * W)
            {
                a0 += Vector256.Exp(Load(x, i) - sv);
                a1 += Vector256.Exp(Load(x, i + W) - sv);
            }
            for (; i <= end; i += W) a0 += Vector256.Exp(Load(x, i) - sv);
            total += Vector256.Sum(a0 + a1);
        }
        for (; i < n; i++) total += MathF.Exp(x[i] - shift);
        return total;
    }

    /// <summary>
    /// Σ exp(x·scale − shift), and in <paramref name="weighted"/> Σ exp(u)·u with u = x·scale − shift: the
    /// softmax normaliser of x·scale and, in the same pass, what its entropy needs (H = log Σ − weighted/Σ).
    /// </summary>
    public static double SumExpScaled(ReadOnlySpan<float> x, float scale, float shift, out double weighted)
    {
        // The normaliser is accumulated exactly as SumExp does it (same blocks, same two accumulators), so
        // at scale 1 (x·1 is exact) it is SumExp's value bit for bit and asking for the entropy changes no log-probability.
        var sv = Vector256.Create(shift); var kv = Vector256.Create(scale);
        double total = 0, dot = 0;
        int i = 0, n = x.Length;
        while (i <= n - W)
        {
            int end = Math.Min(n, i + Block) - W;
            var a0 = Vector256<float>.Zero; var a1 = a0; var d = a0;
            for (; i <= end - W; i += 2 * W)
            {
                var u0 = Load(x, i) * kv - sv; var u1 = Load(x, i + W) * kv - sv;
                var e0 = Vector256.Exp(u0); var e1 = Vector256.Exp(u1);
                a0 += e0;
                a1 += e1;
                d += e0 * u0 + e1 * u1;
            }
            for (; i <= end; i += W)
            {
                var u = Load(x, i) * kv - sv;
                var e = Vector256.Exp(u);
                a0 += e;
                d += e * u;
            }
            total += Vector256.Sum(a0 + a1);
            dot += Vector256.Sum(d);
        }
        for (; i < n; i++)
        {
            float u = x[i] * scale - shift, e = MathF.Exp(u);
            total += e;
            dot += e * u;
        }
        weighted = dot;
        return total;
    }

    /// <summary>x = c·exp(x·scale − shift) in place (the softmax of x·scale times a coefficient).</summary>
    public static void ScaledExpInPlace(Span<float> x, float scale, float shift, float c)
    {
        var sv = Vector256.Create(shift); var kv = Vector256.Create(scale); var cv = Vector256.Create(c);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(x, i, cv * Vector256.Exp(Load(x, i) * kv - sv));
        for (; i < n; i++) x[i] = c * MathF.Exp(x[i] * scale - shift);
    }

    /// <summary>x = exp(x − shift) in place; returns Σ of the new values.</summary>
    public static double ExpInPlace(Span<float> x, float shift)
    {
        var sv = Vector256.Create(shift);
        double total = 0;
        int i = 0, n = x.Length;
        while (i <= n - W)
        {
            int end = Math.Min(n, i + Block) - W;
            var a0 = Vector256<float>.Zero;
            for (; i <= end; i += W)
            {
                var e = Vector256.Exp(Load(x, i) - sv);
                Store(x, i, e);
                a0 += e;
            }
            total += Vector256.Sum(a0);
        }
        for (; i < n; i++) { float e = MathF.Exp(x[i] - shift); x[i] = e; total += e; }
        return total;
    }

    /// <summary>x = scale·exp(x − shift) in place (softmax probabilities times a coefficient).</summary>
    public static void ScaledExpInPlace(Span<float> x, float shift, float scale)
    {
        var sv = Vector256.Create(shift); var cv = Vector256.Create(scale);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(x, i, cv * Vector256.Exp(Load(x, i) - sv));
        for (; i < n; i++) x[i] = scale * MathF.Exp(x[i] - shift);
    }

    // ---- layernorm rows ------------------------------------------------------------------------
    /// <summary>o = (x − mean)·rstd·w + b.</summary>
    public static void Normalize(ReadOnlySpan<float> x, float mean, float rstd, ReadOnlySpan<float> w, ReadOnlySpan<float> b, Span<float> o)
    {
        var mv = Vector256.Create(mean); var rv = Vector256.Create(rstd);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W) Store(o, i, Fma((Load(x, i) - mv) * rv, Load(w, i), Load(b, i)));
        for (; i < n; i++) o[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }

    /// <summary>
    /// One row of the layernorm backward: with norm = (x − mean)·rstd and dnorm = dy·w,
    /// dx += rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm)); dw += norm·dy; db += dy.
    /// </summary>
    public static void LayerNormBackwardRow(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, ReadOnlySpan<float> w, float mean, float rstd,
        Span<float> dx, Span<float> dw, Span<float> db)
    {
        var mv = Vector256.Create(mean); var rv = Vector256.Create(rstd);
        int n = x.Length;
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0;
        for (; i <= n - W; i += W)
        {
            var dn = Load(w, i) * Load(dy, i);
            s0 += dn;
            s1 = Fma(dn, (Load(x, i) - mv) * rv, s1);
        }
        float sumD = Vector256.Sum(s0), sumDn = Vector256.Sum(s1);
        for (; i < n; i++)
        {
            float dn = w[i] * dy[i];
            sumD += dn;
            sumDn += dn * (x[i] - mean) * rstd;
        }
        float meanD = sumD / n, meanDn = sumDn / n;
        var mdv = Vector256.Create(meanD); var mdnv = Vector256.Create(meanDn);
        for (i = 0; i <= n - W; i += W)
        {
            var g = Load(dy, i);
            var norm = (Load(x, i) - mv) * rv;
            Store(dw, i, Fma(norm, g, Load(dw, i)));
            Store(db, i, Load(db, i) + g);
            var inner = Load(w, i) * g - mdv - norm * mdnv;
            Store(dx, i, Fma(rv, inner, Load(dx, i)));
        }
        for (; i < n; i++)
        {
            float norm = (x[i] - mean) * rstd;
            dw[i] += norm * dy[i];
            db[i] += dy[i];
            dx[i] += rstd * (w[i] * dy[i] - meanD - norm * meanDn);
        }
    }

    // ---- AdamW ----------------------------------------------------------------------------------
    /// <summary>
    /// g = gradScale·grad; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
    /// p −= lr·((m/c1)/(√(v/c2) + eps) + wd·p), with c1, c2 the bias corrections.
    /// </summary>
    public static void AdamW(Span<float> p, ReadOnlySpan<float> grad, Span<float> m, Span<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, float correction1, float correction2)
    {
        var b1 = Vector256.Create(beta1); var b2 = Vector256.Create(beta2);
        var ob1 = Vector256.Create(1f - beta1); var ob2 = Vector256.Create(1f - beta2);
        var lrv = Vector256.Create(lr); var epsv = Vector256.Create(eps); var wd = Vector256.Create(weightDecay);
        var gs = Vector256.Create(gradScale); var c1 = Vector256.Create(correction1); var c2 = Vector256.Create(correction2);
        int i = 0, n = p.Length;
        for (; i <= n - W; i += W)
        {
            var g = Load(grad, i) * gs;
            var mi = Fma(b1, Load(m, i), ob1 * g);
            var vi = Fma(b2, Load(v, i), ob2 * g * g);
            Store(m, i, mi);
            Store(v, i, vi);
            var pi = Load(p, i);
            var update = mi / c1 / (Vector256.Sqrt(vi / c2) + epsv) + wd * pi;
            Store(p, i, pi - lrv * update);
        }
        for (; i < n; i++)
        {
            float g = grad[i] * gradScale;
            float mi = beta1 * m[i] + (1f - beta1) * g;
            float vi = beta2 * v[i] + (1f - beta2) * g * g;
            m[i] = mi;
            v[i] = vi;
            p[i] -= lr * (mi / correction1 / (MathF.Sqrt(vi / correction2) + eps) + weightDecay * p[i]);
        }
    }

    // ---- GELU (tanh approximation) ---------------------------------------------------------
    private const float GeluScale = 0.7978845608028654f; // √(2/π)
    private const float GeluCubic = 0.044715f;

    /// <summary>tanh(u) = 1 − 2/(e^{2u} + 1): exact limits ±1 when e^{2u} over- or underflows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Tanh(Vector256<float> u) =>
        Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(u + u) + Vector256<float>.One);

    private static float Tanh(float u) => 1f - 2f / (MathF.Exp(u + u) + 1f);

    public static void GeluForward(ReadOnlySpan<float> x, Span<float> o)
    {
        var s = Vector256.Create(GeluScale); var k = Vector256.Create(GeluCubic); var half = Vector256.Create(0.5f);
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W)
        {
            var v = Load(x, i);
            var th = Tanh(s * Fma(k * v * v, v, v));
            Store(o, i, half * v * (Vector256<float>.One + th));
        }
        for (; i < n; i++)
        {
            float v = x[i];
            o[i] = 0.5f * v * (1f + Tanh(GeluScale * (v + GeluCubic * v * v * v)));
        }
    }

    /// <summary>dx += gelu'(x)·dy.</summary>
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var s = Vector256.Create(GeluScale); var k = Vector256.Create(GeluCubic); var k3 = Vector256.Create(3f * GeluCubic);
        var half = Vector256.Create(0.5f); var one = Vector256<float>.One;
        int i = 0, n = x.Length;
        for (; i <= n - W; i += W)
        {
            var v = Load(x, i);
            var v2 = v * v;
            var th = Tanh(s * Fma(k * v2, v, v));
            var sech2 = one - th * th;
            var grad = Fma(half * v * sech2 * s, Fma(k3, v2, one), half * (one + th));
            Store(dx, i, Fma(grad, Load(dy, i), Load(dx, i)));
        }
        for (; i < n; i++)
        {
            float v = x[i];
            float th = Tanh(GeluScale * (v + GeluCubic * v * v * v));
            float grad = 0.5f * (1f + th) + 0.5f * v * (1f - th * th) * GeluScale * (1f + 3f * GeluCubic * v * v);
            dx[i] += grad * dy[i];
        }
    }
}
