using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// The contract of grouped-query attention on the host implementations (the scalar reference, which every
/// other one is compared with, and CpuOps): it is multi-head attention over explicitly repeated key/value
/// heads (Hugging Face's repeat_kv), and for NKV = NH it is exactly the GPT-2 (C, NH) signature.
/// </summary>
public sealed class GroupedQueryAttentionTests
{
    public static TheoryData<string> Implementations => new() { "reference", "cpu" };

    private static IOps Ops(string name) => name == "reference" ? new ReferenceOps() : new CpuOps();

    private static HostBuffer<float> Buffer(float[] values)
    {
        var buffer = new HostBuffer<float>(values.Length);
        values.CopyTo(buffer.Data, 0);
        return buffer;
    }

    private static float[] Random(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = 2f * rng.NextSingle() - 1f;
        return x;
    }

    private static void Close(float[] expected, float[] actual, string name, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])),
                $"{name}[{i}]: expected {expected[i]}, got {actual[i]}");
    }

    [Theory]
    [InlineData("reference", 4, 2, 3)]
    [InlineData("reference", 6, 2, 5)]
    [InlineData("reference", 3, 1, 4)]
    [InlineData("reference", 8, 2, 2)]
    [InlineData("cpu", 4, 2, 3)]
    [InlineData("cpu", 6, 3, 8)]
    [InlineData("cpu", 3, 1, 4)]
    public void Equals_multi_head_attention_over_repeated_kv_heads(string implementation, int NH, int NKV, int hs)
    {
        const int B = 2, T = 5;
        var ops = Ops(implementation);
        int W = (NH + 2 * NKV) * hs, C = NH * hs, N = B * T;
        var rng = new Random(70 + NH + NKV + hs);
        var values = Random(rng, N * W);
        var qkv = Buffer(values);
        var repeated = Buffer(RepeatKv.Expand(values, N, NH, NKV, hs));

        var output = new HostBuffer<float>(N * C);
        var att = new HostBuffer<float>(B * NH * T * T);
        ops.AttentionForward(output.View, att.View, qkv.View, B, T, NH, NKV, hs);
        var repeatedOutput = new HostBuffer<float>(N * C);
        var repeatedAtt = new HostBuffer<float>(B * NH * T * T);
        ops.AttentionForward(repeatedOutput.View, repeatedAtt.View, repeated.View, B, T, C, NH); // GPT-2 signature
        Close(repeatedAtt.Data, att.Data, "att", 1e-6);
        Close(repeatedOutput.Data, output.Data, "output", 1e-6);

        var doutput = Buffer(Random(rng, N * C));
        var dqkv = new HostBuffer<float>(N * W);
        ops.AttentionBackward(dqkv.View, new HostBuffer<float>(B * NH * T * T).View, doutput.View, qkv.View, att.View, B, T, NH, NKV, hs);
        var dRepeated = new HostBuffer<float>(N * 3 * C);
        ops.AttentionBackward(dRepeated.View, new HostBuffer<float>(B * NH * T * T).View, doutput.View, repeated.View, repeatedAtt.View, B, T, C, NH);
        Close(RepeatKv.Reduce(dRepeated.Data, N, NH, NKV, hs), dqkv.Data, "dqkv", 1e-5);
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Query_head_h_reads_kv_head_h_over_the_group_size(string implementation)
    {
        // NH = 4, NKV = 2, T = 2: only kv head 1 has a distinct value at position 1, and its keys make
        // position 1 win the softmax; query heads 2 and 3 (h / 2 = 1) must see that value, heads 0 and 1 not.
        const int B = 1, T = 2, NH = 4, NKV = 2, hs = 2;
        int W = (NH + 2 * NKV) * hs, C = NH * hs;
        var qkv = new float[B * T * W];
        for (int t = 0; t < T; t++)
        {
            for (int i = 0; i < C; i++) qkv[t * W + i] = 1f;                              // every query (1, 1)
            for (int j = 0; j < NKV; j++)
                for (int i = 0; i < hs; i++)
                {
                    qkv[t * W + C + j * hs + i] = t == 1 && j == 1 ? 20f : 0f;             // keys
                    qkv[t * W + C + NKV * hs + j * hs + i] = t == 1 && j == 1 ? 5f : 0f;    // values
                }
        }
        var output = new HostBuffer<float>(T * C);
        Ops(implementation).AttentionForward(output.View, new HostBuffer<float>(NH * T * T).View, Buffer(qkv).View, B, T, NH, NKV, hs);
        for (int h = 0; h < NH; h++)
        {
            float value = output.Data[C + h * hs];
            if (h / (NH / NKV) == 1) Assert.True(value > 4.9f, $"head {h} should read kv head 1, got {value}");
            else Assert.Equal(0f, value);
        }
    }

    [Theory]
    [MemberData(nameof(Implementations))]
    public void Gpt2_signature_is_the_case_nkv_equals_nh_bit_for_bit(string implementation)
    {
        const int B = 2, T = 6, C = 12, NH = 3, maxT = 8;
        var ops = Ops(implementation);
        var rng = new Random(80);
        var qkv = Buffer(Random(rng, B * T * 3 * C));
        var a = new HostBuffer<float>(B * T * C); var attA = new HostBuffer<float>(B * NH * T * T);
        var b = new HostBuffer<float>(B * T * C); var attB = new HostBuffer<float>(B * NH * T * T);
        ops.AttentionForward(a.View, attA.View, qkv.View, B, T, C, NH);
        ops.AttentionForward(b.View, attB.View, qkv.View, B, T, NH, NH, C / NH);
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(attA.Data, attB.Data);

        var cacheA = new HostBuffer<float>(B * maxT * 2 * C);
        var cacheB = new HostBuffer<float>(B * maxT * 2 * C);
        ops.KvCacheStore(cacheA.View, qkv.View, B, T, C, maxT);
        ops.KvCacheStore(cacheB.View, qkv.View, B, T, NH, NH, C / NH, maxT);
        Assert.Equal(cacheA.Data, cacheB.Data);
    }

    /// <summary>
    /// Eight query heads on one kv head, each (b, head) a big enough work item for CpuLoops to run them on
    /// different threads: any design that lets two threads accumulate into the same dk/dv would lose updates
    /// here (or at least differ between runs). The result must match the reference and repeat bit for bit.
    /// </summary>
    [Fact]
    public void CpuOps_backward_with_many_query_heads_per_kv_head_is_race_free_and_repeatable()
    {
        const int B = 1, T = 48, NH = 8, NKV = 1, hs = 32;
        int W = (NH + 2 * NKV) * hs, C = NH * hs;
        var rng = new Random(90);
        var qkv = Buffer(Random(rng, B * T * W));
        var att = new HostBuffer<float>(B * NH * T * T);
        var reference = new ReferenceOps();
        reference.AttentionForward(new HostBuffer<float>(B * T * C).View, att.View, qkv.View, B, T, NH, NKV, hs);
        var doutput = Buffer(Random(rng, B * T * C));
        var expected = new HostBuffer<float>(B * T * W);
        reference.AttentionBackward(expected.View, new HostBuffer<float>(B * NH * T * T).View, doutput.View, qkv.View, att.View, B, T, NH, NKV, hs);

        var cpu = new CpuOps();
        float[]? first = null;
        for (int run = 0; run < 4; run++)
        {
            var dqkv = new HostBuffer<float>(B * T * W);
            cpu.AttentionBackward(dqkv.View, new HostBuffer<float>(B * NH * T * T).View, doutput.View, qkv.View, att.View, B, T, NH, NKV, hs);
            Close(expected.Data, dqkv.Data, $"dqkv (run {run})", 1e-4);
            if (first is null) first = dqkv.Data;
            else Assert.Equal(first, dqkv.Data);
        }
    }

    [Fact]
    public void CpuOps_rejects_query_heads_that_are_not_a_multiple_of_kv_heads()
    {
        var buffer = new HostBuffer<float>(1000);
        var cpu = new CpuOps();
        Assert.StartsWith("attention_forward:", Assert.Throws<ArgumentException>(() => cpu.AttentionForward(buffer.View, buffer.View, buffer.View, 1, 2, 6, 4, 2)).Message);
        Assert.StartsWith("attention_backward:", Assert.Throws<ArgumentException>(() => cpu.AttentionBackward(buffer.View, buffer.View, buffer.View, buffer.View, buffer.View, 1, 2, 6, 4, 2)).Message);
        Assert.StartsWith("kv_cache_store:", Assert.Throws<ArgumentException>(() => cpu.KvCacheStore(buffer.View, buffer.View, 1, 2, 6, 4, 2, 4)).Message);
        Assert.StartsWith("attention_decode:", Assert.Throws<ArgumentException>(() => cpu.AttentionDecode(buffer.View, buffer.View, buffer.View, new HostBuffer<int>(1).View, 1, 6, 4, 2, 4)).Message);
    }
}
