using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private AttentionLauncher? _attention;
    private AttentionLauncher Attention => _attention ??= new AttentionLauncher(_accelerator);

    public void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int C, int NH) =>
        Attention.Forward(output.Device(), att.Device(), qkv.Device(), B, T, C, NH);

    public void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int C, int NH) =>
        Attention.Backward(dqkv.Device(), scratch.Device(), doutput.Device(), qkv.Device(), att.Device(), B, T, C, NH);

    public void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int C, int maxT) =>
        Attention.KvCacheStore(kvCache.Device(), qkv.Device(), B, T, C, maxT);

    public void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int C, int NH, int maxT) =>
        Attention.Decode(output.Device(), kvCache.Device(), qkv.Device(), positions.Device(), B, C, NH, maxT);
}
