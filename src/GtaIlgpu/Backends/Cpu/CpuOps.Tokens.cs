using System.Runtime.Intrinsics;
using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// The per-row vocabulary ops: the fused token log-likelihood (log-softmax, gather, in-place gradient)
/// and sampling. One work item per row. Sampling finds the top-k threshold and the top-p threshold on
/// the scaled logits by bisection over the bits of a float (at most 32 counting passes each) instead of
/// sorting, so it needs only two per-thread rows (scaled logits and their weights) as scratch.
/// </summary>
public sealed partial class CpuOps
{
    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> logits, BufferView<int> targets, BufferView<float> gradCoefficients, int N, int V) =>
        TokenLogLikelihood(logprobs, default, logits, targets, gradCoefficients, 1f, N, V);

    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> entropies, BufferView<float> logits, BufferView<int> targets,
        BufferView<float> gradCoefficients, float temperature, int N, int V)
    {
        const string op = "token_log_likelihood";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "V", V);
        if (!(temperature > 0) || float.IsPositiveInfinity(temperature)) throw new ArgumentException($"{op}: temperature must be positive and finite, got {temperature}");
        OpShapes.AtLeast(op, "logprobs", logprobs.Length, N);
        OpShapes.Optional(op, "entropies", entropies.Length, N);
        OpShapes.AtLeast(op, "logits", logits.Length, (long)N * V);
        OpShapes.AtLeast(op, "targets", targets.Length, N);
        OpShapes.Optional(op, "gradCoefficients", gradCoefficients.Length, N);
        var y = targets.Span();
        for (int n = 0; n < N; n++)
            if (y[n] >= V) throw new ArgumentException($"{op}: target {y[n]} of row {n} is outside the vocabulary (V={V})");
        var kernel = new TokenLogLikelihoodKernel(new HostArray<float>(logprobs), new HostArray<float>(entropies), new HostArray<float>(logits),
            new HostArray<int>(targets), new HostArray<float>(gradCoefficients), 1f / temperature, V);
        CpuLoops.Rows(N, 3L * V, kernel);
    }

    /// <summary>
    /// One row: max, then the normaliser (and the entropy's Σ p·u in the same pass), then the gradient.
    /// At τ = 1 without entropies it takes the unscaled helpers, so results stay bit for bit those of
    /// the plain op; the scaled path multiplies each logit by 1/τ before the shift.
    /// </summary>
    private readonly struct TokenLogLikelihoodKernel(HostArray<float> logprobs, HostArray<float> entropies, HostArray<float> logits,
        HostArray<int> targets, HostArray<float> coefficients, float inverseTemperature, int V) : IRowKernel
    {
        public void Run(int n)
        {
            var row = logits.Slice(n * V, V);
            int target = targets[n];
            if (target < 0)
            {
                logprobs[n] = 0;
                if (!entropies.IsEmpty) entropies[n] = 0;
                if (!coefficients.IsEmpty) row.Clear();
                return;
            }
            bool plain = inverseTemperature == 1f && entropies.IsEmpty;
            // Scaling by a positive 1/τ is monotone, so the max of the scaled row is the scaled max.
            float max = CpuSimd.Max(row) * inverseTemperature;
            double weighted = 0;
            double sum = plain ? CpuSimd.SumExp(row, max) : CpuSimd.SumExpScaled(row, inverseTemperature, max, out weighted);
            double logSum = Math.Log(sum) + max;
            float z = row[target] * inverseTemperature;
            logprobs[n] = (float)(z - logSum);
            if (!plain && !entropies.IsEmpty) entropies[n] = (float)(Math.Log(sum) - weighted / sum);
            if (coefficients.IsEmpty) return;
            float c = coefficients[n] * inverseTemperature;
            if (plain) CpuSimd.ScaledExpInPlace(row, (float)logSum, c);
            else CpuSimd.ScaledExpInPlace(row, inverseTemperature, (float)logSum, c);
            row[target] = (float)(c * (Math.Exp(z - logSum) - 1.0));
        }
    }

    public void Sample(BufferView<int> tokens, BufferView<float> logits, BufferView<float> uniforms, float temperature, int topK, float topP, int B, int V)
    {
        const string op = "sample";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "V", V);
        OpShapes.AtLeast(op, "tokens", tokens.Length, B);
        OpShapes.AtLeast(op, "logits", logits.Length, (long)B * V);
        if (temperature > 0) OpShapes.AtLeast(op, "uniforms", uniforms.Length, B);
        var kernel = new SampleKernel(new HostArray<int>(tokens), new HostArray<float>(logits), new HostArray<float>(uniforms), temperature, topK, topP, V);
        CpuLoops.Rows(B, 40L * V, kernel);
    }

    [ThreadStatic] private static float[]? t_sampleScratch;

    private readonly struct SampleKernel(HostArray<int> tokens, HostArray<float> logits, HostArray<float> uniforms, float temperature, int topK, float topP, int V) : IRowKernel
    {
        public void Run(int b)
        {
            var row = logits.Slice(b * V, V);
            if (temperature <= 0)
            {
                tokens[b] = CpuSimd.ArgMax(row);
                return;
            }

            // s = x/τ rounded to float, as the contract (and Hugging Face's temperature warper) has it;
            // both filters are thresholds on the ordered keys of s.
            var scratch = CpuScratch.Get(ref t_sampleScratch, 2 * V);
            var scaled = scratch.AsSpan(0, V);
            var weights = scratch.AsSpan(V, V);
            ScaleLogits(row, temperature, scaled);
            float max = CpuSimd.Max(scaled);

            int threshold = topK > 0 && topK < V ? KthLargestKey(scaled, topK) : OrderedKey(MinOf(scaled));

            // Weights e^{s−max} of the top-k survivors (0 for the rest): their sum renormalises top-p.
            scaled.CopyTo(weights);
            CpuSimd.ExpInPlace(weights, max);
            double survivors = MaskBelow(scaled, weights, threshold);
            if (topP < 1) threshold = TopPThresholdKey(scaled, weights, topP * survivors, threshold, OrderedKey(max));

            // The kept mass is summed in double in the draw's own order, so a uniform that lands exactly
            // on a boundary between equal weights falls as in the reference.
            double kept = 0;
            for (int v = 0; v < V; v++)
                if (OrderedKey(scaled[v]) >= threshold) kept += weights[v];
            double goal = uniforms[b] * kept, running = 0;
            int chosen = -1, last = -1;
            for (int v = 0; v < V; v++)
            {
                float w = weights[v];
                if (OrderedKey(scaled[v]) < threshold || w == 0) continue;
                last = v;
                running += w;
                if (running > goal) { chosen = v; break; }
            }
            // chosen is found whenever u < 1 (the last kept token brings running to exactly kept > goal).
            tokens[b] = chosen >= 0 ? chosen : last >= 0 ? last : CpuSimd.ArgMax(row);
        }
    }

    /// <summary>
    /// s = x/τ + 0: the division rounds as the scalar reference's does; adding +0 turns −0 into +0 so
    /// that equal floats get equal keys (the kernel's key does the same).
    /// </summary>
    private static void ScaleLogits(ReadOnlySpan<float> row, float temperature, Span<float> scaled)
    {
        const int W = 8;
        var t = Vector256.Create(temperature);
        int i = 0;
        for (; i <= row.Length - W; i += W)
            (Vector256.Create(row.Slice(i, W)) / t + Vector256<float>.Zero).CopyTo(scaled.Slice(i, W));
        for (; i < row.Length; i++) scaled[i] = row[i] / temperature + 0f;
    }

    /// <summary>
    /// Maps a float to an int with the same order (negative floats have their magnitude bits flipped);
    /// the map is its own inverse.
    /// </summary>
    private static int OrderedBits(int bits) => bits ^ ((bits >> 31) & 0x7FFFFFFF);

    private static int OrderedKey(float x) => OrderedBits(BitConverter.SingleToInt32Bits(x));

    /// <summary>
    /// The key of the k-th largest value: the largest key K with count(key ≥ K) ≥ k is always some
    /// element's key, found by bisection over the 32-bit key range.
    /// </summary>
    private static int KthLargestKey(ReadOnlySpan<float> row, int k)
    {
        long lo = OrderedKey(MinOf(row));
        long hi = OrderedKey(CpuSimd.Max(row));
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (CountAtLeast(row, (int)mid) >= k) lo = mid; else hi = mid - 1;
        }
        return (int)lo;
    }

    private static float MinOf(ReadOnlySpan<float> row)
    {
        float min = float.PositiveInfinity;
        foreach (float x in row) min = Math.Min(min, x);
        return min;
    }

    private static Vector256<int> Keys(Vector256<float> x)
    {
        var bits = x.AsInt32();
        return bits ^ (Vector256.ShiftRightArithmetic(bits, 31) & Vector256.Create(0x7FFFFFFF));
    }

    private static int CountAtLeast(ReadOnlySpan<float> row, int key)
    {
        const int W = 8;
        var k = Vector256.Create(key);
        var count = Vector256<int>.Zero;
        int i = 0;
        for (; i <= row.Length - W; i += W)
            count -= Vector256.GreaterThanOrEqual(Keys(Vector256.Create(row.Slice(i, W))), k); // true lanes are −1
        int total = Vector256.Sum(count);
        for (; i < row.Length; i++)
            if (OrderedKey(row[i]) >= key) total++;
        return total;
    }

    /// <summary>Zeroes the weights whose scaled logit's key is below the threshold; returns the sum of the rest.</summary>
    private static double MaskBelow(ReadOnlySpan<float> scaled, Span<float> weights, int threshold)
    {
        for (int v = 0; v < scaled.Length; v++)
            if (OrderedKey(scaled[v]) < threshold) weights[v] = 0;
        return MassAtLeast(scaled, weights, threshold);
    }

    /// <summary>
    /// The largest key K in [lo, hi] whose mass Σ{w : key(s) ≥ K} reaches need: the key of the token
    /// whose running mass (largest s first) crosses topP. When even the mass at lo falls short (only
    /// by rounding, as need ≤ that mass exactly), K = lo keeps every survivor, as the reference does.
    /// </summary>
    private static int TopPThresholdKey(ReadOnlySpan<float> scaled, ReadOnlySpan<float> weights, double need, long lo, long hi)
    {
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (MassAtLeast(scaled, weights, (int)mid) >= need) lo = mid; else hi = mid - 1;
        }
        return (int)lo;
    }

    /// <summary>Σ w over key(s) ≥ key, in float per block of 1024 and in double across blocks.</summary>
    private static double MassAtLeast(ReadOnlySpan<float> scaled, ReadOnlySpan<float> weights, int key)
    {
        const int W = 8, Block = 1024;
        var k = Vector256.Create(key);
        double total = 0;
        int i = 0, n = scaled.Length;
        while (i <= n - W)
        {
            int end = Math.Min(n, i + Block) - W;
            var acc = Vector256<float>.Zero;
            for (; i <= end; i += W)
            {
                var keep = Vector256.GreaterThanOrEqual(Keys(Vector256.Create(scaled.Slice(i, W))), k).AsSingle();
                acc += Vector256.Create(weights.Slice(i, W)) & keep;
            }
            total += Vector256.Sum(acc);
        }
        for (; i < n; i++)
            if (OrderedKey(scaled[i]) >= key) total += weights[i];
        return total;
    }
}
