using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Column blocks of a fused matmul's rows (LoRA on q, k, v, gate or up): add a module's scaled update into
/// its columns, or take its columns out (scaled) as a compact matrix. One row per work item.
/// </summary>
public sealed partial class CpuOps
{
    public void AddColumns(BufferView<float> output, int outputWidth, int column, BufferView<float> source, int width, int N, float scale)
    {
        OpShapes.ColumnBlock("add_columns", N, outputWidth, column, width, "output", output.Length, "source", source.Length);
        CpuLoops.Rows(N, width, new ColumnsKernel(new HostArray<float>(output), outputWidth, new HostArray<float>(source), width, column, scale, Add: true));
    }

    public void TakeColumns(BufferView<float> destination, BufferView<float> source, int sourceWidth, int column, int width, int N, float scale)
    {
        OpShapes.ColumnBlock("take_columns", N, sourceWidth, column, width, "source", source.Length, "destination", destination.Length);
        CpuLoops.Rows(N, width, new ColumnsKernel(new HostArray<float>(source), sourceWidth, new HostArray<float>(destination), width, column, scale, Add: false));
    }

    /// <summary>Add: wide[n, column + j] += scale·narrow[n, j]. Take: narrow[n, j] = scale·wide[n, column + j].</summary>
    private readonly struct ColumnsKernel(HostArray<float> wide, int wideWidth, HostArray<float> narrow, int width, int column, float scale, bool Add) : IRowKernel
    {
        public void Run(int n)
        {
            var block = wide.Slice(n * wideWidth + column, width);
            var row = narrow.Slice(n * width, width);
            if (Add) CpuSimd.Axpy(scale, row, block);
            else CpuSimd.Scale(block, scale, row);
        }
    }
}
