using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Causal attention on the CPU. Forward: one work item per (b, h, t) query row; the att row itself is
/// the scratch for scores and probabilities. Backward: one item per (b, h), because row t writes dk and
/// dv of every earlier position; the datt row lives in the caller's scratch (B,NH,T,T). Decode: the
/// new k/v are stored first, then one item per (b, h) with an online (running max) softmax whose
/// accumulator is the output slice itself, so nothing else is needed.
/// </summary>
public sealed partial class CpuOps
{
    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int C, int NH)
    {
        const string op = "attention_forward";
        CheckAttention(op, B, T, C, NH);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * T * C);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * 3 * C);
        var kernel = new AttentionForwardKernel(new HostArray<float>(output), new HostArray<float>(att), new HostArray<float>(qkv), T, C, NH);
        CpuLoops.Rows(B * NH * T, (long)T * (C / NH), kernel);
    }

    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int C, int NH)
    {
        const string op = "attention_backward";
        CheckAttention(op, B, T, C, NH);
        OpShapes.AtLeast(op, "dqkv", dqkv.Length, (long)B * T * 3 * C);
        OpShapes.AtLeast(op, "scratch", scratch.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)B * T * C);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * 3 * C);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        var kernel = new AttentionBackwardKernel(new HostArray<float>(dqkv), new HostArray<float>(scratch), new HostArray<float>(doutput),
            new HostArray<float>(qkv), new HostArray<float>(att), T, C, NH);
        CpuLoops.Rows(B * NH, (long)T * T * (C / NH), kernel);
    }

    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int C, int maxT)
    {
        const string op = "kv_cache_store";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.Positive(op, "C", C);
        OpShapes.Positive(op, "maxT", maxT);
        if (T > maxT) throw new ArgumentException($"{op}: T={T} positions do not fit in a cache of maxT={maxT}");
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * 2 * C);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * 3 * C);
        CpuLoops.Rows(B * T, 2 * C, new KvCacheStoreKernel(new HostArray<float>(kvCache), new HostArray<float>(qkv), T, C, maxT));
    }

    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int C, int NH, int maxT)
    {
        const string op = "attention_decode";
        OpShapes.Positive(op, "B", B);
        OpShapes.HeadsDivide(op, C, NH);
        OpShapes.Positive(op, "maxT", maxT);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * C);
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * 2 * C);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * 3 * C);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        var pos = positions.Span();
        for (int b = 0; b < B; b++)
            if (pos[b] < 0 || pos[b] >= maxT)
                throw new ArgumentException($"{op}: position {pos[b]} of row {b} is outside the cache (maxT={maxT})");

        var cache = kvCache.Span();
        var q = qkv.Span();
        for (int b = 0; b < B; b++)
            q.Slice(b * 3 * C + C, 2 * C).CopyTo(cache.Slice((b * maxT + pos[b]) * 2 * C, 2 * C));
        var kernel = new AttentionDecodeKernel(new HostArray<float>(output), new HostArray<float>(kvCache), new HostArray<float>(qkv),
            new HostArray<int>(positions), C, NH, maxT);
        CpuLoops.Rows(B * NH, (long)maxT * (C / NH), kernel);
    }

    private static void CheckAttention(string op, int B, int T, int C, int NH)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.HeadsDivide(op, C, NH);
    }

    private readonly struct AttentionForwardKernel(HostArray<float> output, HostArray<float> att, HostArray<float> qkv, int T, int C, int NH) : IRowKernel
    {
        public void Run(int row)
        {
            // row = (b·NH + h)·T + t, which is also the index of the att row.
            int t = row % T, h = row / T % NH, b = row / T / NH;
            int hs = C / NH;
            float scale = 1f / MathF.Sqrt(hs);
            var q = qkv.Slice((b * T + t) * 3 * C + h * hs, hs);
            var a = att.Slice(row * T, T);
            var scores = a[..(t + 1)];
            // keys of positions 0..t for this head: rows 3C apart, starting at k of position 0
            int stride = 3 * C;
            var keys = qkv.Slice(b * T * stride + C + h * hs, t * stride + hs);
            CpuSimd.StridedDots(q, keys, stride, scores);
            CpuSimd.Scale(scores, scale);
            float max = CpuSimd.Max(scores);
            double sum = CpuSimd.ExpInPlace(scores, max);
            CpuSimd.Scale(scores, (float)(1.0 / sum));
            a[(t + 1)..].Clear();

            var o = output.Slice((b * T + t) * C + h * hs, hs);
            o.Clear();
            CpuSimd.StridedAxpys(scores, qkv.Slice(b * T * stride + 2 * C + h * hs, t * stride + hs), stride, o);
        }
    }

    private readonly struct AttentionBackwardKernel(HostArray<float> dqkv, HostArray<float> scratch, HostArray<float> doutput, HostArray<float> qkv, HostArray<float> att, int T, int C, int NH) : IRowKernel
    {
        public void Run(int bh)
        {
            int h = bh % NH, b = bh / NH;
            int hs = C / NH;
            float scale = 1f / MathF.Sqrt(hs);
            for (int t = 0; t < T; t++)
            {
                int aRow = (bh * T + t) * T;
                var a = att.Slice(aRow, t + 1);
                var dAtt = scratch.Slice(aRow, t + 1);
                var dy = doutput.Slice((b * T + t) * C + h * hs, hs);
                int stride = 3 * C, span = t * stride + hs;
                int kBase = b * T * stride + C + h * hs, vBase = kBase + C;
                // output = Σ_u att[u]·v[u]  →  datt[u] = dy·v[u], dv[u] += att[u]·dy
                CpuSimd.StridedDots(dy, qkv.Slice(vBase, span), stride, dAtt);
                for (int u = 0; u <= t; u++) CpuSimd.Axpy(a[u], dy, dqkv.Slice(vBase + u * stride, hs));
                // softmax backward: dscore[u] = att[u]·(datt[u] − Σ_j att[j]·datt[j]), kept in dAtt
                float dot = CpuSimd.Dot(a, dAtt);
                for (int u = 0; u <= t; u++) dAtt[u] = a[u] * (dAtt[u] - dot) * scale;
                int qOff = (b * T + t) * stride + h * hs;
                var q = qkv.Slice(qOff, hs);
                CpuSimd.StridedAxpys(dAtt, qkv.Slice(kBase, span), stride, dqkv.Slice(qOff, hs));
                for (int u = 0; u <= t; u++) CpuSimd.Axpy(dAtt[u], q, dqkv.Slice(kBase + u * stride, hs));
            }
        }
    }

    private readonly struct KvCacheStoreKernel(HostArray<float> kvCache, HostArray<float> qkv, int T, int C, int maxT) : IRowKernel
    {
        public void Run(int row)
        {
            int b = row / T, t = row % T;
            qkv.Slice(row * 3 * C + C, 2 * C).CopyTo(kvCache.Slice((b * maxT + t) * 2 * C, 2 * C));
        }
    }

    private readonly struct AttentionDecodeKernel(HostArray<float> output, HostArray<float> kvCache, HostArray<float> qkv, HostArray<int> positions, int C, int NH, int maxT) : IRowKernel
    {
        public void Run(int bh)
        {
            int h = bh % NH, b = bh / NH;
            int hs = C / NH;
            float scale = 1f / MathF.Sqrt(hs);
            int p = positions[b];
            var q = qkv.Slice(b * 3 * C + h * hs, hs);
            var o = output.Slice(b * C + h * hs, hs);
            o.Clear();
            // Online softmax: o holds Σ_u e^{s_u − max}·v_u for the running max, rescaled when it grows.
            float max = float.NegativeInfinity, sum = 0;
            for (int u = 0; u <= p; u++)
            {
                int row = (b * maxT + u) * 2 * C;
                float s = CpuSimd.Dot(q, kvCache.Slice(row + h * hs, hs)) * scale;
                if (s > max)
                {
                    float correction = MathF.Exp(max - s);
                    CpuSimd.Scale(o, correction);
                    sum *= correction;
                    max = s;
                }
                float weight = MathF.Exp(s - max);
                sum += weight;
                CpuSimd.Axpy(weight, kvCache.Slice(row + C + h * hs, hs), o);
            }
            CpuSimd.Scale(o, 1f / sum);
        }
    }
}
