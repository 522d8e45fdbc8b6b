using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Device-side reductions shared by the row kernels (layernorm, token log-likelihood, sampling,
/// reductions). A warp reduces with XOR-butterfly shuffles, so every lane ends with the same value
/// (float addition is commutative, so lane order does not change the bits); a group reduces its
/// warps' results through a small shared array that every thread then sums in the same order. Every
/// thread of a group therefore sees bit-identical results, which the sampling kernel relies on to
/// take uniform branches around barriers.
///
/// Requirements: the group size is a multiple of the warp size (see <see cref="LaunchShapes"/>) and
/// at most <see cref="MaxWarps"/> warps; every thread of the group calls the group functions.
/// Each group function contains two barriers: one before reading the warp results, one after, so the
/// shared array can be reused at once.
/// </summary>
internal static class GroupReductions
{
    /// <summary>Warps per group the shared arrays hold: 1024 threads of 32 on CUDA, 256 of 4 on the emulator.</summary>
    public const int MaxWarps = 64;

    public static float WarpSum(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    public static float WarpMax(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = MathF.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    public static float WarpMin(float value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = MathF.Min(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    public static int WarpSum(int value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    public static int WarpMin(int value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = Math.Min(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    public static int WarpMax(int value)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
            value = Math.Max(value, Warp.ShuffleXor(value, offset));
        return value;
    }

    private static int WarpsInGroup => Group.DimX / Warp.WarpSize;

    /// <summary>Sum over the group. scratch: shared, at least <see cref="MaxWarps"/> elements.</summary>
    public static float GroupSum(float value, ArrayView<float> scratch)
    {
        value = WarpSum(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        float total = 0f;
        for (int w = 0; w < WarpsInGroup; w++) total += scratch[w];
        Group.Barrier();
        return total;
    }

    public static float GroupMax(float value, ArrayView<float> scratch)
    {
        value = WarpMax(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        float result = scratch[0];
        for (int w = 1; w < WarpsInGroup; w++) result = MathF.Max(result, scratch[w]);
        Group.Barrier();
        return result;
    }

    public static float GroupMin(float value, ArrayView<float> scratch)
    {
        value = WarpMin(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        float result = scratch[0];
        for (int w = 1; w < WarpsInGroup; w++) result = MathF.Min(result, scratch[w]);
        Group.Barrier();
        return result;
    }

    public static int GroupSum(int value, ArrayView<int> scratch)
    {
        value = WarpSum(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        int total = 0;
        for (int w = 0; w < WarpsInGroup; w++) total += scratch[w];
        Group.Barrier();
        return total;
    }

    public static int GroupMin(int value, ArrayView<int> scratch)
    {
        value = WarpMin(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        int result = scratch[0];
        for (int w = 1; w < WarpsInGroup; w++) result = Math.Min(result, scratch[w]);
        Group.Barrier();
        return result;
    }

    public static int GroupMax(int value, ArrayView<int> scratch)
    {
        value = WarpMax(value);
        if (Warp.IsFirstLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        int result = scratch[0];
        for (int w = 1; w < WarpsInGroup; w++) result = Math.Max(result, scratch[w]);
        Group.Barrier();
        return result;
    }

    /// <summary>
    /// Inclusive prefix sum over the group in thread order: a Hillis–Steele scan inside each warp
    /// (shuffle-up), then each thread adds the totals of the warps before it. Total is the group's sum,
    /// the same in every thread.
    /// </summary>
    public static ScanResult GroupInclusiveScan(float value, ArrayView<float> scratch)
    {
        int lane = Warp.LaneIdx;
        for (int offset = 1; offset < Warp.WarpSize; offset <<= 1)
        {
            float up = Warp.ShuffleUp(value, offset);
            if (lane >= offset) value += up;
        }
        if (Warp.IsLastLane) scratch[Warp.WarpIdx] = value;
        Group.Barrier();
        float before = 0f, total = 0f;
        int warp = Warp.WarpIdx;
        for (int w = 0; w < WarpsInGroup; w++)
        {
            float t = scratch[w];
            if (w < warp) before += t;
            total += t;
        }
        Group.Barrier();
        return new ScanResult(before + value, total);
    }

    /// <summary>A running softmax normaliser: the maximum seen and Σ exp(x − maximum).</summary>
    public readonly struct MaxSum
    {
        public MaxSum(float max, float sum)
        {
            Max = max;
            Sum = sum;
        }

        public float Max { get; }
        public float Sum { get; }

        public static MaxSum Empty => new(float.NegativeInfinity, 0f);

        /// <summary>Adds one value (the online-softmax update).</summary>
        public MaxSum Add(float x)
        {
            if (x == float.NegativeInfinity) return this;
            if (x > Max) return new MaxSum(x, Sum * MathF.Exp(Max - x) + 1f);
            return new MaxSum(Max, Sum + MathF.Exp(x - Max));
        }

        /// <summary>Merges two partial normalisers; symmetric, so lanes agree bit for bit.</summary>
        public static MaxSum Combine(float maxA, float sumA, float maxB, float sumB)
        {
            float max = MathF.Max(maxA, maxB);
            if (max == float.NegativeInfinity) return new MaxSum(max, 0f);
            float a = maxA == float.NegativeInfinity ? 0f : sumA * MathF.Exp(maxA - max);
            float b = maxB == float.NegativeInfinity ? 0f : sumB * MathF.Exp(maxB - max);
            return new MaxSum(max, a + b);
        }
    }

    public static MaxSum GroupMaxSum(MaxSum value, ArrayView<float> maxScratch, ArrayView<float> sumScratch)
    {
        float max = value.Max, sum = value.Sum;
        for (int offset = Warp.WarpSize / 2; offset > 0; offset >>= 1)
        {
            float otherMax = Warp.ShuffleXor(max, offset);
            float otherSum = Warp.ShuffleXor(sum, offset);
            var merged = MaxSum.Combine(max, sum, otherMax, otherSum);
            max = merged.Max;
            sum = merged.Sum;
        }
        if (Warp.IsFirstLane)
        {
            maxScratch[Warp.WarpIdx] = max;
            sumScratch[Warp.WarpIdx] = sum;
        }
        Group.Barrier();
        max = maxScratch[0];
        sum = sumScratch[0];
        for (int w = 1; w < WarpsInGroup; w++)
        {
            var merged = MaxSum.Combine(max, sum, maxScratch[w], sumScratch[w]);
            max = merged.Max;
            sum = merged.Sum;
        }
        Group.Barrier();
        return new MaxSum(max, sum);
    }
}

internal readonly struct ScanResult
{
    public ScanResult(float inclusive, float total)
    {
        Inclusive = inclusive;
        Total = total;
    }

    /// <summary>This thread's value plus those of every earlier thread.</summary>
    public float Inclusive { get; }

    /// <summary>The whole group's sum.</summary>
    public float Total { get; }
}

/// <summary>Host-side launch shapes shared by the launchers.</summary>
public static class LaunchShapes
{
    /// <summary>
    /// Threads per group of a one-group-per-row kernel on a GPU: 8 warps of 32, enough loads in flight
    /// for a vocabulary row and small enough to keep several groups per multiprocessor. The row kernels'
    /// [GpuKernel] marks name it too, so the resource report uses the size launched.
    /// </summary>
    public const int GpuRowGroupSize = 256;

    /// <summary>
    /// Threads per group for a one-group-per-row kernel: <see cref="GpuRowGroupSize"/> on a GPU, and
    /// 4 warps on the CPU emulator, where every barrier costs 0.15–2 ms and fewer threads meet sooner.
    /// Always a multiple of the warp size and within <see cref="GroupReductions.MaxWarps"/> warps.
    /// </summary>
    public static int RowGroupSize(Accelerator accelerator)
    {
        int warp = accelerator.WarpSize;
        int preferred = accelerator.AcceleratorType == AcceleratorType.CPU ? 4 * warp : GpuRowGroupSize;
        int size = Math.Min(preferred, accelerator.MaxNumThreadsPerGroup);
        size = Math.Min(size, GroupReductions.MaxWarps * warp);
        size -= size % warp;
        if (size <= 0)
            throw new NotSupportedException($"accelerator {accelerator.Name}: warp {warp} and max group {accelerator.MaxNumThreadsPerGroup} leave no whole warp");
        return size;
    }
}
