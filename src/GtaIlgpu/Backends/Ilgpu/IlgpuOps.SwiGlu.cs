using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private SwiGluLauncher? _swiGlu;
    private SwiGluLauncher SwiGlu => _swiGlu ??= new SwiGluLauncher(_accelerator);

    public void SwiGluForward(BufferView<float> output, BufferView<float> gateUp, int N, int I) => SwiGlu.Forward(output.Device(), gateUp.Device(), N, I);

    public void SwiGluBackward(BufferView<float> dgateUp, BufferView<float> doutput, BufferView<float> gateUp, int N, int I) =>
        SwiGlu.Backward(dgateUp.Device(), doutput.Device(), gateUp.Device(), N, I);
}
