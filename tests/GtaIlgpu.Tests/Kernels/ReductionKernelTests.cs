using GtaIlgpu.Backends;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Reference;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

[Collection(IlgpuCollection.Name)]
public sealed class ReductionKernelTests(IlgpuFixture fixture)
{
    // 1 element, fewer than a group, and enough for every group to loop over its grid-stride slice.
    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(1001)]
    public void SumOfSquaresAndDot_MatchReference(int n)
    {
        var a = Uniform(80 + n, n);
        var b = Uniform(81 + n, n);
        var (expectedSquares, expectedDot) = OnReference(a, b);
        var backend = fixture.Backend;
        using var da = backend.AllocateFrom<float>(a);
        using var db = backend.AllocateFrom<float>(b);
        float squares = backend.IlgpuOps.SumOfSquares(da.View);
        float dot = backend.IlgpuOps.Dot(da.View, db.View);
        AssertClose([expectedSquares], [squares], 1e-6, 1e-5, "sum of squares");
        AssertClose([expectedDot], [dot], 1e-5, 1e-5, "dot");
    }

    /// <summary>A million elements on a real GPU (many groups, both passes); returns at once on the emulator.</summary>
    [GpuFact]
    public void MillionElements_OnGpuOnly()
    {
        SumOfSquaresAndDot_MatchReference(1 << 20);
    }

    [Fact]
    public void Dot_OfUnequalLengths_IsRejected()
    {
        var backend = fixture.Backend;
        using var a = backend.Allocate<float>(5);
        using var b = backend.Allocate<float>(6);
        Assert.Throws<ArgumentException>(() => backend.IlgpuOps.Dot(a.View, b.View));
    }

    [Fact]
    public void EmptyView_SumsToZero()
    {
        Assert.Equal(0f, fixture.Backend.IlgpuOps.SumOfSquares(default));
    }

    private static (float Squares, float Dot) OnReference(float[] a, float[] b)
    {
        using var host = new ReferenceBackend();
        using var ha = host.AllocateFrom<float>(a);
        using var hb = host.AllocateFrom<float>(b);
        return (host.Ops.SumOfSquares(ha.View), host.Ops.Dot(ha.View, hb.View));
    }
}
