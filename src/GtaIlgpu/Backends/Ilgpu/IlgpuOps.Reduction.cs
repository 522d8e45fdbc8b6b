using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    // Its small device buffer is freed when the backend disposes the accelerator.
    private ReductionLauncher? _reduction;
    private ReductionLauncher Reduction => _reduction ??= new ReductionLauncher(_accelerator);

    public float SumOfSquares(BufferView<float> x) => Reduction.SumOfSquares(x.Device());

    public float Dot(BufferView<float> a, BufferView<float> b) => Reduction.Dot(a.Device(), b.Device());
}
