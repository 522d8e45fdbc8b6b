using GtaIlgpu.Backends;
using GtaIlgpu.Kernels;

// In the root namespace, not GtaIlgpu.Backends, so that every caller inside GtaIlgpu.* (model, benchmarks,
// tests) sees these extensions without a using directive: the GPT-2 call sites compile unchanged.
namespace GtaIlgpu;

/// <summary>
/// GPT-2's multi-head attention signatures, (C, NH) with head size C/NH, on top of the grouped-query ops
/// of <see cref="IOps"/>: the case NKV = NH, hs = C/NH, so qkv rows are (B,T,3C) and the KV cache (B,maxT,2C).
/// </summary>
public static class AttentionOpsExtensions
{
    /// <summary>output (B,T,C), att (B,NH,T,T) from qkv (B,T,3C): <see cref="IOps.AttentionForward(BufferView{float}, BufferView{float}, BufferView{float}, int, int, int, int, int)"/> with NKV = NH.</summary>
    public static void AttentionForward(this IOps ops, BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int C, int NH) =>
        ops.AttentionForward(output, att, qkv, B, T, NH, NH, HeadSize("attention_forward", C, NH));

    /// <summary>Accumulates dqkv (B,T,3C); scratch (B,NH,T,T) is overwritten freely.</summary>
    public static void AttentionBackward(this IOps ops, BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int C, int NH) =>
        ops.AttentionBackward(dqkv, scratch, doutput, qkv, att, B, T, NH, NH, HeadSize("attention_backward", C, NH));

    /// <summary>Copies the k and v parts of qkv (B,T,3C) into kvCache (B,maxT,2C). Any head split gives the same copy, so one head of C.</summary>
    public static void KvCacheStore(this IOps ops, BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int C, int maxT) =>
        ops.KvCacheStore(kvCache, qkv, B, T, 1, 1, C, maxT);

    /// <summary>Decode step on qkv (B,3C) and kvCache (B,maxT,2C), output (B,C).</summary>
    public static void AttentionDecode(this IOps ops, BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int C, int NH, int maxT) =>
        ops.AttentionDecode(output, kvCache, qkv, positions, B, NH, NH, HeadSize("attention_decode", C, NH), maxT);

    private static int HeadSize(string op, int C, int NH)
    {
        OpShapes.HeadsDivide(op, C, NH);
        return C / NH;
    }
}
