using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private ColumnLauncher? _columns;
    private ColumnLauncher Columns => _columns ??= new ColumnLauncher(_accelerator);

    public void AddColumns(BufferView<float> output, int outputWidth, int column, BufferView<float> source, int width, int N, float scale) =>
        Columns.Add(output.Device(), outputWidth, column, source.Device(), width, N, scale);

    public void TakeColumns(BufferView<float> destination, BufferView<float> source, int sourceWidth, int column, int width, int N, float scale) =>
        Columns.Take(destination.Device(), source.Device(), sourceWidth, column, width, N, scale);
}
