using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Column blocks of a fused matmul's rows, for LoRA on one module (q, k, v, gate or up) of a fused
/// projection: Add puts a module's scaled low-rank update into its columns of the fused output; Take
/// copies (scaled) a module's columns of the fused output gradient out as a compact matrix for the
/// adapter's backward.
///
/// Technique: one thread per element of the compact (N, width) matrix (n = i / width, j = i % width), so
/// consecutive threads touch consecutive floats of a row on both sides and the accesses coalesce;
/// memory-bound like the elementwise ops. Every index is in range once the host has checked the shapes.
/// </summary>
public static class ColumnKernels
{
    /// <summary>output[n·outputWidth + column + j] += scale·source[n·width + j].</summary>
    [GpuKernel]
    public static void Add(Index1D i, ArrayView<float> output, ArrayView<float> source, int outputWidth, int column, int width, float scale)
    {
        int n = i / width, j = i - n * width;
        output[n * outputWidth + column + j] += scale * source[i];
    }

    /// <summary>destination[n·width + j] = scale·source[n·sourceWidth + column + j].</summary>
    [GpuKernel]
    public static void Take(Index1D i, ArrayView<float> destination, ArrayView<float> source, int sourceWidth, int column, int width, float scale)
    {
        int n = i / width, j = i - n * width;
        destination[i] = scale * source[n * sourceWidth + column + j];
    }
}

/// <summary>Loads the column-block kernels once; validates every launch on the host.</summary>
public sealed class ColumnLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, float> _add;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, float> _take;

    public ColumnLauncher(Accelerator accelerator)
    {
        _add = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, float>(ColumnKernels.Add);
        _take = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, float>(ColumnKernels.Take);
    }

    public void Add(ArrayView<float> output, int outputWidth, int column, ArrayView<float> source, int width, int N, float scale)
    {
        OpShapes.ColumnBlock("add_columns", N, outputWidth, column, width, "output", output.Length, "source", source.Length);
        _add(N * width, output, source, outputWidth, column, width, scale);
    }

    public void Take(ArrayView<float> destination, ArrayView<float> source, int sourceWidth, int column, int width, int N, float scale)
    {
        OpShapes.ColumnBlock("take_columns", N, sourceWidth, column, width, "source", source.Length, "destination", destination.Length);
        _take(N * width, destination, source, sourceWidth, column, width, scale);
    }
}
