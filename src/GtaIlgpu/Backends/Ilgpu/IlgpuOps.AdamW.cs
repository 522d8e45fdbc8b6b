using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private AdamWLauncher? _adamW;
    private AdamWLauncher AdamWKernel => _adamW ??= new AdamWLauncher(_accelerator);

    public void AdamW(BufferView<float> param, BufferView<float> grad, BufferView<float> m, BufferView<float> v, float learningRate, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale) =>
        AdamWKernel.Step(param.Device(), grad.Device(), m.Device(), v.Device(), learningRate, beta1, beta2, eps, weightDecay, step, gradScale);
}
