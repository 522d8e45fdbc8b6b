using GtaIlgpu.Tests.Fixtures;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>Row gather/scatter kernels against the scalar reference, at widths below and across a warp.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class RowGatherKernelTests(IlgpuFixture fixture)
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 8)]
    [InlineData(6, 37, 13)]
    public void Gather_and_scatter_match_reference(int R, int width, int rows)
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: R * 100 + width);
        var index = twins.Upload(Enumerable.Range(0, rows).Where(i => i % 2 == 0 || i == rows - 1).Take(R).ToArray());
        var full = twins.RandomTwin(rows * width);
        var compact = twins.RandomTwin(R * width);

        twins.ReferenceOps.GatherRows(compact.Reference, full.Reference, index.Reference, R, width);
        twins.DeviceOps.GatherRows(compact.Device, full.Device, index.Device, R, width);
        twins.AssertClose(compact, "gathered", atol: 0, rtol: 0);

        var source = twins.RandomTwin(R * width);
        twins.ReferenceOps.ScatterRows(full.Reference, source.Reference, index.Reference, R, width);
        twins.DeviceOps.ScatterRows(full.Device, source.Device, index.Device, R, width);
        twins.AssertClose(full, "scattered (other rows kept)", atol: 0, rtol: 0);
    }

    [Fact]
    public void Short_views_are_rejected_on_the_host()
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: 3);
        var index = twins.Upload(new[] { 0, 2 });
        var full = twins.RandomTwin(3 * 4);
        var compact = twins.RandomTwin(2 * 4 - 1);
        Assert.Contains("compact", Assert.Throws<ArgumentException>(() => twins.DeviceOps.GatherRows(compact.Device, full.Device, index.Device, 2, 4)).Message);
        Assert.Contains("rows", Assert.Throws<ArgumentException>(() => twins.DeviceOps.ScatterRows(full.Device, compact.Device, index.Device, 3, 2)).Message);
    }
}
