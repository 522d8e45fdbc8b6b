using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Token sampling for rollouts: greedy, temperature, top-k, top-p, one group per row of logits.
///
/// No sort. Both filters are thresholds on the logit: top-k keeps x ≥ (k-th largest x), and since
/// p = softmax(x/τ) is monotone in x, top-p keeps x ≥ some logit too. Each threshold is found by
/// bisection over the 32-bit keys of the floats (the bits of a float, with negatives flipped, order
/// like unsigned ints), each step one pass over the row and one group reduction:
/// <list type="bullet">
/// <item>top-k: the largest key K with count(key(x) ≥ K) ≥ k, which is the key of the k-th largest
/// logit, ties included.</item>
/// <item>top-p: among the top-k survivors, the largest key K with Σ_{key(x) ≥ K} e^{(x−max)/τ} ≥ topP·Σ_all
/// (probabilities of the full softmax, as in the contract). If even every top-k survivor falls short,
/// the bisection never moves and all of them are kept.</item>
/// </list>
/// At most 32 steps each, so the cost is O(32·V/threads) per row, against O(V log V) for a sort, and
/// no scratch memory.
///
/// The draw is an inverse CDF in vocabulary order: the row is scanned in chunks of one element per
/// thread; a group inclusive scan gives each kept element its running mass, a group min finds the
/// first one whose running mass exceeds u·(kept mass), and the chunk loop stops there. If rounding
/// leaves no such index (u close to 1), the last kept index is taken, as in the contract.
///
/// Greedy (τ ≤ 0): each thread keeps the first maximum of its strided elements; a group max and a
/// group min over the indices holding it give the lowest index on ties.
///
/// Every loop condition and branch around a barrier depends only on group-reduced values, which are
/// bit-identical in every thread (see <see cref="GroupReductions"/>), so the group never diverges.
/// </summary>
public static class SamplingKernels
{
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void Sample(ArrayView<int> tokens, ArrayView<float> logits, ArrayView<float> uniforms, float temperature, int topK, float topP, int V)
    {
        var floatScratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        var intScratch = SharedMemory.Allocate<int>(GroupReductions.MaxWarps);
        int b = Grid.IdxX;
        int tid = Group.IdxX;
        int threads = Group.DimX;
        int offset = b * V;

        if (temperature <= 0f)
        {
            float best = float.NegativeInfinity;
            int bestIndex = int.MaxValue;
            for (int i = tid; i < V; i += threads)
            {
                float x = logits[offset + i];
                if (bestIndex == int.MaxValue || x > best)
                {
                    best = x;
                    bestIndex = i;
                }
            }
            float rowBest = GroupReductions.GroupMax(best, floatScratch);
            int candidate = bestIndex != int.MaxValue && best == rowBest ? bestIndex : int.MaxValue;
            int argmax = GroupReductions.GroupMin(candidate, intScratch);
            if (tid == 0) tokens[b] = argmax == int.MaxValue ? 0 : argmax;
            return;
        }

        float localMax = float.NegativeInfinity, localMin = float.PositiveInfinity;
        for (int i = tid; i < V; i += threads)
        {
            float x = logits[offset + i];
            localMax = MathF.Max(localMax, x);
            localMin = MathF.Min(localMin, x);
        }
        float max = GroupReductions.GroupMax(localMax, floatScratch);
        float min = GroupReductions.GroupMin(localMin, floatScratch);
        long maxKey = Key(max);

        // top-k: the largest key whose at-or-above count still reaches k.
        long threshold = Key(min);
        if (topK > 0 && topK < V)
        {
            long lo = threshold, hi = maxKey + 1;
            while (hi - lo > 1)
            {
                long mid = lo + (hi - lo) / 2;
                int count = 0;
                for (int i = tid; i < V; i += threads)
                    if (Key(logits[offset + i]) >= mid) count++;
                if (GroupReductions.GroupSum(count, intScratch) >= topK) lo = mid;
                else hi = mid;
            }
            threshold = lo;
        }

        // top-p over the full softmax's probabilities, restricted to the top-k survivors.
        if (topP < 1f)
        {
            float total = 0f;
            for (int i = tid; i < V; i += threads) total += Weight(logits[offset + i], max, temperature);
            float need = topP * GroupReductions.GroupSum(total, floatScratch);
            long lo = threshold, hi = maxKey + 1;
            while (hi - lo > 1)
            {
                long mid = lo + (hi - lo) / 2;
                float mass = 0f;
                for (int i = tid; i < V; i += threads)
                {
                    float x = logits[offset + i];
                    if (Key(x) >= mid) mass += Weight(x, max, temperature);
                }
                if (GroupReductions.GroupSum(mass, floatScratch) >= need) lo = mid;
                else hi = mid;
            }
            threshold = lo;
        }

        float keptLocal = 0f;
        int lastLocal = -1;
        for (int i = tid; i < V; i += threads)
        {
            float x = logits[offset + i];
            if (Key(x) >= threshold)
            {
                keptLocal += Weight(x, max, temperature);
                lastLocal = i;
            }
        }
        float kept = GroupReductions.GroupSum(keptLocal, floatScratch);
        int lastKept = GroupReductions.GroupMax(lastLocal, intScratch);
        float goal = uniforms[b] * kept;

        float running = 0f;
        int chosen = int.MaxValue;
        for (int start = 0; start < V; start += threads)
        {
            int i = start + tid;
            bool keep = false;
            float w = 0f;
            if (i < V)
            {
                float x = logits[offset + i];
                keep = Key(x) >= threshold;
                if (keep) w = Weight(x, max, temperature);
            }
            var scan = GroupReductions.GroupInclusiveScan(w, floatScratch);
            int candidate = keep && running + scan.Inclusive > goal ? i : int.MaxValue;
            chosen = GroupReductions.GroupMin(candidate, intScratch);
            if (chosen != int.MaxValue) break;
            running += scan.Total;
        }
        if (tid == 0) tokens[b] = chosen != int.MaxValue ? chosen : Math.Max(lastKept, 0);
    }

