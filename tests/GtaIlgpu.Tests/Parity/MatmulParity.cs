namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Matmul forward (with and without bias) and its accumulating backward, each gradient skippable.
/// Shapes straddle the kernel's 64×64×16 tiles (below, at and above a tile, primes) so the guarded
/// loads and stores run, and 64×96×80 runs CpuOps on several threads; the emulators keep every
/// dimension under ~100.
/// </summary>
public abstract class MatmulParity(OpsFixture fixture)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 5, 7, 3 },
        { 5, 7, 13 },
        { 3, 33, 7 },
        { 1, 13, 1 },
        { 33, 17, 65 },
        { 64, 16, 64 },   // exactly one tile in every dimension
        { 67, 35, 9 },
        { 64, 96, 80 },
    };

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_the_reference(int N, int C, int OC)
    {
        foreach (bool withBias in new[] { true, false })
        {
            using var t = new Twins(fixture, seed: N * 1000 + C * 10 + OC);
            var input = t.Random(N * C);
            var weight = t.Random(OC * C);
            var bias = withBias ? t.Random(OC) : Twin<float>.Empty;
            var output = t.Random(N * OC, scale: 100f); // the forward overwrites whatever was there
            t.Run((ops, s) => ops.MatmulForward(s[output], s[input], s[weight], s[bias], N, C, OC));
            t.AssertClose(output, $"output (bias: {withBias})", Tolerance, Tolerance);
        }
    }

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Backward_accumulates_like_the_reference(int N, int C, int OC)
    {
        using var t = new Twins(fixture, seed: N * 1000 + C * 10 + OC + 1);
        var input = t.Random(N * C);
        var weight = t.Random(OC * C);
        var doutput = t.Random(N * OC);
        var dinput = t.Random(N * C);   // gradients arrive pre-filled: the backward adds to them
        var dweight = t.Random(OC * C);
        var dbias = t.Random(OC);
        t.Run((ops, s) => ops.MatmulBackward(s[dinput], s[dweight], s[dbias], s[doutput], s[input], s[weight], N, C, OC));
        t.AssertClose(dinput, "dinput", Tolerance, Tolerance);
        t.AssertClose(dweight, "dweight", Tolerance, Tolerance);
        t.AssertClose(dbias, "dbias", Tolerance, Tolerance);
    }

    [ParityTheory]
    [InlineData(9, 6, 70)]
    [InlineData(5, 7, 13)]
    [InlineData(64, 96, 80)]
    public void Backward_skips_each_empty_gradient(int N, int C, int OC)
    {
        using var t = new Twins(fixture, seed: N + 7 * C + 13 * OC);
        var input = t.Random(N * C);
        var weight = t.Random(OC * C);
        var doutput = t.Random(N * OC);
        var dinput = t.Random(N * C);
        var dweight = t.Random(OC * C);

        t.Run((ops, s) => ops.MatmulBackward(default, s[dweight], default, s[doutput], s[input], s[weight], N, C, OC));
        t.AssertClose(dweight, "dweight without dinput and dbias", Tolerance, Tolerance);
        t.AssertClose(dinput, "dinput (not asked for: untouched)", 0, 0);

        // The LM head's selected-rows input gradient: dinput as before, dweight untouched.
        var untouched = t.TestedValues(dweight);
        t.Run((ops, s) => ops.MatmulBackward(s[dinput], default, default, s[doutput], s[input], s[weight], N, C, OC));
        t.AssertClose(dinput, "dinput without dweight", Tolerance, Tolerance);
        Assert.Equal(untouched, t.TestedValues(dweight));

        t.Run((ops, s) => ops.MatmulBackward(s[dinput], s[dweight], default, s[doutput], s[input], s[weight], N, C, OC));
        t.AssertClose(dinput, "dinput without dbias", Tolerance, Tolerance);
        t.AssertClose(dweight, "dweight without dbias", Tolerance, Tolerance);
    }
}
