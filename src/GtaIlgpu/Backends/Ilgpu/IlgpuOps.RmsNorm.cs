using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private RmsNormLauncher? _rmsNorm;
    private RmsNormLauncher RmsNorm => _rmsNorm ??= new RmsNormLauncher(_accelerator);

    public void RmsNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, int N, int C, float eps) =>
        RmsNorm.Forward(output.Device(), rstd.Device(), input.Device(), weight.Device(), N, C, eps);

    public void RmsNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> rstd, int N, int C) =>
        RmsNorm.Backward(dinput.Device(), dweight.Device(), doutput.Device(), input.Device(), weight.Device(), rstd.Device(), N, C);

    public void QkNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, int N, int NH, int NKV, int hs, float eps) =>
        RmsNorm.QkForward(output.Device(), rstd.Device(), qkv.Device(), qWeight.Device(), kWeight.Device(), N, NH, NKV, hs, eps);

    public void QkNormBackward(BufferView<float> dqkv, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> qkv,
        BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, int N, int NH, int NKV, int hs) =>
        RmsNorm.QkBackward(dqkv.Device(), dqWeight.Device(), dkWeight.Device(), doutput.Device(), qkv.Device(), qWeight.Device(), kWeight.Device(), rstd.Device(), N, NH, NKV, hs);
}
