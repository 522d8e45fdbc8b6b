namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Column blocks of fused rows (LoRA on q, k, v, gate or up): AddColumns accumulates into its block and
/// leaves every other column alone; TakeColumns overwrites its compact destination and leaves the source
/// alone. Blocks sit at the start, in the middle and at the end of rows whose widths (and block widths)
/// are not multiples of a SIMD width or a warp.
/// </summary>
public abstract class ColumnsParity(OpsFixture fixture)
{
    private const double Tolerance = 1e-6;

    public static TheoryData<int, int, int, int, float> Blocks => new()
    {
        // N, wide row width, column, block width, scale
        { 5, 21, 0, 7, 0.5f },      // the first block of three (q of a fused qkv)
        { 5, 21, 7, 7, 2f },        // the middle one
        { 5, 21, 14, 7, -1.25f },   // the last one, ending at the row's end
        { 3, 37, 11, 13, 1f },      // inside, neither end aligned
        { 1, 1, 0, 1, 3f },         // a single element
        { 67, 40, 19, 21, 0.125f }, // to the end of 40-wide rows, many rows
    };

    [ParityTheory]
    [MemberData(nameof(Blocks))]
    public void Add_columns_accumulates_into_its_block_only(int N, int wideWidth, int column, int width, float scale)
    {
        using var t = new Twins(fixture, seed: N * 1000 + wideWidth * 10 + column);
        var output = t.Random(N * wideWidth, scale: 3f);
        var source = t.Random(N * width);
        var before = t.TestedValues(output);
        t.Run((ops, s) => ops.AddColumns(s[output], wideWidth, column, s[source], width, N, scale));
        t.AssertClose(output, "output", Tolerance, Tolerance);
        t.AssertClose(source, "source (untouched)", 0, 0);

        var after = t.TestedValues(output);
        for (int n = 0; n < N; n++)
            for (int j = 0; j < wideWidth; j++)
            {
                int i = n * wideWidth + j;
                bool inside = j >= column && j < column + width;
                if (!inside) Assert.True(before[i] == after[i], $"column {j} of row {n} is outside [{column}, {column + width}) but changed");
            }
    }

    [ParityTheory]
    [MemberData(nameof(Blocks))]
    public void Take_columns_overwrites_its_destination(int N, int wideWidth, int column, int width, float scale)
    {
        using var t = new Twins(fixture, seed: N * 1000 + wideWidth * 10 + column + 1);
        var source = t.Random(N * wideWidth);
        var destination = t.Random(N * width, scale: 100f); // garbage: the op overwrites it
        t.Run((ops, s) => ops.TakeColumns(s[destination], s[source], wideWidth, column, width, N, scale));
        t.AssertClose(destination, "destination", 0, 0);
        t.AssertClose(source, "source (untouched)", 0, 0);
    }

    /// <summary>Take then Add with the inverse scale puts a block back as it was: the pair LoRA's backward and forward use.</summary>
    [ParityFact]
    public void Take_and_add_address_the_same_block()
    {
        const int N = 4, wideWidth = 30, column = 10, width = 12;
        using var t = new Twins(fixture, seed: 77);
        var fused = t.Random(N * wideWidth);
        var block = t.Random(N * width);
        var zeros = t.Upload(new float[N * wideWidth]);
        t.Run((ops, s) => ops.TakeColumns(s[block], s[fused], wideWidth, column, width, N, 1f));
        t.Run((ops, s) => ops.AddColumns(s[zeros], wideWidth, column, s[block], width, N, 1f));
        var original = t.TestedValues(fused);
        var rebuilt = t.TestedValues(zeros);
        for (int n = 0; n < N; n++)
            for (int j = 0; j < wideWidth; j++)
            {
                float expected = j >= column && j < column + width ? original[n * wideWidth + j] : 0f;
                Assert.Equal(expected, rebuilt[n * wideWidth + j]);
            }
    }

    [ParityFact]
    public void Bad_blocks_and_short_views_are_rejected_naming_the_op_and_the_argument()
    {
        var backend = fixture.Backend;
        var ops = backend.Ops;
        using var wide = backend.Allocate<float>(4 * 10);
        using var narrow = backend.Allocate<float>(4 * 3);

        Bf16Parity.Expect("add_columns", "columns [8, 11)", () => ops.AddColumns(wide.View, 10, 8, narrow.View, 3, 4, 1f));
        Bf16Parity.Expect("add_columns", "columns [-1, 2)", () => ops.AddColumns(wide.View, 10, -1, narrow.View, 3, 4, 1f));
        Bf16Parity.Expect("add_columns", "output", () => ops.AddColumns(wide.View, 11, 0, narrow.View, 3, 4, 1f));
        Bf16Parity.Expect("add_columns", "source", () => ops.AddColumns(wide.View, 10, 0, narrow.View, 4, 4, 1f));
        Bf16Parity.Expect("add_columns", "width", () => ops.AddColumns(wide.View, 10, 0, narrow.View, 0, 4, 1f));
        Bf16Parity.Expect("take_columns", "columns [8, 11)", () => ops.TakeColumns(narrow.View, wide.View, 10, 8, 3, 4, 1f));
        Bf16Parity.Expect("take_columns", "destination", () => ops.TakeColumns(narrow.View, wide.View, 10, 0, 4, 4, 1f));
        Bf16Parity.Expect("take_columns", "source", () => ops.TakeColumns(narrow.View, wide.View, 10, 0, 3, 5, 1f));
        Bf16Parity.Expect("take_columns", "N", () => ops.TakeColumns(narrow.View, wide.View, 10, 0, 3, 0, 1f));
    }
}
