using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private RowGatherLauncher? _rowGather;
    private RowGatherLauncher RowGather => _rowGather ??= new RowGatherLauncher(_accelerator);

    public void GatherRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width) =>
        RowGather.Gather(destination.Device(), source.Device(), rows.Device(), R, width);

    public void ScatterRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width) =>
        RowGather.Scatter(destination.Device(), source.Device(), rows.Device(), R, width);
}
