using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private AttentionLauncher? _attention;
    private AttentionLauncher Attention => _attention ??= new AttentionLauncher(_accelerator);

    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs) =>
        Attention.Forward(output.Device(), att.Device(), qkv.Device(), B, T, NH, NKV, hs);

    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int NH, int NKV, int hs) =>
        Attention.Backward(dqkv.Device(), scratch.Device(), doutput.Device(), qkv.Device(), att.Device(), B, T, NH, NKV, hs);

    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT) =>
        Attention.KvCacheStore(kvCache.Device(), qkv.Device(), B, T, NH, NKV, hs, maxT);

    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int NH, int NKV, int hs, int maxT) =>
        Attention.Decode(output.Device(), kvCache.Device(), qkv.Device(), positions.Device(), B, NH, NKV, hs, maxT);
}