    /// <summary>Unnormalised probability e^{(x − max)/τ}.</summary>
    private static float Weight(float x, float max, float temperature) => MathF.Exp((x - max) / temperature);

    /// <summary>
    /// An order-preserving map of floats onto unsigned 32-bit keys (as a long): flip every bit of a
    /// negative float, set the sign bit of a positive one. −0 maps like +0 so that keys compare like
    /// the floats do. NaN is not ordered and is not expected in logits.
    /// </summary>
    public static long Key(float x)
    {
        uint bits = Interop.FloatAsInt(x);
        if (bits == 0x8000_0000u) bits = 0;
        uint key = (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
        return key;
    }
}

public sealed class SamplingLauncher
{
    private readonly Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<float>, float, int, float, int> _sample;
    private readonly int _groupSize;

    public SamplingLauncher(Accelerator accelerator)
    {
        _sample = accelerator.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<float>, float, int, float, int>(SamplingKernels.Sample);
        _groupSize = LaunchShapes.RowGroupSize(accelerator);
    }

    public void Sample(ArrayView<int> tokens, ArrayView<float> logits, ArrayView<float> uniforms, float temperature, int topK, float topP, int B, int V)
    {
        const string op = "sample";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "V", V);
        OpShapes.AtLeast(op, "tokens", tokens.Length, B);
        OpShapes.AtLeast(op, "logits", logits.Length, (long)B * V);
        if (temperature > 0f) OpShapes.AtLeast(op, "uniforms", uniforms.Length, B);
        if (float.IsNaN(temperature) || float.IsNaN(topP))
            throw new ArgumentException($"{op}: temperature and topP must be numbers, got {temperature} and {topP}");
        // Greedy decoding reads no uniforms; a placeholder keeps the kernel argument valid.
        var u = uniforms.Length > 0 ? uniforms : logits;
        _sample(new KernelConfig(B, _groupSize), tokens, logits, u, temperature, topK, topP, V);
    }
}
