namespace GtaIlgpu.Backends.Ilgpu;

// PLACEHOLDER while the norms ops are written on their own branch; this file is deleted when they land.
internal sealed partial class IlgpuOps
{
    public void RmsNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, int N, int C, float eps) => throw new NotImplementedException();
    public void RmsNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> rstd, int N, int C) => throw new NotImplementedException();
    public void QkNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, int N, int NH, int NKV, int hs, float eps) => throw new NotImplementedException();
    public void QkNormBackward(BufferView<float> dqkv, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, int N, int NH, int NKV, int hs) => throw new NotImplementedException();
    public void RotaryForward(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) => throw new NotImplementedException();
    public void RotaryBackward(BufferView<float> dqkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) => throw new NotImplementedException();
    public void SwiGluForward(BufferView<float> output, BufferView<float> gateUp, int N, int I) => throw new NotImplementedException();
    public void SwiGluBackward(BufferView<float> dgateUp, BufferView<float> doutput, BufferView<float> gateUp, int N, int I) => throw new NotImplementedException();
}
