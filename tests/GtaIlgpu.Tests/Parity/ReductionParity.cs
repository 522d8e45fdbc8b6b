namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Σx² and dot over whole views: one element, fewer than a group, enough for every group to loop
/// over its grid-stride slice, and enough for CpuOps's threads.
/// </summary>
public abstract class ReductionParity(OpsFixture fixture)
{
    [ParityTheory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(13)]
    [InlineData(1000)]
    [InlineData(1001)]
    [InlineData(200_003)]
    public void Sum_of_squares_and_dot_match_the_reference(int n) => SumOfSquaresAndDot(n);

    /// <summary>
    /// A million elements (many groups, both passes) on CpuOps and a GPU; the emulators take 2^18,
    /// which still gives every group several grid-stride rounds.
    /// </summary>
    [ParityFact]
    public void A_million_elements() => SumOfSquaresAndDot(fixture.Size(1 << 20, 1 << 18));

    [ParityFact]
    public void An_empty_view_sums_to_zero() => Assert.Equal(0f, fixture.Backend.Ops.SumOfSquares(default));

    [ParityFact]
    public void Dot_of_unequal_lengths_is_rejected()
    {
        using var t = new Twins(fixture, seed: 3);
        var a = t.Random(5);
        var b = t.Random(6);
        Assert.Throws<ArgumentException>(() => t.TestedOps.Dot(a.Tested, b.Tested));
    }

    private void SumOfSquaresAndDot(int n)
    {
        using var t = new Twins(fixture, seed: n);
        var a = t.Random(n, scale: 1f, offset: 0.1f);
        var b = t.Random(n);
        var (squares, dot) = (t.Reference.Ops.SumOfSquares(a.Reference), t.Reference.Ops.Dot(a.Reference, b.Reference));
        Twins.AssertClose([squares], [t.TestedOps.SumOfSquares(a.Tested)], "sum of squares", 1e-6, 1e-5);
        Twins.AssertClose([dot], [t.TestedOps.Dot(a.Tested, b.Tested)], "dot", 1e-5, 1e-5);
    }
}
