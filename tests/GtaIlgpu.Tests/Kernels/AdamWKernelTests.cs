using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class AdamWKernelTests(IlgpuFixture fixture)
{
    [Theory]
    [InlineData(1, 0f, 1f)]
    [InlineData(7, 0.1f, 0.5f)]
    public void Step_MatchesReference(int step, float weightDecay, float gradScale)
    {
        const int n = 45;
        float[][] inputs = [Uniform(70, n), Uniform(71, n), Uniform(72, n, -0.1f, 0.1f), Uniform(73, n, 0f, 0.01f)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => ops.AdamW(f[0], f[1], f[2], f[3], 1e-3f, 0.9f, 0.95f, 1e-8f, weightDecay, step, gradScale),
            (ops, f, _) => ops.AdamW(f[0], f[1], f[2], f[3], 1e-3f, 0.9f, 0.95f, 1e-8f, weightDecay, step, gradScale));
        AssertAllClose(r, 1e-6, 1e-5, "param", "grad", "m", "v");
    }
}
