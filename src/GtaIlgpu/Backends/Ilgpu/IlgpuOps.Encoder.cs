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

    private EncoderBf16Launcher? _encoderBf16;
    private EncoderBf16Launcher EncoderBf16 => _encoderBf16 ??= new EncoderBf16Launcher(_accelerator);

    public void EncoderForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int T, int C) =>
        EncoderBf16.Forward(output.Device(), tokens.Device(), wte.Device(), wpe.Device(), B, T, C);

    public void EncoderDecodeForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int C) =>
        EncoderBf16.DecodeForward(output.Device(), tokens.Device(), positions.Device(), wte.Device(), wpe.Device(), B, C);
}
