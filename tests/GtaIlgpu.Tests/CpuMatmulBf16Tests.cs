using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Common;

namespace GtaIlgpu.Tests;

/// <summary>
/// CpuMatmul with a bfloat16 weight widens it while packing B, so its products must be the fp32 products
/// of the widened weight BIT FOR BIT (the same plan, the same panels, the same microkernel) — over
/// CpuMatmulTests' shapes, which hit every edge of the 6×16 tile, both KC blocks and the threaded grid,
/// with the SIMD packers and with the scalar fallback. (Closeness to the reference is the parity suites' job.)
/// </summary>
public class CpuMatmulBf16Tests
{
    public static TheoryData<int, int, int> Shapes => CpuMatmulTests.Shapes;

    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    private static (ushort[] Bits, float[] Widened) Weight(int n, int seed)
    {
        var bits = new ushort[n];
        BFloat16.Narrow(Random(n, seed), bits);
        var widened = new float[n];
        BFloat16.Widen(bits, widened);
        return (bits, widened);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_is_the_fp32_forward_of_the_widened_weight(int N, int C, int OC) => Forward(N, C, OC, CpuMatmul.UseSimd);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Input_gradient_is_the_fp32_one_of_the_widened_weight(int N, int C, int OC) => BackwardInput(N, C, OC, CpuMatmul.UseSimd);

    [Theory]
    [InlineData(7, 13, 5)]
    [InlineData(37, 65, 97)]
    [InlineData(2, 300, 3)]
    public void The_scalar_fallback_is_bit_identical_too(int N, int C, int OC)
    {
        Forward(N, C, OC, simd: false);
        BackwardInput(N, C, OC, simd: false);
    }

    private static void Forward(int N, int C, int OC, bool simd)
    {
        var input = Random(N * C, 1);
        var (bits, widened) = Weight(OC * C, 2);
        var bias = Random(OC, 3);
        foreach (bool withBias in new[] { true, false })
        {
            var b = withBias ? bias : [];
            var expected = Random(N * OC, 4);
            var actual = Random(N * OC, 5); // different garbage: the forward overwrites both
            CpuMatmul.Forward(expected, input, widened, b, N, C, OC, simd);
            CpuMatmul.ForwardBf16(actual, input, bits, b, N, C, OC, simd);
            AssertBits(expected, actual, $"output (bias: {withBias}, simd: {simd})");
        }
    }

    private static void BackwardInput(int N, int C, int OC, bool simd)
    {
        var input = Random(N * C, 1);
        var (bits, widened) = Weight(OC * C, 2);
        var doutput = Random(N * OC, 6);
        var expected = Random(N * C, 7); // pre-filled: both accumulate
        var actual = (float[])expected.Clone();
        CpuMatmul.Backward(expected, [], [], doutput, input, widened, N, C, OC, simd);
        CpuMatmul.BackwardInputBf16(actual, doutput, bits, N, C, OC, simd);
        AssertBits(expected, actual, $"dinput (simd: {simd})");
    }

    private static void AssertBits(float[] expected, float[] actual, string name)
    {
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{name}[{i}]: fp32 {expected[i]:R}, bf16 {actual[i]:R}");
    }

    [Fact]
    public void Short_views_are_rejected_naming_the_op()
    {
        var e = Assert.Throws<ArgumentException>(() => CpuMatmul.ForwardBf16(new float[6], new float[6], new ushort[5], [], 2, 3, 3));
        Assert.Contains("matmul_forward_bf16", e.Message);
        Assert.Contains("weight", e.Message);
        e = Assert.Throws<ArgumentException>(() => CpuMatmul.BackwardInputBf16(new float[5], new float[6], new ushort[9], 2, 3, 3));
        Assert.Contains("matmul_backward_input_bf16", e.Message);
        Assert.Contains("dinput", e.Message);
    }
}
