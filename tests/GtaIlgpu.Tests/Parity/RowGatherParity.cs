namespace GtaIlgpu.Tests.Parity;

/// <summary>Row gather and scatter (the LM head over selected positions), at widths below and across a warp.</summary>
public abstract class RowGatherParity(OpsFixture fixture)
{
    [ParityTheory]
    [InlineData(0, 5, 7)]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 7)]
    [InlineData(3, 5, 8)]
    [InlineData(4, 37, 9)]
    [InlineData(6, 37, 13)]
    public void Gather_and_scatter_match_the_reference(int R, int width, int rows)
    {
        using var t = new Twins(fixture, seed: R * 100 + width + rows);
        // Ascending rows, every other one and the last: rows between them must keep their values.
        var index = t.Upload(Enumerable.Range(0, rows).Where(i => i % 2 == 1 || i == rows - 1).Take(R).ToArray());
        var full = t.Random(rows * width);
        var compact = t.Random(R * width + 3); // longer than needed: the tail stays

        t.Run((ops, s) => ops.GatherRows(s[compact], s[full], s[index], R, width));
        t.AssertClose(compact, "gathered", 0, 0);

        var source = t.Random(R * width);
        t.Run((ops, s) => ops.ScatterRows(s[full], s[source], s[index], R, width));
        t.AssertClose(full, "scattered (other rows kept)", 0, 0);
    }
}
