using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Reference;

/// <summary>The Llama-family ops in the scalar reference: RMSNorm (rows and Qwen3's per-head q/k), rotary, SwiGLU.</summary>
public sealed partial class ReferenceOps
{
    // ---- RMSNorm ----------------------------------------------------------------------------------

    public void RmsNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, int N, int C, float eps)
    {
        var o = output.Span(); var rs = rstd.Span(); var x = input.Span(); var w = weight.Span();
        for (int n = 0; n < N; n++)
            rs[n] = RmsNormSegment(o.Slice(n * C, C), x.Slice(n * C, C), w, eps);
    }

    public void RmsNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> rstd, int N, int C)
    {
        var dx = dinput.Span(); var dw = dweight.Span(); var dy = doutput.Span(); var x = input.Span(); var w = weight.Span(); var rs = rstd.Span();
        var dwAcc = new double[C];
        for (int n = 0; n < N; n++)
            RmsNormSegmentBackward(dx.Slice(n * C, C), dwAcc, dy.Slice(n * C, C), x.Slice(n * C, C), w, rs[n]);
        for (int c = 0; c < C; c++) dw[c] += (float)dwAcc[c];
    }

    public void QkNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, int N, int NH, int NKV, int hs, float eps)
    {
        var o = output.Span(); var rs = rstd.Span(); var x = qkv.Span(); var wq = qWeight.Span(); var wk = kWeight.Span();
        int width = (NH + 2 * NKV) * hs, heads = NH + NKV;
        for (int n = 0; n < N; n++)
        {
            for (int h = 0; h < heads; h++)
            {
                int offset = n * width + h * hs;
                rs[n * heads + h] = RmsNormSegment(o.Slice(offset, hs), x.Slice(offset, hs), h < NH ? wq : wk, eps);
            }
            for (int c = heads * hs; c < width; c++) o[n * width + c] = x[n * width + c];
        }
    }

    public void QkNormBackward(BufferView<float> dqkv, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> qkv,
        BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, int N, int NH, int NKV, int hs)
    {
        var dx = dqkv.Span(); var dwq = dqWeight.Span(); var dwk = dkWeight.Span(); var dy = doutput.Span(); var x = qkv.Span();
        var wq = qWeight.Span(); var wk = kWeight.Span(); var rs = rstd.Span();
        int width = (NH + 2 * NKV) * hs, heads = NH + NKV;
        var dqAcc = new double[hs];
        var dkAcc = new double[hs];
        for (int n = 0; n < N; n++)
        {
            for (int h = 0; h < heads; h++)
            {
                int offset = n * width + h * hs;
                RmsNormSegmentBackward(dx.Slice(offset, hs), h < NH ? dqAcc : dkAcc, dy.Slice(offset, hs), x.Slice(offset, hs), h < NH ? wq : wk, rs[n * heads + h]);
            }
            for (int c = heads * hs; c < width; c++) dx[n * width + c] += dy[n * width + c];
        }
        for (int i = 0; i < hs; i++) { dwq[i] += (float)dqAcc[i]; dwk[i] += (float)dkAcc[i]; }
    }

    /// <summary>o = (x·rstd)·w over one segment, rstd = 1/√(mean(x²) + eps), all in double; returns rstd.</summary>
    private static float RmsNormSegment(Span<float> o, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps)
    {
        int C = x.Length;
        double squares = 0;
        for (int c = 0; c < C; c++) squares += (double)x[c] * x[c];
        double r = 1.0 / Math.Sqrt(squares / C + eps);
        for (int c = 0; c < C; c++) o[c] = (float)(x[c] * r * w[c]);
        return (float)r;
    }

    /// <summary>
    /// With x̂ = x·rstd and y = x̂·w: dx += rstd·(w·dy − x̂·mean(w·dy·x̂)) (rstd depends on every x), dw += x̂·dy.
    /// </summary>
    private static void RmsNormSegmentBackward(Span<float> dx, double[] dwAcc, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float rstd)
    {
        int C = x.Length;
        double meanDn = 0;
        for (int c = 0; c < C; c++) meanDn += (double)w[c] * dy[c] * (x[c] * (double)rstd);
        meanDn /= C;
        for (int c = 0; c < C; c++)
        {
            double norm = x[c] * (double)rstd;
            dwAcc[c] += norm * dy[c];
            dx[c] += (float)(rstd * ((double)w[c] * dy[c] - norm * meanDn));
        }
    }

    // ---- rotary -----------------------------------------------------------------------------------

    public void RotaryForward(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate(qkv, positions, invFreq, N, NH, NKV, hs, direction: 1);

    public void RotaryBackward(BufferView<float> dqkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate(dqkv, positions, invFreq, N, NH, NKV, hs, direction: -1);

    /// <summary>Turns each (i, i + hs/2) pair of every q and k head by direction·θ, θ = (float)position·invFreq[i] in float, cos and sin in double.</summary>
    private static void Rotate(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs, int direction)
    {
        var x = qkv.Span(); var pos = positions.Span(); var f = invFreq.Span();
        int width = (NH + 2 * NKV) * hs, half = hs / 2;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < half; i++)
            {
                float theta = (float)pos[n] * f[i];
                double cos = Math.Cos(theta), sin = direction * Math.Sin(theta);
                for (int h = 0; h < NH + NKV; h++)
                {
                    int lo = n * width + h * hs + i, hi = lo + half;
                    double a = x[lo], b = x[hi];
                    x[lo] = (float)(a * cos - b * sin);
                    x[hi] = (float)(b * cos + a * sin);
                }
            }
    }

    // ---- SwiGLU -----------------------------------------------------------------------------------

    public void SwiGluForward(BufferView<float> output, BufferView<float> gateUp, int N, int I)
    {
        var o = output.Span(); var gu = gateUp.Span();
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++)
            {
                double g = gu[n * 2 * I + i], u = gu[n * 2 * I + I + i];
                o[n * I + i] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
    }

    /// <summary>silu'(g) = σ(g)·(1 + g·(1 − σ(g))): dgate += dy·u·silu'(g), dup += dy·silu(g).</summary>
    public void SwiGluBackward(BufferView<float> dgateUp, BufferView<float> doutput, BufferView<float> gateUp, int N, int I)
    {
        var d = dgateUp.Span(); var dy = doutput.Span(); var gu = gateUp.Span();
        for (int n = 0; n < N; n++)
            for (int i = 0; i < I; i++)
            {
                int gi = n * 2 * I + i, ui = gi + I;
                double g = gu[gi], u = gu[ui], sigma = 1 / (1 + Math.Exp(-g)), grad = dy[n * I + i];
                d[gi] += (float)(grad * u * sigma * (1 + g * (1 - sigma)));
                d[ui] += (float)(grad * g * sigma);
            }
    }
}
