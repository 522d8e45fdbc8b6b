using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private RotaryLauncher? _rotary;
    private RotaryLauncher Rotary => _rotary ??= new RotaryLauncher(_accelerator);

    public void RotaryForward(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotary.Forward(qkv.Device(), positions.Device(), invFreq.Device(), N, NH, NKV, hs);

    public void RotaryBackward(BufferView<float> dqkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotary.Backward(dqkv.Device(), positions.Device(), invFreq.Device(), N, NH, NKV, hs);
}
