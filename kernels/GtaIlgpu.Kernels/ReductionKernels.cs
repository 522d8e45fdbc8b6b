using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Flat reductions over all parameters: Σ x² (the global gradient norm) and Σ a·b (the cosine between
/// the SFT and RL gradients).
///
/// Two passes, no atomics, so the result is deterministic run to run: pass 1 launches a fixed number
/// of groups (a few per multiprocessor), each thread accumulates a grid-stride slice in a float
/// register (loads coalesce), the group reduces with warp shuffles plus a shared array and writes one
/// partial sum; pass 2 is one group that sums the partials into element 0 of the launcher's small
/// device buffer, and the launcher downloads that one float.
/// Indices are 64-bit inside the grid-stride loop so the stride cannot overflow near 2³¹ elements.
/// </summary>
public static class ReductionKernels
{
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void SumOfSquaresPartials(ArrayView<float> x, ArrayView<float> partials, int n)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        long stride = (long)Grid.DimX * Group.DimX;
        float sum = 0f;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
        {
            float value = x[i];
            sum += value * value;
        }
        sum = GroupReductions.GroupSum(sum, scratch);
        if (Group.IdxX == 0) partials[Grid.IdxX] = sum;
    }

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void DotPartials(ArrayView<float> a, ArrayView<float> b, ArrayView<float> partials, int n)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        long stride = (long)Grid.DimX * Group.DimX;
        float sum = 0f;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += stride)
            sum += a[i] * b[i];
        sum = GroupReductions.GroupSum(sum, scratch);
        if (Group.IdxX == 0) partials[Grid.IdxX] = sum;
    }

    /// <summary>One group: result[0] = Σ partials[0..count).</summary>
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void SumPartials(ArrayView<float> partials, ArrayView<float> result, int count)
    {
        var scratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        float sum = 0f;
        for (int i = Group.IdxX; i < count; i += Group.DimX) sum += partials[i];
        sum = GroupReductions.GroupSum(sum, scratch);
        if (Group.IdxX == 0) result[0] = sum;
    }
}

/// <summary>Owns a small device buffer (the partial sums and the result); freed with the accelerator or by Dispose.</summary>
public sealed class ReductionLauncher : IDisposable
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> _sumOfSquares;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _dot;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int> _sumPartials;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _scratch;
    private readonly float[] _result = new float[1];
    private readonly int _groupSize;
    private readonly int _maxGroups;

    public ReductionLauncher(Accelerator accelerator)
    {
        _sumOfSquares = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReductionKernels.SumOfSquaresPartials);
        _dot = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ReductionKernels.DotPartials);
        _sumPartials = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int>(ReductionKernels.SumPartials);
        _groupSize = LaunchShapes.RowGroupSize(accelerator);
        // Enough groups to fill the machine (4 per multiprocessor), few enough for one group to finish.
        _maxGroups = Math.Clamp(4 * accelerator.NumMultiprocessors, 1, 1024);
        _scratch = accelerator.Allocate1D<float>(_maxGroups + 1);
    }

    public float SumOfSquares(ArrayView<float> x)
    {
        const string op = "sum_of_squares";
        long n = x.Length;
        OpShapes.AtLeast(op, "x", n, n);
        if (n == 0) return 0f;
        int groups = Groups(n);
        _sumOfSquares(new KernelConfig(groups, _groupSize), x, Partials, (int)n);
        return Finish(groups);
    }

    public float Dot(ArrayView<float> a, ArrayView<float> b)
    {
        const string op = "dot";
        long n = a.Length;
        OpShapes.AtLeast(op, "a", n, n);
        if (b.Length != n) throw new ArgumentException($"{op}: a has {n} elements but b has {b.Length}");
        if (n == 0) return 0f;
        int groups = Groups(n);
        _dot(new KernelConfig(groups, _groupSize), a, b, Partials, (int)n);
        return Finish(groups);
    }

    public void Dispose() => _scratch.Dispose();

    private ArrayView<float> Partials => _scratch.View.SubView(1, _maxGroups);

    private int Groups(long n) => (int)Math.Min(_maxGroups, (n + _groupSize - 1) / _groupSize);

    private float Finish(int groups)
    {
        var result = _scratch.View.SubView(0, 1);
        _sumPartials(new KernelConfig(1, _groupSize), Partials, result, groups);
        result.CopyToCPU(_result);
        return _result[0];
    }
}
