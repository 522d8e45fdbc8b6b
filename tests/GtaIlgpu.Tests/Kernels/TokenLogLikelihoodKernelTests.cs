using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class TokenLogLikelihoodKernelTests(IlgpuFixture fixture)
{
    // Rows: an ignored row, the first and the last vocabulary entry as targets, and ordinary ones.
    private static readonly int[] Targets = [4, -1, 0, 36, 17];

    [Theory]
    [InlineData(37)]
    [InlineData(3)] // fewer entries than threads: idle threads bring an empty (−∞, 0) normaliser
    public void LogProbsOnly_LeaveLogitsUntouched(int V)
    {
        const int N = 5;
        var targets = Targets.Select(t => t < 0 ? t : t % V).ToArray();
        float[][] inputs = [Uniform(60, N + 2), Uniform(61, N * V, -8f, 8f)];
        var r = Run(fixture, inputs, [targets],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], default, N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], default, N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "logits");
    }

    [Theory]
    [InlineData(37)]
    [InlineData(3)]
    public void WithCoefficients_OverwritesLogitsWithTheGradient(int V)
    {
        const int N = 5;
        var targets = Targets.Select(t => t < 0 ? t : t % V).ToArray();
        float[][] inputs = [Uniform(62, N), Uniform(63, N * V, -8f, 8f), [0.2f, 0.7f, -1.5f, 0f, 3f]];
        var r = Run(fixture, inputs, [targets],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "gradient (in logits)", "coefficients");
    }

    [Fact]
    public void ExtremeLogits_StayFinite()
    {
        const int N = 2, V = 37;
        var logits = Uniform(64, N * V, -1f, 1f);
        logits[5] = 80f;     // exp overflows float without the max shift
        logits[V + 9] = -90f; // and underflows here
        float[][] inputs = [new float[N], logits, [1f, 1f]];
        var r = Run(fixture, inputs, [[5, 9]],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "gradient (in logits)", "coefficients");
        Assert.All(r.Actual[0], v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>GPT-2's vocabulary on a real GPU (full 256-thread groups, 32-lane warps); returns at once on the emulator.</summary>
    [GpuFact]
    public void Gpt2Vocabulary_OnGpuOnly()
    {
        const int N = 16, V = 50257;
        var targets = Enumerable.Range(0, N).Select(n => n == 3 ? -1 : (n * 7919) % V).ToArray();
        float[][] inputs = [new float[N], Uniform(65, N * V, -10f, 10f), Uniform(66, N)];
        var r = Run(fixture, inputs, [targets],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], i[0], f[2], N, V));
        AssertAllClose(r, 1e-5, 1e-4, "logprobs", "gradient (in logits)", "coefficients");
    }
}
