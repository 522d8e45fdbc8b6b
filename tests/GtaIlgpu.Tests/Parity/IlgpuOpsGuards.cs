using GtaIlgpu.Backends;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// What IlgpuOps does with bad input, on every ILGPU implementation: shapes are rejected on the host
/// naming the op and the argument (a bad index inside a kernel would abort the process), and indices
/// that live on the device (tokens, decode positions) poison their own outputs with NaN instead of
/// reading outside a buffer. CpuOps throws for both; see CpuOpsTests.
/// </summary>
public abstract class IlgpuOpsGuards(OpsFixture fixture)
{
    private IBackend Backend => fixture.Backend;
    private IOps Ops => fixture.Backend.Ops;

    [ParityFact]
    public void Short_views_are_rejected_on_the_host_naming_the_op()
    {
        using var small = Backend.Allocate<float>(4);
        using var large = Backend.Allocate<float>(8);
        Assert.Contains("residual_forward", Assert.Throws<ArgumentException>(() => Ops.Add(small.View, large.View, large.View, 8)).Message);
        Assert.Contains("copy", Assert.Throws<ArgumentException>(() => Ops.Copy(small.View, large.View)).Message);
        Assert.Contains("gelu_backward", Assert.Throws<ArgumentException>(() => Ops.GeluBackward(large.View, small.View, large.View, 8)).Message);

        using var x = Backend.Allocate<float>(5 * 7);
        using var w = Backend.Allocate<float>(7);
        var e = Assert.Throws<ArgumentException>(() => Ops.LayerNormForward(x.View, small.View, small.View, x.View, w.View, w.View, 5, 7));
        Assert.Contains("layernorm_forward", e.Message);
        Assert.Contains("mean", e.Message);
    }

    [ParityFact]
    public void Bad_matmul_shapes_are_rejected_on_the_host()
    {
        using var input = Backend.Allocate<float>(4 * 3);
        using var weight = Backend.Allocate<float>(5 * 3);
        using var output = Backend.Allocate<float>(4 * 5 - 1);
        Assert.Contains("output", Assert.Throws<ArgumentException>(() => Ops.MatmulForward(output.View, input.View, weight.View, default, 4, 3, 5)).Message);
        Assert.Throws<ArgumentException>(() => Ops.MatmulBackward(default, weight.View, default, output.View, input.View, weight.View, 4, 3, 0));
    }

    [ParityFact]
    public void Bad_attention_shapes_are_rejected_on_the_host()
    {
        using var qkv = Backend.Allocate<float>(2 * 3 * 3 * 8);
        using var output = Backend.Allocate<float>(2 * 3 * 8);
        using var att = Backend.Allocate<float>(2 * 2 * 3 * 3 - 1);
        using var cache = Backend.Allocate<float>(2 * 2 * 2 * 8);
        Assert.Contains("att", Assert.Throws<ArgumentException>(() => Ops.AttentionForward(output.View, att.View, qkv.View, 2, 3, 8, 2)).Message);
        Assert.Throws<ArgumentException>(() => Ops.AttentionForward(output.View, att.View, qkv.View, 2, 3, 8, 3)); // 8 % 3 ≠ 0
        Assert.Throws<ArgumentException>(() => Ops.KvCacheStore(cache.View, qkv.View, 2, 3, 8, maxT: 2));
    }

    [ParityFact]
    public void Short_row_gather_views_are_rejected_on_the_host()
    {
        using var index = Backend.AllocateFrom<int>([0, 2]);
        using var full = Backend.Allocate<float>(3 * 4);
        using var compact = Backend.Allocate<float>(2 * 4 - 1);
        Assert.Contains("compact", Assert.Throws<ArgumentException>(() => Ops.GatherRows(compact.View, full.View, index.View, 2, 4)).Message);
        Assert.Contains("rows", Assert.Throws<ArgumentException>(() => Ops.ScatterRows(full.View, compact.View, index.View, 3, 2)).Message);
    }

    [ParityFact]
    public void An_out_of_range_token_writes_NaN_instead_of_reading_out_of_bounds()
    {
        const int C = 7, V = 5, MaxT = 4;
        using var output = Backend.Allocate<float>(2 * C);
        using var tokens = Backend.AllocateFrom<int>([1, V]);
        using var wte = Backend.AllocateFrom<float>(Twins.Uniform(29, V * C, -1f, 1f));
        using var wpe = Backend.AllocateFrom<float>(Twins.Uniform(30, MaxT * C, -1f, 1f));
        Ops.EncoderForward(output.View, tokens.View, wte.View, wpe.View, 1, 2, C);
        var values = Backend.ToArray(output.View);
        Assert.All(values.Take(C), v => Assert.False(float.IsNaN(v)));
        Assert.All(values.Skip(C), v => Assert.True(float.IsNaN(v)));
    }

    [ParityFact]
    public void An_out_of_range_token_or_position_of_a_bf16_table_writes_NaN()
    {
        const int C = 7, V = 5, MaxT = 4;
        using var output = Backend.Allocate<float>(2 * C);
        using var tokens = Backend.AllocateFrom<int>([1, V]);
        using var wte = Backend.AllocateFrom<ushort>(Enumerable.Range(0, V * C).Select(i => (ushort)(0x3F80 + i)).ToArray());
        using var wpe = Backend.AllocateFrom<ushort>(Enumerable.Range(0, MaxT * C).Select(i => (ushort)(0xBF80 + i)).ToArray());
        Ops.EncoderForwardBf16(output.View, tokens.View, wte.View, wpe.View, 1, 2, C);
        var values = Backend.ToArray(output.View);
        Assert.All(values.Take(C), v => Assert.False(float.IsNaN(v)));
        Assert.All(values.Skip(C), v => Assert.True(float.IsNaN(v)));

        using var valid = Backend.AllocateFrom<int>([1, 2]);
        using var positions = Backend.AllocateFrom<int>([MaxT, 0]);
        Ops.EncoderDecodeForwardBf16(output.View, valid.View, positions.View, wte.View, wpe.View, 2, C);
        values = Backend.ToArray(output.View);
        Assert.All(values.Take(C), v => Assert.True(float.IsNaN(v)));
        Assert.All(values.Skip(C), v => Assert.False(float.IsNaN(v)));
    }

    [ParityFact]
    public void Decode_with_a_position_outside_the_cache_poisons_only_that_sequence()
    {
        const int B = 2, C = 4, NH = 2, maxT = 3;
        using var qkv = Backend.AllocateFrom<float>(Twins.Uniform(13, B * 3 * C, -1f, 1f));
        using var cache = Backend.AllocateFrom<float>(Twins.Uniform(14, B * maxT * 2 * C, -1f, 1f));
        using var output = Backend.Allocate<float>(B * C);
        using var positions = Backend.AllocateFrom<int>([1, maxT]);
        Ops.AttentionDecode(output.View, cache.View, qkv.View, positions.View, B, C, NH, maxT);
        var result = Backend.ToArray(output.View);
        Assert.All(result.Take(C), v => Assert.True(float.IsFinite(v)));
        Assert.All(result.Skip(C), v => Assert.True(float.IsNaN(v)));
    }
}
