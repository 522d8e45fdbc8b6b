using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private MatmulLauncher? _matmul;
    private MatmulLauncher Matmul => _matmul ??= new MatmulLauncher(_accelerator);

    public void MatmulForward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC) =>
        Matmul.Forward(output.Device(), input.Device(), weight.Device(), bias.Device(), N, C, OC);

    public void MatmulBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC) =>
        Matmul.Backward(dinput.Device(), dweight.Device(), dbias.Device(), doutput.Device(), input.Device(), weight.Device(), N, C, OC);
}
