using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>
/// The fused kernel at a sampling temperature with the per-row entropy (kept in its own file, beside
/// TokenLogLikelihoodKernelTests, which covers τ = 1): the ILGPU kernel against the scalar reference.
/// The entropy is accumulated per thread with its running max and merged after the group's reduction,
/// so rows where the max grows late, idle threads (V &lt; threads) and extreme logits are all covered.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class TokenLogLikelihoodTemperatureKernelTests(IlgpuFixture fixture)
{
    private static readonly int[] Targets = [4, -1, 0, 36, 17];

    [Theory]
    [InlineData(37, 0.7f)]
    [InlineData(3, 0.7f)]
    [InlineData(37, 1.6f)]
    [InlineData(37, 1f)]
    public void LogProbsAndEntropies_LeaveLogitsUntouched(int V, float tau)
    {
        const int N = 5;
        var targets = Targets.Select(t => t < 0 ? t : t % V).ToArray();
        var logits = Uniform(70, N * V, -8f, 8f);
        for (int n = 0; n < N; n++) logits[n * V + V - 1] = 9f; // the max comes last in every row: each thread's running max grows
        float[][] inputs = [Uniform(71, N), Uniform(72, N), logits];
        var r = Run(fixture, inputs, [targets],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], f[2], i[0], default, tau, N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], f[2], i[0], default, tau, N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "entropies", "logits");
    }

    [Theory]
    [InlineData(37, 0.7f)]
    [InlineData(3, 1.4f)]
    public void WithCoefficients_WritesTheGradientThroughTheTemperature(int V, float tau)
    {
        const int N = 5;
        var targets = Targets.Select(t => t < 0 ? t : t % V).ToArray();
        float[][] inputs = [Uniform(73, N), Uniform(74, N * V, -8f, 8f), [0.2f, 0.7f, -1.5f, 0f, 3f]];
        var r = Run(fixture, inputs, [targets],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], default, f[1], i[0], f[2], tau, N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], default, f[1], i[0], f[2], tau, N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "gradient (in logits)", "coefficients");
    }

    [Fact]
    public void ExtremeLogits_GiveFiniteEntropies()
    {
        const int N = 2, V = 37;
        var logits = Uniform(75, N * V, -1f, 1f);
        logits[5] = 80f;      // one token takes all the mass: entropy ≈ 0
        logits[V + 9] = -90f;
        float[][] inputs = [new float[N], new float[N], logits];
        var r = Run(fixture, inputs, [[5, 9]],
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], f[2], i[0], default, 0.5f, N, V),
            (ops, f, i) => ops.TokenLogLikelihood(f[0], f[1], f[2], i[0], default, 0.5f, N, V));
        AssertAllClose(r, 1e-5, 1e-5, "logprobs", "entropies", "logits");
        Assert.All(r.Actual[1], v => Assert.True(float.IsFinite(v) && v >= -1e-6f));
    }
}
