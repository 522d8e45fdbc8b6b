using GtaIlgpu.Backends;
using GtaIlgpu.Common;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Frozen bfloat16 weights: the matmul forward (with and without bias) and its accumulating input
/// gradient, and the encoder's forward and decode step, against the reference — at MatmulParity's shapes,
/// which straddle the kernel's 64×64×16 tiles and CpuMatmul's 6×16 tiles. Each op must also compute exactly
/// what its fp32 twin computes on the same implementation from the widened weights: widening is exact, and
/// the bf16 path may differ from the fp32 one only in how it loads the weight.
/// </summary>
public abstract class Bf16Parity(OpsFixture fixture)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<int, int, int> Shapes => MatmulParity.Shapes;

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Matmul_forward_matches_the_reference(int N, int C, int OC)
    {
        foreach (bool withBias in new[] { true, false })
        {
            using var t = new Twins(fixture, seed: N * 1000 + C * 10 + OC + 5);
            var input = t.Random(N * C);
            var weight = t.RandomBf16(OC * C);
            var bias = withBias ? t.Random(OC) : Twin<float>.Empty;
            var output = t.Random(N * OC, scale: 100f); // the forward overwrites whatever was there
            t.Run((ops, s) => ops.MatmulForwardBf16(s[output], s[input], s[weight], s[bias], N, C, OC));
            t.AssertClose(output, $"output (bias: {withBias})", Tolerance, Tolerance);
        }
    }

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Matmul_input_gradient_accumulates_like_the_reference(int N, int C, int OC)
    {
        using var t = new Twins(fixture, seed: N * 1000 + C * 10 + OC + 6);
        var weight = t.RandomBf16(OC * C);
        var doutput = t.Random(N * OC);
        var dinput = t.Random(N * C); // pre-filled: the backward adds to it
        t.Run((ops, s) => ops.MatmulBackwardInputBf16(s[dinput], s[doutput], s[weight], N, C, OC));
        t.AssertClose(dinput, "dinput", Tolerance, Tolerance);
        t.AssertClose(doutput, "doutput (untouched)", 0, 0);
    }

    [ParityTheory]
    [InlineData(5, 7, 13)]
    [InlineData(67, 35, 9)]
    [InlineData(64, 96, 80)]
    public void Matmul_is_the_fp32_matmul_of_the_widened_weight_bit_for_bit(int N, int C, int OC)
    {
        var backend = fixture.Backend;
        var ops = backend.Ops;
        var random = new Random(N + C + OC);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var bits = new ushort[OC * C];
        BFloat16.Narrow(Values(OC * C), bits);
        var widened = new float[bits.Length];
        BFloat16.Widen(bits, widened);
        var dinputStart = Values(N * C);

        using var input = backend.AllocateFrom<float>(Values(N * C));
        using var bias = backend.AllocateFrom<float>(Values(OC));
        using var doutput = backend.AllocateFrom<float>(Values(N * OC));
        using var weightBf16 = backend.AllocateFrom<ushort>(bits);
        using var weight = backend.AllocateFrom<float>(widened);
        using var fromBf16 = backend.Allocate<float>(N * OC);
        using var fromFp32 = backend.Allocate<float>(N * OC);
        using var dinputBf16 = backend.AllocateFrom<float>(dinputStart);
        using var dinputFp32 = backend.AllocateFrom<float>(dinputStart);

        ops.MatmulForwardBf16(fromBf16.View, input.View, weightBf16.View, bias.View, N, C, OC);
        ops.MatmulForward(fromFp32.View, input.View, weight.View, bias.View, N, C, OC);
        ops.MatmulBackwardInputBf16(dinputBf16.View, doutput.View, weightBf16.View, N, C, OC);
        ops.MatmulBackward(dinputFp32.View, default, default, doutput.View, input.View, weight.View, N, C, OC);

        AssertBits(backend.ToArray(fromFp32.View), backend.ToArray(fromBf16.View), "output");
        AssertBits(backend.ToArray(dinputFp32.View), backend.ToArray(dinputBf16.View), "dinput");
    }

    [ParityTheory]
    [InlineData(2, 5, 7)]
    [InlineData(1, 1, 13)]
    [InlineData(3, 5, 33)]
    public void Encoder_matches_the_reference(int B, int T, int C)
    {
        const int V = 11;
        using var t = new Twins(fixture, seed: B * 1000 + T * 10 + C + 3);
        var tokens = t.RandomTokens(B * T, V);
        var wte = t.RandomBf16(V * C);
        var wpe = t.RandomBf16((T + 2) * C);
        var output = t.Random(B * T * C);
        t.Run((ops, s) => ops.EncoderForwardBf16(s[output], s[tokens], s[wte], s[wpe], B, T, C));
        t.AssertClose(output, "output", 0, 0);

        var positions = t.RandomTokens(B, T + 2);
        var decoded = t.Random(B * C);
        t.Run((ops, s) => ops.EncoderDecodeForwardBf16(s[decoded], s[tokens], s[positions], s[wte], s[wpe], B, C));
        t.AssertClose(decoded, "decode output", 0, 0);
    }

    /// <summary>The rotary families: an empty wpe adds nothing and the decode step reads no position.</summary>
    [ParityTheory]
    [InlineData(2, 5, 7)]
    [InlineData(3, 5, 33)]
    public void Encoder_without_position_table_matches_the_reference(int B, int T, int C)
    {
        const int V = 11;
        using var t = new Twins(fixture, seed: 9000 + B * 100 + T * 10 + C);
        var tokens = t.RandomTokens(B * T, V);
        var wte = t.RandomBf16(V * C);
        var output = t.Random(B * T * C);
        t.Run((ops, s) => ops.EncoderForwardBf16(s[output], s[tokens], s[wte], default, B, T, C));
        t.AssertClose(output, "output", 0, 0);

        var positions = t.Upload(Enumerable.Range(0, B).Select(b => 1000 + b).ToArray()); // beyond any table: must not be read
        var decoded = t.Random(B * C);
        t.Run((ops, s) => ops.EncoderDecodeForwardBf16(s[decoded], s[tokens], s[positions], s[wte], default, B, C));
        t.AssertClose(decoded, "decode output", 0, 0);
    }

    [ParityFact]
    public void Short_views_are_rejected_naming_the_op_and_the_argument()
    {
        var backend = fixture.Backend;
        var ops = backend.Ops;
        const int N = 4, C = 3, OC = 5;
        using var input = backend.Allocate<float>(N * C);
        using var output = backend.Allocate<float>(N * OC);
        using var weight = backend.Allocate<ushort>(OC * C);
        using var shortWeight = backend.Allocate<ushort>(OC * C - 1);
        using var shortBias = backend.Allocate<float>(OC - 1);
        using var shortDinput = backend.Allocate<float>(N * C - 1);

        Expect("matmul_forward_bf16", "weight", () => ops.MatmulForwardBf16(output.View, input.View, shortWeight.View, default, N, C, OC));
        Expect("matmul_forward_bf16", "bias", () => ops.MatmulForwardBf16(output.View, input.View, weight.View, shortBias.View, N, C, OC));
        Expect("matmul_forward_bf16", "OC", () => ops.MatmulForwardBf16(output.View, input.View, weight.View, default, N, C, 0));
        Expect("matmul_backward_input_bf16", "dinput", () => ops.MatmulBackwardInputBf16(shortDinput.View, output.View, weight.View, N, C, OC));
        Expect("matmul_backward_input_bf16", "dinput", () => ops.MatmulBackwardInputBf16(default, output.View, weight.View, N, C, OC));
        Expect("matmul_backward_input_bf16", "weight", () => ops.MatmulBackwardInputBf16(input.View, output.View, shortWeight.View, N, C, OC));

        using var tokens = backend.AllocateFrom<int>([0, 1, 2, 1]);
        using var positions = backend.AllocateFrom<int>([0, 1]);
        using var wte = backend.Allocate<ushort>(3 * C);
        using var shortWpe = backend.Allocate<ushort>(2 * C - 1);
        Expect("encoder_forward_bf16", "output", () => ops.EncoderForwardBf16(shortDinput.View, tokens.View, wte.View, default, 2, 2, C));
        Expect("encoder_forward_bf16", "position table|wpe", () => ops.EncoderForwardBf16(input.View, tokens.View, wte.View, shortWpe.View, 2, 2, C));
        Expect("encoder_decode_forward_bf16", "positions", () => ops.EncoderDecodeForwardBf16(input.View, tokens.View, positions.View, wte.View, default, 3, C));
    }

    /// <summary>An ArgumentException whose message names the op and one of the '|'-separated argument names.</summary>
    internal static void Expect(string op, string argument, Action call)
    {
        var e = Assert.Throws<ArgumentException>(call);
        Assert.Contains(op, e.Message);
        Assert.True(argument.Split('|').Any(a => e.Message.Contains(a, StringComparison.Ordinal)), $"'{e.Message}' does not name {argument}");
    }

    private static void AssertBits(float[] expected, float[] actual, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{name}[{i}]: fp32 op {expected[i]:R}, bf16 op {actual[i]:R}");
    }
}
