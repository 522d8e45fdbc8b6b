using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private EncoderLauncher? _encoder;
    private EncoderLauncher Encoder => _encoder ??= new EncoderLauncher(_accelerator);

    public void EncoderForward(BufferView<float> output, BufferView<int> tokens, BufferView<float> wte, BufferView<float> wpe, int B, int T, int C) =>
        Encoder.Forward(output.Device(), tokens.Device(), wte.Device(), wpe.Device(), B, T, C);

    public void EncoderBackward(BufferView<float> dwte, BufferView<float> dwpe, BufferView<float> doutput, BufferView<int> tokens, int B, int T, int C) =>
        Encoder.Backward(dwte.Device(), dwpe.Device(), doutput.Device(), tokens.Device(), B, T, C);

    public void EncoderDecodeForward(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<float> wte, BufferView<float> wpe, int B, int C) =>
        Encoder.DecodeForward(output.Device(), tokens.Device(), positions.Device(), wte.Device(), wpe.Device(), B, C);
}
