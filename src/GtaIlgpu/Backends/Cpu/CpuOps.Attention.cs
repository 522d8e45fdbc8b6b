using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Causal grouped-query attention on the CPU: NH query heads over NKV key/value heads of size hs, qkv rows
/// of W = (NH+2·NKV)·hs holding [q | k | v], query head h reading key/value head h / (NH/NKV). GPT-2 is
/// NKV = NH. Forward: one work item per (b, h, t) query row; the att row itself is the scratch for scores
/// and probabilities. Backward: one item per (b, key/value head), because row t writes dk and dv of every
/// earlier position and every query head of the group writes the same dk/dv: the item runs its query heads
/// in order (for NKV = NH, one head: the per-(b, h) order). The datt row lives in the caller's scratch
/// (B,NH,T,T). Decode: the new k/v are stored first, then one item per (b, h) with an online (running max)
/// softmax whose accumulator is the output slice itself, so nothing else is needed.
/// </summary>
public sealed partial class CpuOps
{
    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs)
    {
        const string op = "attention_forward";
        int W = CheckAttention(op, B, T, NH, NKV, hs);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * T * NH * hs);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * W);
        var kernel = new AttentionForwardKernel(new HostArray<float>(output), new HostArray<float>(att), new HostArray<float>(qkv), T, NH, NKV, hs);
        CpuLoops.Rows(B * NH * T, (long)T * hs, kernel);
    }

    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int NH, int NKV, int hs)
    {
        const string op = "attention_backward";
        int W = CheckAttention(op, B, T, NH, NKV, hs);
        OpShapes.AtLeast(op, "dqkv", dqkv.Length, (long)B * T * W);
        OpShapes.AtLeast(op, "scratch", scratch.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)B * T * NH * hs);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * W);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        var kernel = new AttentionBackwardKernel(new HostArray<float>(dqkv), new HostArray<float>(scratch), new HostArray<float>(doutput),
            new HostArray<float>(qkv), new HostArray<float>(att), T, NH, NKV, hs);
        CpuLoops.Rows(B * NKV, (long)(NH / NKV) * T * T * hs, kernel);
    }

    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT)
    {
        const string op = "kv_cache_store";
        int W = CheckAttention(op, B, T, NH, NKV, hs);
        OpShapes.Positive(op, "maxT", maxT);
        if (T > maxT) throw new ArgumentException($"{op}: T={T} positions do not fit in a cache of maxT={maxT}");
        int kv2 = 2 * NKV * hs;
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * kv2);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * W);
        CpuLoops.Rows(B * T, kv2, new KvCacheStoreKernel(new HostArray<float>(kvCache), new HostArray<float>(qkv), T, NH, NKV, hs, maxT));
    }

    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int NH, int NKV, int hs, int maxT)
    {
        const string op = "attention_decode";
        int W = CheckAttention(op, B, 1, NH, NKV, hs);
        OpShapes.Positive(op, "maxT", maxT);
        int kv2 = 2 * NKV * hs;
        OpShapes.AtLeast(op, "output", output.Length, (long)B * NH * hs);
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * kv2);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * W);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        var pos = positions.Span();
        for (int b = 0; b < B; b++)
            if (pos[b] < 0 || pos[b] >= maxT)
                throw new ArgumentException($"{op}: position {pos[b]} of row {b} is outside the cache (maxT={maxT})");

        var cache = kvCache.Span();
        var q = qkv.Span();
        for (int b = 0; b < B; b++)
            q.Slice(b * W + NH * hs, kv2).CopyTo(cache.Slice((b * maxT + pos[b]) * kv2, kv2));
        var kernel = new AttentionDecodeKernel(new HostArray<float>(output), new HostArray<float>(kvCache), new HostArray<float>(qkv),
            new HostArray<int>(positions), NH, NKV, hs, maxT);
        CpuLoops.Rows(B * NH, (long)maxT * hs, kernel);
    }

    /// <summary>Checks the sizes and returns the qkv row width (NH+2·NKV)·hs.</summary>
    private static int CheckAttention(string op, int B, int T, int NH, int NKV, int hs)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        return OpShapes.AttentionHeads(op, NH, NKV, hs);
    }

    private readonly struct AttentionForwardKernel(HostArray<float> output, HostArray<float> att, HostArray<float> qkv, int T, int NH, int NKV, int hs) : IRowKernel
    {
        public void Run(int row)
        {
            // row = (b·NH + h)·T + t, which is also the index of the att row.
            int t = row % T, h = row / T % NH, b = row / T / NH;
            int kvh = h / (NH / NKV);
            int QC = NH * hs, KC = NKV * hs;
            float scale = 1f / MathF.Sqrt(hs);
            // qkv rows are `stride` apart
            int stride = QC + 2 * KC;
            var q = qkv.Slice((b * T + t) * stride + h * hs, hs);
            var a = att.Slice(row * T, T);
            var scores = a[..(t + 1)];
            // keys of positions 0..t for this key/value head, starting at k of position 0
            var keys = qkv.Slice(b * T * stride + QC + kvh * hs, t * stride + hs);
            CpuSimd.StridedDots(q, keys, stride, scores);
            CpuSimd.Scale(scores, scale);
            float max = CpuSimd.Max(scores);
            double sum = CpuSimd.ExpInPlace(scores, max);
            CpuSimd.Scale(scores, (float)(1.0 / sum));
            a[(t + 1)..].Clear();

            var o = output.Slice((b * T + t) * QC + h * hs, hs);
            o.Clear();
            CpuSimd.StridedAxpys(scores, qkv.Slice(b * T * stride + QC + KC + kvh * hs, t * stride + hs), stride, o);
        }
    }

    private readonly struct AttentionBackwardKernel(HostArray<float> dqkv, HostArray<float> scratch, HostArray<float> doutput, HostArray<float> qkv, HostArray<float> att, int T, int NH, int NKV, int hs) : IRowKernel
    {
        public void Run(int bg)
        {
            // bg = b·NKV + kvh: this item owns dk and dv of key/value head kvh in sequence b, and runs
            // its query heads kvh·rep … kvh·rep + rep − 1 in order (no other item writes them).
            int kvh = bg % NKV, b = bg / NKV;
            int rep = NH / NKV;
            int QC = NH * hs, KC = NKV * hs, stride = QC + 2 * KC;
            float scale = 1f / MathF.Sqrt(hs);
            int kBase = b * T * stride + QC + kvh * hs, vBase = kBase + KC;
            for (int h = kvh * rep; h < (kvh + 1) * rep; h++)
            {
                int bh = b * NH + h;
                for (int t = 0; t < T; t++)
                {
                    int aRow = (bh * T + t) * T;
                    var a = att.Slice(aRow, t + 1);
                    var dAtt = scratch.Slice(aRow, t + 1);
                    var dy = doutput.Slice((b * T + t) * QC + h * hs, hs);
                    int span = t * stride + hs;
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
    }

    private readonly struct KvCacheStoreKernel(HostArray<float> kvCache, HostArray<float> qkv, int T, int NH, int NKV, int hs, int maxT) : IRowKernel
    {
        public void Run(int row)
        {
            int b = row / T, t = row % T;
            int kv2 = 2 * NKV * hs;
            qkv.Slice(row * (NH * hs + kv2) + NH * hs, kv2).CopyTo(kvCache.Slice((b * maxT + t) * kv2, kv2));
        }
    }

    private readonly struct AttentionDecodeKernel(HostArray<float> output, HostArray<float> kvCache, HostArray<float> qkv, HostArray<int> positions, int NH, int NKV, int hs, int maxT) : IRowKernel
    {
        public void Run(int bh)
        {
            int h = bh % NH, b = bh / NH;
            int kvh = h / (NH / NKV);
            int QC = NH * hs, KC = NKV * hs, kv2 = 2 * KC;
            float scale = 1f / MathF.Sqrt(hs);
            int p = positions[b];
            var q = qkv.Slice(b * (QC + kv2) + h * hs, hs);
            var o = output.Slice(b * QC + h * hs, hs);
            o.Clear();
            // Online softmax: o holds Σ_u e^{s_u − max}·v_u for the running max, rescaled when it grows.
            float max = float.NegativeInfinity, sum = 0;
            for (int u = 0; u <= p; u++)
            {
                int row = (b * maxT + u) * kv2;
                float s = CpuSimd.Dot(q, kvCache.Slice(row + kvh * hs, hs)) * scale;
                if (s > max)
                {
                    float correction = MathF.Exp(max - s);
                    CpuSimd.Scale(o, correction);
                    sum *= correction;
                    max = s;
                }
                float weight = MathF.Exp(s - max);
                sum += weight;
                CpuSimd.Axpy(weight, kvCache.Slice(row + KC + kvh * hs, hs), o);
            }
            CpuSimd.Scale(o, 1f / sum);
        }
    }
}
