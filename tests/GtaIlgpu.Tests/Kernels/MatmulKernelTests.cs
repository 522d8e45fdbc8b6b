using GtaIlgpu.Tests.Fixtures;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>
/// Matmul kernels against the scalar reference. Shapes straddle the 64×64×16 tiles (sizes below,
/// at and above a tile, and primes) so the guarded loads and stores are exercised; the CPU emulator
/// keeps them under ~70 per dimension.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class MatmulKernelTests(IlgpuFixture fixture)
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 5, 7, 3 },
        { 33, 17, 65 },
        { 64, 16, 64 },   // exactly one tile in every dimension
        { 67, 35, 9 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_reference(int N, int C, int OC)
    {
        foreach (bool withBias in new[] { true, false })
        {
            using var twins = new ReferenceTwins(fixture.Backend, seed: N * 1000 + C * 10 + OC);
            var input = twins.RandomTwin(N * C);
            var weight = twins.RandomTwin(OC * C);
            var bias = withBias ? twins.RandomTwin(OC) : Twin<float>.Empty;
            var output = twins.RandomTwin(N * OC, scale: 100f); // forward overwrites whatever was there

            twins.ReferenceOps.MatmulForward(output.Reference, input.Reference, weight.Reference, bias.Reference, N, C, OC);
            twins.DeviceOps.MatmulForward(output.Device, input.Device, weight.Device, bias.Device, N, C, OC);

            twins.AssertClose(output, $"output (bias: {withBias})");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_accumulates_like_reference(int N, int C, int OC)
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: N * 1000 + C * 10 + OC + 1);
        var input = twins.RandomTwin(N * C);
        var weight = twins.RandomTwin(OC * C);
        var doutput = twins.RandomTwin(N * OC);
        var dinput = twins.RandomTwin(N * C);   // gradients arrive pre-filled: backward adds to them
        var dweight = twins.RandomTwin(OC * C);
        var dbias = twins.RandomTwin(OC);

        twins.ReferenceOps.MatmulBackward(dinput.Reference, dweight.Reference, dbias.Reference, doutput.Reference, input.Reference, weight.Reference, N, C, OC);
        twins.DeviceOps.MatmulBackward(dinput.Device, dweight.Device, dbias.Device, doutput.Device, input.Device, weight.Device, N, C, OC);

        twins.AssertClose(dinput, "dinput");
        twins.AssertClose(dweight, "dweight");
        twins.AssertClose(dbias, "dbias");
    }

    [Fact]
    public void Backward_skips_empty_dinput_and_dbias()
    {
        const int N = 9, C = 6, OC = 70;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 7);
        var input = twins.RandomTwin(N * C);
        var weight = twins.RandomTwin(OC * C);
        var doutput = twins.RandomTwin(N * OC);
        var dweight = twins.RandomTwin(OC * C);

        twins.ReferenceOps.MatmulBackward(default, dweight.Reference, default, doutput.Reference, input.Reference, weight.Reference, N, C, OC);
        twins.DeviceOps.MatmulBackward(default, dweight.Device, default, doutput.Device, input.Device, weight.Device, N, C, OC);

        twins.AssertClose(dweight, "dweight");
    }

    [Fact]
    public void Backward_skips_an_empty_dweight()
    {
        const int N = 9, C = 6, OC = 70;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 9);
        var input = twins.RandomTwin(N * C);
        var weight = twins.RandomTwin(OC * C);
        var doutput = twins.RandomTwin(N * OC);
        var dinput = twins.RandomTwin(N * C);

        twins.ReferenceOps.MatmulBackward(dinput.Reference, default, default, doutput.Reference, input.Reference, weight.Reference, N, C, OC);
        twins.DeviceOps.MatmulBackward(dinput.Device, default, default, doutput.Device, input.Device, weight.Device, N, C, OC);

        twins.AssertClose(dinput, "dinput");
    }

    [Fact]
    public void Bad_shapes_are_rejected_on_the_host()
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: 8);
        var input = twins.RandomTwin(4 * 3);
        var weight = twins.RandomTwin(5 * 3);
        var output = twins.RandomTwin(4 * 5 - 1);

        var error = Assert.Throws<ArgumentException>(() =>
            twins.DeviceOps.MatmulForward(output.Device, input.Device, weight.Device, default, 4, 3, 5));
        Assert.Contains("output", error.Message);
        Assert.Throws<ArgumentException>(() =>
            twins.DeviceOps.MatmulBackward(default, weight.Device, default, output.Device, input.Device, weight.Device, 4, 3, 0));
    }
}
