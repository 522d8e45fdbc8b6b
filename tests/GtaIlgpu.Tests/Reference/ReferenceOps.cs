using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// The scalar reference of every op: plain loops, double accumulation, no cleverness. It is the
/// executable form of the contract in IOps; the CPU backend and every ILGPU kernel are checked against it.
/// </summary>
public sealed class ReferenceBackend : HostBackendBase
{
    public override string Name => "reference";
    public override string Description => "scalar reference (double accumulation)";
    public override IOps Ops { get; } = new ReferenceOps();
}

public sealed partial class ReferenceOps : IOps
{
    private const double LayerNormEps = 1e-5;

    public void Fill(BufferView<float> x, float value) => x.Span().Fill(value);

    public void Copy(BufferView<float> destination, BufferView<float> source)
    {
        var d = destination.Span(); var s = source.Span();
        for (int i = 0; i < s.Length; i++) d[i] = s[i];
    }

    public void GatherRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width)
    {
        var d = destination.Span(); var s = source.Span(); var index = rows.Span();
        for (int r = 0; r < R; r++)
            for (int c = 0; c < width; c++) d[r * width + c] = s[index[r] * width + c];
    }

    public void ScatterRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width)
    {
        var d = destination.Span(); var s = source.Span(); var index = rows.Span();
        for (int r = 0; r < R; r++)
            for (int c = 0; c < width; c++) d[index[r] * width + c] = s[r * width + c];
    }

    public void Accumulate(BufferView<float> destination, BufferView<float> source)
    {
        var d = destination.Span(); var s = source.Span();
        for (int i = 0; i < s.Length; i++) d[i] += s[i];
    }

    public void Scale(BufferView<float> x, float scale)
    {
        var s = x.Span();
        for (int i = 0; i < s.Length; i++) s[i] *= scale;
    }

    public void LinearCombination(BufferView<float> destination, float a, BufferView<float> x, float b, BufferView<float> y)
    {
        var d = destination.Span(); var xs = x.Span(); var ys = y.Span();
        for (int i = 0; i < xs.Length; i++) d[i] = (float)((double)a * xs[i] + (double)b * ys[i]);
    }

    public void EncoderForward(BufferView<float> output, BufferView<int> tokens, BufferView<float> wte, BufferView<float> wpe, int B, int T, int C)
    {
        var o = output.Span(); var tok = tokens.Span(); var te = wte.Span(); var pe = wpe.Span();
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int id = tok[b * T + t];
                for (int c = 0; c < C; c++)
                    o[(b * T + t) * C + c] = pe.IsEmpty ? te[id * C + c] : te[id * C + c] + pe[t * C + c];
            }
    }

    public void EncoderBackward(BufferView<float> dwte, BufferView<float> dwpe, BufferView<float> doutput, BufferView<int> tokens, int B, int T, int C)
    {
        var dte = dwte.Span(); var dpe = dwpe.Span(); var d = doutput.Span(); var tok = tokens.Span();
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int id = tok[b * T + t];
                for (int c = 0; c < C; c++)
                {
                    float g = d[(b * T + t) * C + c];
                    dte[id * C + c] += g;
                    if (!dpe.IsEmpty) dpe[t * C + c] += g;
                }
            }
    }

    public void EncoderDecodeForward(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<float> wte, BufferView<float> wpe, int B, int C)
    {
        var o = output.Span(); var tok = tokens.Span(); var pos = positions.Span(); var te = wte.Span(); var pe = wpe.Span();
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                o[b * C + c] = pe.IsEmpty ? te[tok[b] * C + c] : te[tok[b] * C + c] + pe[pos[b] * C + c];
    }

    public void LayerNormForward(BufferView<float> output, BufferView<float> mean, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C)
    {
        var o = output.Span(); var mu = mean.Span(); var rs = rstd.Span(); var x = input.Span(); var w = weight.Span(); var bi = bias.Span();
        for (int n = 0; n < N; n++)
        {
            double m = 0;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            double v = 0;
            for (int c = 0; c < C; c++) { double d = x[n * C + c] - m; v += d * d; }
            v /= C;
            double r = 1.0 / Math.Sqrt(v + LayerNormEps);
            for (int c = 0; c < C; c++)
                o[n * C + c] = (float)((x[n * C + c] - m) * r * w[c] + bi[c]);
            mu[n] = (float)m;
            rs[n] = (float)r;
        }
    }

    public void LayerNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> mean, BufferView<float> rstd, int N, int C)
    {
        var dx = dinput.Span(); var dw = dweight.Span(); var db = dbias.Span(); var dy = doutput.Span();
        var x = input.Span(); var w = weight.Span(); var mu = mean.Span(); var rs = rstd.Span();
        var dwAcc = new double[C];
        var dbAcc = new double[C];
        for (int n = 0; n < N; n++)
        {
            // dnorm = dy·w; dx = rstd·(dnorm − mean(dnorm) − norm·mean(dnorm·norm))
            double meanD = 0, meanDn = 0;
            for (int c = 0; c < C; c++)
            {
                double norm = (x[n * C + c] - mu[n]) * (double)rs[n];
                double dn = (double)w[c] * dy[n * C + c];
                meanD += dn;
                meanDn += dn * norm;
            }
            meanD /= C;
            meanDn /= C;
            for (int c = 0; c < C; c++)
            {
                double norm = (x[n * C + c] - mu[n]) * (double)rs[n];
                double dn = (double)w[c] * dy[n * C + c];
                dbAcc[c] += dy[n * C + c];
                dwAcc[c] += norm * dy[n * C + c];
                dx[n * C + c] += (float)(rs[n] * (dn - meanD - norm * meanDn));
            }
        }
        for (int c = 0; c < C; c++) { dw[c] += (float)dwAcc[c]; db[c] += (float)dbAcc[c]; }
    }

    public void MatmulForward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC)
    {
        var o = output.Span(); var x = input.Span(); var w = weight.Span(); var bi = bias.Span();
        for (int n = 0; n < N; n++)
            for (int k = 0; k < OC; k++)
            {
                double s = bi.IsEmpty ? 0 : bi[k];
                for (int c = 0; c < C; c++) s += (double)x[n * C + c] * w[k * C + c];
                o[n * OC + k] = (float)s;
            }
    }

    public void MatmulBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC)
    {
        var dx = dinput.Span(); var dw = dweight.Span(); var db = dbias.Span(); var dy = doutput.Span();
        var x = input.Span(); var w = weight.Span();
        if (!dx.IsEmpty)
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++)
                {
                    double s = 0;
                    for (int k = 0; k < OC; k++) s += (double)dy[n * OC + k] * w[k * C + c];
                    dx[n * C + c] += (float)s;
                }
        for (int k = 0; k < OC; k++)
        {
            if (!dw.IsEmpty)
                for (int c = 0; c < C; c++)
                {
                    double s = 0;
                    for (int n = 0; n < N; n++) s += (double)dy[n * OC + k] * x[n * C + c];
                    dw[k * C + c] += (float)s;
                }
            if (!db.IsEmpty)
            {
                double s = 0;
                for (int n = 0; n < N; n++) s += dy[n * OC + k];
                db[k] += (float)s;
            }
        }
    }

    // Grouped-query attention: qkv rows of W = (NH+2·NKV)·hs hold [q (NH·hs) | k (NKV·hs) | v (NKV·hs)];
    // query head h reads key/value head h / (NH/NKV). GPT-2 is NKV = NH, hs = C/NH (W = 3C).
    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs)
    {
        var o = output.Span(); var a = att.Span(); var q = qkv.Span();
        int W = (NH + 2 * NKV) * hs, QC = NH * hs, KC = NKV * hs, rep = NH / NKV;
        double scale = 1.0 / Math.Sqrt(hs);
        var scores = new double[T];
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
            {
                int kvh = h / rep;
                for (int t = 0; t < T; t++)
                {
                    int qOff = (b * T + t) * W + h * hs;
                    double max = double.NegativeInfinity;
                    for (int u = 0; u <= t; u++)
                    {
                        int kOff = (b * T + u) * W + QC + kvh * hs;
                        double s = 0;
                        for (int i = 0; i < hs; i++) s += (double)q[qOff + i] * q[kOff + i];
                        scores[u] = s * scale;
                        max = Math.Max(max, scores[u]);
                    }
                    double sum = 0;
                    for (int u = 0; u <= t; u++) { scores[u] = Math.Exp(scores[u] - max); sum += scores[u]; }
                    int aRow = ((b * NH + h) * T + t) * T;
                    for (int u = 0; u < T; u++) a[aRow + u] = u <= t ? (float)(scores[u] / sum) : 0f;
                    for (int i = 0; i < hs; i++)
                    {
                        double s = 0;
                        for (int u = 0; u <= t; u++) s += scores[u] / sum * q[(b * T + u) * W + QC + KC + kvh * hs + i];
                        o[(b * T + t) * QC + h * hs + i] = (float)s;
                    }
                }
            }
    }

    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int NH, int NKV, int hs)
    {
        var dq = dqkv.Span(); var dy = doutput.Span(); var q = qkv.Span(); var a = att.Span();
        int W = (NH + 2 * NKV) * hs, QC = NH * hs, KC = NKV * hs, rep = NH / NKV;
        double scale = 1.0 / Math.Sqrt(hs);
        var dAtt = new double[T];
        // Query heads in order: a key/value head's gradient sums its query heads' contributions h = g·rep, g·rep+1, …
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
            {
                int kvh = h / rep;
                for (int t = 0; t < T; t++)
                {
                    int aRow = ((b * NH + h) * T + t) * T;
                    int oOff = (b * T + t) * QC + h * hs;
                    // output = Σ_u att[u]·v[u]  →  datt[u] = dy·v[u], dv[u] += att[u]·dy
                    for (int u = 0; u <= t; u++)
                    {
                        int vOff = (b * T + u) * W + QC + KC + kvh * hs;
                        double s = 0;
                        for (int i = 0; i < hs; i++)
                        {
                            s += (double)dy[oOff + i] * q[vOff + i];
                            dq[vOff + i] += (float)((double)a[aRow + u] * dy[oOff + i]);
                        }
                        dAtt[u] = s;
                    }
                    // softmax backward: dscore[u] = att[u]·(datt[u] − Σ_j att[j]·datt[j])
                    double dot = 0;
                    for (int u = 0; u <= t; u++) dot += a[aRow + u] * dAtt[u];
                    int qOff = (b * T + t) * W + h * hs;
                    for (int u = 0; u <= t; u++)
                    {
                        double dScore = a[aRow + u] * (dAtt[u] - dot) * scale;
                        int kOff = (b * T + u) * W + QC + kvh * hs;
                        for (int i = 0; i < hs; i++)
                        {
                            dq[qOff + i] += (float)(dScore * q[kOff + i]);
                            dq[kOff + i] += (float)(dScore * q[qOff + i]);
                        }
                    }
                }
            }
    }

    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT)
    {
        var cache = kvCache.Span(); var q = qkv.Span();
        int W = (NH + 2 * NKV) * hs, QC = NH * hs, KV2 = 2 * NKV * hs;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int i = 0; i < KV2; i++)
                    cache[(b * maxT + t) * KV2 + i] = q[(b * T + t) * W + QC + i];
    }

    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int NH, int NKV, int hs, int maxT)
    {
        var o = output.Span(); var cache = kvCache.Span(); var q = qkv.Span(); var pos = positions.Span();
        int W = (NH + 2 * NKV) * hs, QC = NH * hs, KC = NKV * hs, KV2 = 2 * KC, rep = NH / NKV;
        double scale = 1.0 / Math.Sqrt(hs);
        for (int b = 0; b < B; b++)
        {
            int p = pos[b];
            for (int i = 0; i < KV2; i++) cache[(b * maxT + p) * KV2 + i] = q[b * W + QC + i];
            for (int h = 0; h < NH; h++)
            {
                int kvh = h / rep;
                var scores = new double[p + 1];
                double max = double.NegativeInfinity;
                for (int u = 0; u <= p; u++)
                {
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += (double)q[b * W + h * hs + i] * cache[(b * maxT + u) * KV2 + kvh * hs + i];
                    scores[u] = s * scale;
                    max = Math.Max(max, scores[u]);
                }
                double sum = 0;
                for (int u = 0; u <= p; u++) { scores[u] = Math.Exp(scores[u] - max); sum += scores[u]; }
                for (int i = 0; i < hs; i++)
                {
                    double s = 0;
                    for (int u = 0; u <= p; u++) s += scores[u] / sum * cache[(b * maxT + u) * KV2 + KC + kvh * hs + i];
                    o[b * QC + h * hs + i] = (float)s;
                }
            }
        }
    }

    private static readonly double GeluScale = Math.Sqrt(2.0 / Math.PI);

    public void GeluForward(BufferView<float> output, BufferView<float> input, int n)
    {
        var o = output.Span(); var x = input.Span();
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            o[i] = (float)(0.5 * v * (1 + Math.Tanh(GeluScale * (v + 0.044715 * v * v * v))));
        }
    }

    public void GeluBackward(BufferView<float> dinput, BufferView<float> input, BufferView<float> doutput, int n)
    {
        var dx = dinput.Span(); var x = input.Span(); var dy = doutput.Span();
        for (int i = 0; i < n; i++)
        {
            double v = x[i];
            double u = GeluScale * (v + 0.044715 * v * v * v);
            double th = Math.Tanh(u);
            double sech2 = 1 - th * th;
            double grad = 0.5 * (1 + th) + 0.5 * v * sech2 * GeluScale * (1 + 3 * 0.044715 * v * v);
            dx[i] += (float)(grad * dy[i]);
        }
    }

    public void Add(BufferView<float> output, BufferView<float> a, BufferView<float> b, int n)
    {
        var o = output.Span(); var x = a.Span(); var y = b.Span();
        for (int i = 0; i < n; i++) o[i] = x[i] + y[i];
    }

    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> logits, BufferView<int> targets, BufferView<float> gradCoefficients, int N, int V) =>
        TokenLogLikelihood(logprobs, default, logits, targets, gradCoefficients, 1f, N, V);

    /// <summary>Plain loops in double: z = logits/τ, log softmax at the target, entropy −Σ p·log p, gradient (c/τ)·(p − onehot).</summary>
    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> entropies, BufferView<float> logits, BufferView<int> targets,
        BufferView<float> gradCoefficients, float temperature, int N, int V)
    {
        var lp = logprobs.Span(); var h = entropies.Span(); var z = logits.Span(); var y = targets.Span(); var coef = gradCoefficients.Span();
        double tau = temperature;
        for (int n = 0; n < N; n++)
        {
            var row = z.Slice(n * V, V);
            int target = y[n];
            if (target < 0)
            {
                lp[n] = 0;
                if (!h.IsEmpty) h[n] = 0;
                if (!coef.IsEmpty) row.Clear();
                continue;
            }
            double max = double.NegativeInfinity;
            for (int v = 0; v < V; v++) max = Math.Max(max, row[v] / tau);
            double sum = 0;
            for (int v = 0; v < V; v++) sum += Math.Exp(row[v] / tau - max);
            double logSum = Math.Log(sum) + max;
            lp[n] = (float)(row[target] / tau - logSum);
            if (!h.IsEmpty)
            {
                double entropy = 0;
                for (int v = 0; v < V; v++)
                {
                    double logP = row[v] / tau - logSum;
                    entropy -= Math.Exp(logP) * logP;
                }
                h[n] = (float)entropy;
            }
            if (!coef.IsEmpty)
                for (int v = 0; v < V; v++)
                    row[v] = (float)(coef[n] / tau * (Math.Exp(row[v] / tau - logSum) - (v == target ? 1.0 : 0.0)));
        }
    }

    public void Sample(BufferView<int> tokens, BufferView<float> logits, BufferView<float> uniforms, float temperature, int topK, float topP, int B, int V)
    {
        var outTokens = tokens.Span(); var z = logits.Span(); var u = uniforms.Span();
        var scaled = new float[V];
        var probs = new double[V];
        var keep = new bool[V];
        for (int b = 0; b < B; b++)
        {
            var row = z.Slice(b * V, V);
            if (temperature <= 0)
            {
                int best = 0;
                for (int v = 1; v < V; v++) if (row[v] > row[best]) best = v;
                outTokens[b] = best;
                continue;
            }
            // Temperature first, on floats as the contract says (then everything in double).
            for (int v = 0; v < V; v++) scaled[v] = row[v] / temperature;
            var descending = Enumerable.Range(0, V).OrderByDescending(v => scaled[v]).ToArray();
            for (int v = 0; v < V; v++) keep[v] = true;
            if (topK > 0 && topK < V)
            {
                float kth = scaled[descending[topK - 1]];
                for (int v = 0; v < V; v++) keep[v] = scaled[v] >= kth;
            }
            // Softmax over the top-k survivors only: top-p measures mass on this renormalised distribution.
            // A weight e^{s−max} that underflows in float counts as zero, as the contract says.
            double max = scaled[descending[0]], sum = 0;
            for (int v = 0; v < V; v++)
            {
                double w = keep[v] ? Math.Exp(scaled[v] - max) : 0;
                probs[v] = (float)w == 0 ? 0 : w;
                sum += probs[v];
            }
            for (int v = 0; v < V; v++) probs[v] /= sum;
            if (topP < 1)
            {
                // Keep a survivor when the mass of the survivors with a strictly larger s is below topP:
                // the smallest leading set that reaches topP, the token crossing it and its ties; the
                // maximum always (min_tokens_to_keep = 1).
                double ahead = 0;
                for (int start = 0; start < V;)
                {
                    float level = scaled[descending[start]];
                    int end = start;
                    double levelMass = 0;
                    for (; end < V && scaled[descending[end]] == level; end++) levelMass += probs[descending[end]];
                    bool levelKept = start == 0 || ahead < topP;
                    for (int j = start; j < end; j++) keep[descending[j]] &= levelKept;
                    ahead += levelMass;
                    start = end;
                }
            }
            double kept = 0;
            for (int v = 0; v < V; v++) if (keep[v]) kept += probs[v];
            double goal = u[b] * kept, running = 0;
            int chosen = -1, last = -1;
            for (int v = 0; v < V; v++)
            {
                if (!keep[v] || probs[v] == 0) continue;
                last = v;
                running += probs[v];
                if (running > goal) { chosen = v; break; }
            }
            outTokens[b] = chosen >= 0 ? chosen : last;
        }
    }

    public void AdamW(BufferView<float> param, BufferView<float> grad, BufferView<float> m, BufferView<float> v, float learningRate, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale)
    {
        var p = param.Span(); var g = grad.Span(); var ms = m.Span(); var vs = v.Span();
        double c1 = 1 - Math.Pow(beta1, step), c2 = 1 - Math.Pow(beta2, step);
        for (int i = 0; i < p.Length; i++)
        {
            double gi = (double)g[i] * gradScale;
            double mi = beta1 * (double)ms[i] + (1 - beta1) * gi;
            double vi = beta2 * (double)vs[i] + (1 - beta2) * gi * gi;
            ms[i] = (float)mi;
            vs[i] = (float)vi;
            p[i] = (float)(p[i] - learningRate * (mi / c1 / (Math.Sqrt(vi / c2) + eps) + weightDecay * (double)p[i]));
        }
    }

    public float SumOfSquares(BufferView<float> x)
    {
        double s = 0;
        foreach (float value in x.Span()) s += (double)value * value;
        return (float)s;
    }

    public float Dot(BufferView<float> a, BufferView<float> b)
    {
        var x = a.Span(); var y = b.Span();
        if (x.Length != y.Length) throw new ArgumentException("dot: views differ in length");
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += (double)x[i] * y[i];
        return (float)s;
    }
}
