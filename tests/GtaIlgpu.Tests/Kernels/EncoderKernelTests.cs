using GtaIlgpu.Backends;
using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class EncoderKernelTests(IlgpuFixture fixture)
{
    private const int B = 2, T = 3, C = 7, V = 5, MaxT = 4;

    // Token 3 repeats (within and across sequences), so dwte needs the atomic scatter-add.
    private static readonly int[] Tokens = [3, 0, 3, 4, 3, 1];

    [Fact]
    public void Forward_AddsTokenAndPositionRows()
    {
        float[][] inputs = [Uniform(20, B * T * C + 3), Uniform(21, V * C), Uniform(22, MaxT * C)];
        var r = Run(fixture, inputs, [Tokens],
            (ops, f, i) => ops.EncoderForward(f[0], i[0], f[1], f[2], B, T, C),
            (ops, f, i) => ops.EncoderForward(f[0], i[0], f[1], f[2], B, T, C));
        AssertAllClose(r, 1e-6, 1e-6, "output", "wte", "wpe");
    }

    [Fact]
    public void Backward_ScatterAddsIntoPrefilledTables()
    {
        float[][] inputs = [Uniform(23, V * C), Uniform(24, MaxT * C), Uniform(25, B * T * C)];
        var r = Run(fixture, inputs, [Tokens],
            (ops, f, i) => ops.EncoderBackward(f[0], f[1], f[2], i[0], B, T, C),
            (ops, f, i) => ops.EncoderBackward(f[0], f[1], f[2], i[0], B, T, C));
        AssertAllClose(r, 1e-6, 1e-5, "dwte", "dwpe", "doutput");
    }

    [Fact]
    public void DecodeForward_UsesEachRowsPosition()
    {
        float[][] inputs = [Uniform(26, 3 * C), Uniform(27, V * C), Uniform(28, MaxT * C)];
        var r = Run(fixture, inputs, [[4, 0, 2], [3, 0, 1]],
            (ops, f, i) => ops.EncoderDecodeForward(f[0], i[0], i[1], f[1], f[2], 3, C),
            (ops, f, i) => ops.EncoderDecodeForward(f[0], i[0], i[1], f[1], f[2], 3, C));
        AssertAllClose(r, 1e-6, 1e-6, "output", "wte", "wpe");
    }

    [Fact]
    public void OutOfRangeToken_WritesNaNInsteadOfReadingOutOfBounds()
    {
        var backend = fixture.Backend;
        using var output = backend.Allocate<float>(2 * C);
        using var tokens = backend.AllocateFrom<int>([1, V]);
        using var wte = backend.AllocateFrom<float>(Uniform(29, V * C));
        using var wpe = backend.AllocateFrom<float>(Uniform(30, MaxT * C));
        backend.IlgpuOps.EncoderForward(output.View, tokens.View, wte.View, wpe.View, 1, 2, C);
        var values = backend.ToArray(output.View);
        Assert.All(values.Take(C), v => Assert.False(float.IsNaN(v)));
        Assert.All(values.Skip(C), v => Assert.True(float.IsNaN(v)));
    }
}
