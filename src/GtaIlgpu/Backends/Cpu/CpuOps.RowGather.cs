using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>Row gather/scatter for the LM head over selected positions: one row copy per work item.</summary>
public sealed partial class CpuOps
{
    public void GatherRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width) =>
        RowCopy("gather_rows", destination, source, rows, R, width, gather: true);

    public void ScatterRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width) =>
        RowCopy("scatter_rows", destination, source, rows, R, width, gather: false);

    private static void RowCopy(string op, BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width, bool gather)
    {
        var (compact, full) = gather ? (destination, source) : (source, destination);
        OpShapes.RowGather(op, R, width, compact.Length, full.Length, rows.Length);
        if (R == 0) return;
        OpShapes.RowIndices(op, rows.Span()[..R], (int)(full.Length / width));
        CpuLoops.Rows(R, width, new RowCopyKernel(new HostArray<float>(destination), new HostArray<float>(source), new HostArray<int>(rows), width, gather));
    }

    private readonly struct RowCopyKernel(HostArray<float> destination, HostArray<float> source, HostArray<int> rows, int width, bool Gather) : IRowKernel
    {
        public void Run(int r)
        {
            if (Gather) source.Slice(rows[r] * width, width).CopyTo(destination.Slice(r * width, width));
            else source.Slice(r * width, width).CopyTo(destination.Slice(rows[r] * width, width));
        }
    }
}
