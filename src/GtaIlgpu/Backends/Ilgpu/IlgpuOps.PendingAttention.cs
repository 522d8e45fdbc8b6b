namespace GtaIlgpu.Backends.Ilgpu;

// PLACEHOLDER while the attention ops are written on their own branch; this file is deleted when they land.
internal sealed partial class IlgpuOps
{
    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs) => throw new NotImplementedException();
    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int NH, int NKV, int hs) => throw new NotImplementedException();
    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT) => throw new NotImplementedException();
    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int NH, int NKV, int hs, int maxT) => throw new NotImplementedException();
}
