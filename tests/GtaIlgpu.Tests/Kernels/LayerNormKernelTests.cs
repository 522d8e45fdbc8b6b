using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class LayerNormKernelTests(IlgpuFixture fixture)
{
    // N = 5 rows leaves the last group partly empty; C = 7 and 37 are not multiples of the warp.
    [Theory]
    [InlineData(5, 7)]
    [InlineData(3, 37)]
    public void Forward_MatchesReference(int N, int C)
    {
        var input = Uniform(40 + C, N * C, -2f, 2f);
        for (int c = 0; c < C; c++) input[c] += 100f; // a large mean: the two-pass variance must not cancel
        float[][] inputs = [Uniform(41, N * C), new float[N], new float[N], input, Uniform(42, C, 0.5f, 1.5f), Uniform(43, C)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => ops.LayerNormForward(f[0], f[1], f[2], f[3], f[4], f[5], N, C),
            (ops, f, _) => ops.LayerNormForward(f[0], f[1], f[2], f[3], f[4], f[5], N, C));
        AssertAllClose(r, 2e-5, 1e-4, "output", "mean", "rstd", "input", "weight", "bias");
    }

    // N = 70 spans two row chunks of the dweight/dbias column reduction.
    [Theory]
    [InlineData(5, 7)]
    [InlineData(70, 3)]
    public void Backward_AccumulatesIntoPrefilledGradients(int N, int C)
    {
        var input = Uniform(50 + N, N * C, -2f, 2f);
        var mean = new float[N];
        var rstd = new float[N];
        for (int n = 0; n < N; n++)
        {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += input[n * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (input[n * C + c] - m) * (input[n * C + c] - m);
            mean[n] = (float)m;
            rstd[n] = (float)(1 / Math.Sqrt(v / C + 1e-5));
        }
        float[][] inputs = [Uniform(51, N * C), Uniform(52, C), Uniform(53, C), Uniform(54, N * C), input, Uniform(55, C, 0.5f, 1.5f), mean, rstd];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => ops.LayerNormBackward(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], N, C),
            (ops, f, _) => ops.LayerNormBackward(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], N, C));
        AssertAllClose(r, 1e-5, 1e-4, "dinput", "dweight", "dbias", "doutput", "input", "weight", "mean", "rstd");
    }

    /// <summary>GPT-2 widths on a real GPU; returns at once on the emulator.</summary>
    [GpuFact]
    public void Gpt2Width_OnGpuOnly()
    {
        Forward_MatchesReference(67, 768);
        Backward_AccumulatesIntoPrefilledGradients(130, 768);
    }

    [Fact]
    public void ShortStatistics_AreRejectedOnTheHost()
    {
        var backend = fixture.Backend;
        using var x = backend.Allocate<float>(5 * 7);
        using var stats = backend.Allocate<float>(4);
        using var w = backend.Allocate<float>(7);
        var e = Assert.Throws<ArgumentException>(() => backend.IlgpuOps.LayerNormForward(x.View, stats.View, stats.View, x.View, w.View, w.View, 5, 7));
        Assert.Contains("layernorm_forward", e.Message);
        Assert.Contains("mean", e.Message);
    }
}
