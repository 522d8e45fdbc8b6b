using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Row gather and scatter: copy the rows named by an index list between a full (rows, width) matrix and
/// a compact (R, width) one. The LM head uses them to run its matmul over the R positions that have a
/// target instead of all B·T (in GTA batches most positions are prompt, and the head is half the FLOPs).
///
/// Technique: one thread per element of the compact matrix (r = i / width, column = i % width), so
/// consecutive threads touch consecutive floats of one row on both sides and the accesses coalesce.
/// Memory-bound like the elementwise ops; the row indices are read from device memory and must be in
/// range and (for scatter) distinct: the host checks them once when they are set, not per launch.
/// </summary>
public static class RowGatherKernels
{
    [GpuKernel]
    public static void Gather(Index1D i, ArrayView<float> destination, ArrayView<float> source, ArrayView<int> rows, int width)
    {
        int r = i / width, column = i - r * width;
        destination[i] = source[rows[r] * width + column];
    }

    [GpuKernel]
    public static void Scatter(Index1D i, ArrayView<float> destination, ArrayView<float> source, ArrayView<int> rows, int width)
    {
        int r = i / width, column = i - r * width;
        destination[rows[r] * width + column] = source[i];
    }
}

/// <summary>Loads the row gather/scatter kernels once; validates every launch on the host.</summary>
public sealed class RowGatherLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> _gather;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int> _scatter;

    public RowGatherLauncher(Accelerator accelerator)
    {
        _gather = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(RowGatherKernels.Gather);
        _scatter = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int>(RowGatherKernels.Scatter);
    }

    public void Gather(ArrayView<float> destination, ArrayView<float> source, ArrayView<int> rows, int R, int width)
    {
        OpShapes.RowGather("gather_rows", R, width, compact: destination.Length, full: source.Length, rows.Length);
        if (R > 0) _gather(R * width, destination, source, rows, width);
    }

    public void Scatter(ArrayView<float> destination, ArrayView<float> source, ArrayView<int> rows, int R, int width)
    {
        OpShapes.RowGather("scatter_rows", R, width, compact: source.Length, full: destination.Length, rows.Length);
        if (R > 0) _scatter(R * width, destination, source, rows, width);
    }
}
