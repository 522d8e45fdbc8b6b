using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>Row gather/scatter for the LM head over selected positions: one row copy per work item.</summary>
public sealed partial class CpuOps
{
    public void GatherRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width)
    {
        const string op = "gather_rows";
        OpShapes.RowGather(op, R, width, compact: destination.Length, full: source.Length, rows.Length);
        if (R == 0) return;
        OpShapes.RowIndices(op, rows.Span()[..R], (int)(source.Length / width));
        CpuLoops.Rows(R, width, new RowCopyKernel(new HostArray<float>(destination), new HostArray<float>(source), new HostArray<int>(rows), width, Gather: true));
    }

    public void ScatterRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width)
    {
        const string op = "scatter_rows";
        OpShapes.RowGather(op, R, width, compact: source.Length, full: destination.Length, rows.Length);
        if (R == 0) return;
        OpShapes.RowIndices(op, rows.Span()[..R], (int)(destination.Length / width));
        CpuLoops.Rows(R, width, new RowCopyKernel(new HostArray<float>(destination), new HostArray<float>(source), new HostArray<int>(rows), width, Gather: false));
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
