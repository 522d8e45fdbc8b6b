using GtaIlgpu.Tests.Fixtures;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class ElementwiseKernelTests(IlgpuFixture fixture)
{
    private const double Atol = 1e-6, Rtol = 1e-5;

    [Fact]
    public void Fill_WritesOnlyItsSlice()
    {
        var r = Run(fixture, [Uniform(1, 23)], [],
            (ops, f, _) => ops.Fill(f[0].Slice(3, 13), 2.5f),
            (ops, f, _) => ops.Fill(f[0].Slice(3, 13), 2.5f));
        AssertAllClose(r, 0, 0, "x");
    }

    [Fact]
    public void CopyAccumulateScale_CoverTheSourceLengthOnly()
    {
        float[][] inputs = [Uniform(2, 17), Uniform(3, 11), Uniform(4, 19)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => { ops.Copy(f[0], f[1]); ops.Accumulate(f[2], f[1]); ops.Accumulate(f[2].Slice(5), f[1].Slice(0, 9)); ops.Scale(f[1].Slice(1, 7), -3f); },
            (ops, f, _) => { ops.Copy(f[0], f[1]); ops.Accumulate(f[2], f[1]); ops.Accumulate(f[2].Slice(5), f[1].Slice(0, 9)); ops.Scale(f[1].Slice(1, 7), -3f); });
        AssertAllClose(r, Atol, Rtol, "destination", "source", "accumulated");
    }

    [Fact]
    public void LinearCombination_IncludingDestinationAliasingX()
    {
        float[][] inputs = [Uniform(5, 21), Uniform(6, 21), Uniform(7, 21)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => { ops.LinearCombination(f[0], 0.75f, f[1], -1.5f, f[2]); ops.LinearCombination(f[1], 2f, f[1], 0.5f, f[2]); },
            (ops, f, _) => { ops.LinearCombination(f[0], 0.75f, f[1], -1.5f, f[2]); ops.LinearCombination(f[1], 2f, f[1], 0.5f, f[2]); });
        AssertAllClose(r, Atol, Rtol, "destination", "x (aliased destination)", "y");
    }

    [Fact]
    public void Add_WritesTheFirstNOnly()
    {
        float[][] inputs = [Uniform(8, 33), Uniform(9, 31), Uniform(10, 30)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => ops.Add(f[0], f[1], f[2], 29),
            (ops, f, _) => ops.Add(f[0], f[1], f[2], 29));
        AssertAllClose(r, Atol, Rtol, "output", "a", "b");
    }

    [Fact]
    public void Gelu_ForwardAndAccumulatingBackward_IncludingSaturation()
    {
        var x = Uniform(11, 37, -4f, 4f);
        x[0] = -30f; x[1] = 30f; x[2] = 0f; x[3] = 1e-4f; x[4] = -9f; x[5] = 9f;
        float[][] inputs = [Uniform(12, 40), x, Uniform(13, 37), Uniform(14, 37)];
        var r = Run(fixture, inputs, [],
            (ops, f, _) => { ops.GeluForward(f[0], f[1], 37); ops.GeluBackward(f[2], f[1], f[3], 37); },
            (ops, f, _) => { ops.GeluForward(f[0], f[1], 37); ops.GeluBackward(f[2], f[1], f[3], 37); });
        AssertAllClose(r, 1e-6, 1e-5, "output", "input", "dinput", "doutput");
    }

    [Fact]
    public void ShortViews_AreRejectedOnTheHostNamingTheOp()
    {
        var backend = fixture.Backend;
        using var small = backend.Allocate<float>(4);
        using var large = backend.Allocate<float>(8);
        var e = Assert.Throws<ArgumentException>(() => backend.IlgpuOps.Add(small.View, large.View, large.View, 8));
        Assert.Contains("residual_forward", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.IlgpuOps.Copy(small.View, large.View));
        Assert.Contains("copy", e.Message);
        e = Assert.Throws<ArgumentException>(() => backend.IlgpuOps.GeluBackward(large.View, small.View, large.View, 8));
        Assert.Contains("gelu_backward", e.Message);
    }
}
