using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Token sampling for rollouts as Hugging Face's <c>generate</c> does it — temperature, then top-k, then
/// top-p over the renormalised top-k survivors — one group per row of logits. The contract, ties
/// included, is <c>IOps.Sample</c>'s.
///
/// No sort. The contract filters the scaled logits s = fl(x/τ) (rounded to float, as
/// TemperatureLogitsWarper divides), and both filters keep s ≥ some threshold: top-k keeps
/// s ≥ (k-th largest s), and because the survivors' probabilities are monotone in s, top-p keeps
/// s ≥ some s too. Division by τ &gt; 0 never reverses order, so each threshold is found on x and then
/// lowered to the smallest x whose s ties with it (a scalar search, no pass over the row): the passes
/// compare raw logits and never divide. Each threshold is found by bisection over the 32-bit keys of the
/// floats (the bits of a float, with negatives flipped, order like unsigned ints), each step one pass
/// over the row and one group reduction:
/// <list type="bullet">
/// <item>top-k: the largest key K with count(key(x) ≥ K) ≥ k, which is the key of the k-th largest x,
/// ties included.</item>
/// <item>top-p: the largest key K ≥ the top-k threshold with Σ_{key(x) ≥ K} e^{(x−max)/τ} ≥ topP·W, W
/// the weight of the top-k survivors (so the mass is measured on the renormalised survivors). That key
/// is the crossing token's: the smallest set of leading tokens whose mass reaches topP, plus every
/// token tied with the last of them. If rounding leaves even all survivors short, the bisection never
/// moves and all of them are kept.</item>
/// </list>
/// At most 32 steps each, so the cost is O(32·V/threads) per row, against O(V log V) for a sort, and
/// no scratch memory: the row is re-read on every pass.
///
/// The draw is an inverse CDF in vocabulary order: the row is scanned in chunks of one element per
/// thread; a group inclusive scan gives each kept element its running mass, a group min finds the
/// first one whose running mass exceeds u·(kept mass), and the chunk loop stops there. If rounding
/// leaves no such index (u close to 1), the last kept index of positive weight is taken, as in the
/// contract, so a token of probability zero is never drawn.
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

        // Thresholds live on x: s = fl(x/τ) never decreases as x grows, so {s ≥ t} = {x ≥ the smallest x
        // with fl(x/τ) ≥ t}, found without touching the row (see LowestLogitScalingTo). The passes need
        // no division; the weights use a multiply by 1/τ (they are summed, never compared for ties).
        float invTemperature = 1f / temperature;
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

        // top-k: the largest key whose at-or-above count still reaches k is the k-th largest x; every x
        // whose s ties with that one's survives.
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
            threshold = LowestLogitScalingTo(lo, temperature);
        }

        // top-p: mass measured against the top-k survivors' weight, i.e. on their renormalised softmax.
        if (topP < 1f)
        {
            float survivors = 0f;
            for (int i = tid; i < V; i += threads)
            {
                float x = logits[offset + i];
                if (Key(x) >= threshold) survivors += Weight(x, max, invTemperature);
            }
            float need = topP * GroupReductions.GroupSum(survivors, floatScratch);
            long lo = threshold, hi = maxKey + 1;
            while (hi - lo > 1)
            {
                long mid = lo + (hi - lo) / 2;
                float mass = 0f;
                for (int i = tid; i < V; i += threads)
                {
                    float x = logits[offset + i];
                    if (Key(x) >= mid) mass += Weight(x, max, invTemperature);
                }
                if (GroupReductions.GroupSum(mass, floatScratch) >= need) lo = mid;
                else hi = mid;
            }
            threshold = LowestLogitScalingTo(lo, temperature);
        }

        float keptLocal = 0f;
        int lastLocal = -1;
        for (int i = tid; i < V; i += threads)
        {
            float x = logits[offset + i];
            if (Key(x) >= threshold)
            {
                float w = Weight(x, max, invTemperature);
                keptLocal += w;
                if (w > 0f) lastLocal = i;
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
                if (keep) w = Weight(x, max, invTemperature);
            }
            var scan = GroupReductions.GroupInclusiveScan(w, floatScratch);
            int candidate = keep && running + scan.Inclusive > goal ? i : int.MaxValue;
            chosen = GroupReductions.GroupMin(candidate, intScratch);
            if (chosen != int.MaxValue) break;
            running += scan.Total;
        }
        if (tid == 0) tokens[b] = chosen != int.MaxValue ? chosen : Math.Max(lastKept, 0);
    }

    /// <summary>Unnormalised probability e^{s − max s} = e^{(x − max x)/τ}.</summary>
    private static float Weight(float x, float max, float invTemperature) => MathF.Exp((x - max) * invTemperature);

    /// <summary>
    /// The key of the smallest float x with fl(x/τ) ≥ fl(FromKey(key)/τ): the lowest logit whose scaled
    /// value reaches the scaled value of key's logit. Division by τ &gt; 0 rounds monotonically, so the
    /// condition is monotone in x and a scalar bisection over keys finds it; every thread computes the
    /// same value and no memory is read.
    /// </summary>
    private static long LowestLogitScalingTo(long key, float temperature)
    {
        float target = FromKey(key) / temperature;
        long lo = Key(float.NegativeInfinity) - 1, hi = key; // below −∞ lie only NaNs; key itself qualifies
        while (hi - lo > 1)
        {
            long mid = lo + (hi - lo) / 2;
            if (FromKey(mid) / temperature >= target) hi = mid;
            else lo = mid;
        }
        return hi;
    }

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

    /// <summary>The float whose key this is (the inverse of <see cref="Key"/>).</summary>
    public static float FromKey(long key)
    {
        uint k = (uint)key;
        return Interop.IntAsFloat((k & 0x8000_0000u) != 0 ? k & 0x7FFF_FFFFu : ~k);
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
