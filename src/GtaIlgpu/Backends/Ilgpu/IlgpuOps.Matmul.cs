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

    // The bf16 kernel has a launcher of its own, so a model without bf16 weights never compiles it.
    private MatmulBf16Launcher? _matmulBf16;
    private MatmulBf16Launcher MatmulBf16 => _matmulBf16 ??= new MatmulBf16Launcher(_accelerator);

    public void MatmulForwardBf16(BufferView<float> output, BufferView<float> input, BufferView<ushort> weight, BufferView<float> bias, int N, int C, int OC) =>
        MatmulBf16.Forward(output.Device(), input.Device(), weight.Device(), bias.Device(), N, C, OC);

    public void MatmulBackwardInputBf16(BufferView<float> dinput, BufferView<float> doutput, BufferView<ushort> weight, int N, int C, int OC) =>
        MatmulBf16.BackwardInput(dinput.Device(), doutput.Device(), weight.Device(), N, C, OC);
}
