using System.Runtime.Intrinsics;
using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// The per-row vocabulary ops: the fused token log-likelihood (log-softmax, gather, in-place gradient)
/// and sampling. One work item per row. Sampling finds the top-k threshold and the top-p threshold by
/// bisection over the bits of a float (at most 32 counting passes each) instead of sorting, so it needs
/// only one per-thread probability row as scratch.
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

    [ThreadStatic] private static float[]? t_sampleProbs;

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

            // Top-k: keep logits ≥ the k-th largest. Dropped tokens get probability 0 below, which
            // never changes the draw (a zero never moves the running sum past the goal).
            float kth = topK > 0 && topK < V ? KthLargest(row, topK) : float.NegativeInfinity;

            // p = softmax(logits / temperature) over the whole row, as the contract says.
            var probs = CpuScratch.Get(ref t_sampleProbs, V).AsSpan(0, V);
            float max = float.NegativeInfinity;
            for (int v = 0; v < V; v++)
            {
                float s = row[v] / temperature;
                probs[v] = s;
                max = Math.Max(max, s);
            }
            double sum = CpuSimd.ExpInPlace(probs, max);
            CpuSimd.Scale(probs, (float)(1.0 / sum));
            if (kth > float.NegativeInfinity)
                for (int v = 0; v < V; v++)
                    if (!(row[v] >= kth)) probs[v] = 0;

            float theta = topP < 1 ? TopPThreshold(probs, topP) : 0f;

            double kept = 0;
            for (int v = 0; v < V; v++) if (probs[v] >= theta) kept += probs[v];
            double goal = uniforms[b] * kept, running = 0;
            int chosen = -1, last = -1;
            for (int v = 0; v < V; v++)
            {
                float p = probs[v];
                if (!(p >= theta) || p == 0) continue;
                last = v;
                running += p;
                if (running > goal) { chosen = v; break; }
            }
            // chosen is found whenever u < 1 (the last kept token brings running to exactly kept > goal).
            tokens[b] = chosen >= 0 ? chosen : last >= 0 ? last : CpuSimd.ArgMax(row);
        }
    }

    /// <summary>
    /// Maps a float to an int with the same order (negative floats have their magnitude bits flipped);
    /// the map is its own inverse.
    /// </summary>
    private static int OrderedBits(int bits) => bits ^ ((bits >> 31) & 0x7FFFFFFF);

    /// <summary>
    /// The k-th largest value: the largest key K with count(key ≥ K) ≥ k is always some element's key,
    /// found by bisection over the 32-bit key range.
    /// </summary>
    private static float KthLargest(ReadOnlySpan<float> row, int k)
    {
        long lo = OrderedBits(BitConverter.SingleToInt32Bits(MinOf(row)));
        long hi = OrderedBits(BitConverter.SingleToInt32Bits(CpuSimd.Max(row)));
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (CountAtLeast(row, (int)mid) >= k) lo = mid; else hi = mid - 1;
        }
        return BitConverter.Int32BitsToSingle(OrderedBits((int)lo));
    }

    private static float MinOf(ReadOnlySpan<float> row)
    {
        float min = float.PositiveInfinity;
        foreach (float x in row) min = Math.Min(min, x);
        return min;
    }

    private static int CountAtLeast(ReadOnlySpan<float> row, int key)
    {
        const int W = 8;
        var k = Vector256.Create(key);
        var mask = Vector256.Create(0x7FFFFFFF);
        var count = Vector256<int>.Zero;
        int i = 0;
        for (; i <= row.Length - W; i += W)
        {
            var bits = Vector256.Create(row.Slice(i, W)).AsInt32();
            var keys = bits ^ (Vector256.ShiftRightArithmetic(bits, 31) & mask);
            count -= Vector256.GreaterThanOrEqual(keys, k); // true lanes are −1
        }
        int total = Vector256.Sum(count);
        for (; i < row.Length; i++)
            if (OrderedBits(BitConverter.SingleToInt32Bits(row[i])) >= key) total++;
        return total;
    }

    /// <summary>
    /// θ = the largest probability whose mass Σ{p ≥ θ} reaches topP (probabilities are non-negative, so
    /// their bit patterns order like their values). When even the whole kept mass falls short, θ = 0
    /// keeps everything, as the reference does.
    /// </summary>
    private static float TopPThreshold(ReadOnlySpan<float> probs, float topP)
    {
        if (MassAtLeast(probs, 0) < topP) return 0f;
        long lo = 0, hi = BitConverter.SingleToInt32Bits(CpuSimd.Max(probs));
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (MassAtLeast(probs, (int)mid) >= topP) lo = mid; else hi = mid - 1;
        }
        return BitConverter.Int32BitsToSingle((int)lo);
    }

    /// <summary>Σ p over p with bits ≥ key, in float per block of 1024 and in double across blocks.</summary>
    private static double MassAtLeast(ReadOnlySpan<float> probs, int key)
    {
        const int W = 8, Block = 1024;
        var k = Vector256.Create(key);
        double total = 0;
        int i = 0;
        while (i <= probs.Length - W)
        {
            int end = Math.Min(probs.Length, i + Block) - W;
            var acc = Vector256<float>.Zero;
            for (; i <= end; i += W)
            {
                var p = Vector256.Create(probs.Slice(i, W));
                acc += p & Vector256.GreaterThanOrEqual(p.AsInt32(), k).AsSingle();
            }
            total += Vector256.Sum(acc);
        }
        for (; i < probs.Length; i++)
            if (BitConverter.SingleToInt32Bits(probs[i]) >= key) total += probs[i];
        return total;
    }
}
