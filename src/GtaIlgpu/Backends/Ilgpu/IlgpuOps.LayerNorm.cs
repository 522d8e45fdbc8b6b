using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private LayerNormLauncher? _layerNorm;
    private LayerNormLauncher LayerNorm => _layerNorm ??= new LayerNormLauncher(_accelerator);

    public void LayerNormForward(BufferView<float> output, BufferView<float> mean, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C) =>
        LayerNorm.Forward(output.Device(), mean.Device(), rstd.Device(), input.Device(), weight.Device(), bias.Device(), N, C);

    public void LayerNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> mean, BufferView<float> rstd, int N, int C) =>
        LayerNorm.Backward(dinput.Device(), dweight.Device(), dbias.Device(), doutput.Device(), input.Device(), weight.Device(), mean.Device(), rstd.Device(), N, C);
}
