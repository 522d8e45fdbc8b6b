namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Memory helpers (fill, copy, accumulate, scale, linear combination), the residual add and GELU.
/// Lengths 1, 7, 33 are not multiples of a SIMD width or a warp; 70,001 runs CpuOps on several threads.
/// </summary>
public abstract class ElementwiseParity(OpsFixture fixture)
{
    // Copies and float sums are exact everywhere; a·x + b·y may be fused on a GPU; tanh differs by a few ulp.
    private const double CombinationTolerance = 1e-6;
    private const double GeluAtol = 1e-5, GeluRtol = 1e-4;

    [ParityTheory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    public void Memory_helpers_match_the_reference(int n) => MemoryHelpers(n);

    /// <summary>CpuOps splits 70,001 elements over its threads; the emulators take 4,099.</summary>
    [ParityFact]
    public void Memory_helpers_at_a_multithreaded_length() => MemoryHelpers(fixture.Size(70_001, 4_099));

    private void MemoryHelpers(int n)
    {
        using var t = new Twins(fixture, seed: n);
        var x = t.Random(n + 3);               // views longer than the data: the op uses only what it needs
        var y = t.Random(n);
        var d = t.Random(n + 5);
        var output = t.Random(n);

        t.Run((ops, s) => ops.Fill(s[d.Slice(0, n)], 0.25f));
        t.AssertClose(d, "fill", 0, 0);
        t.Run((ops, s) => ops.Copy(s[d], s[x.Slice(0, n)]));
        t.AssertClose(d, "copy", 0, 0);
        t.Run((ops, s) => ops.Accumulate(s[d], s[y]));
        t.AssertClose(d, "accumulate", 0, 0);
        t.Run((ops, s) => ops.Scale(s[d], -1.5f));
        t.AssertClose(d, "scale", 0, 0);
        t.Run((ops, s) => ops.LinearCombination(s[d], 0.3f, s[d.Slice(0, n)], -2f, s[y])); // destination aliases x
        t.AssertClose(d, "linear_combination", CombinationTolerance, CombinationTolerance);
        t.Run((ops, s) => ops.Add(s[output], s[x], s[y], n));
        t.AssertClose(output, "add", 0, 0);
    }

    [ParityFact]
    public void Fill_writes_only_its_slice()
    {
        using var t = new Twins(fixture, seed: 1);
        var x = t.Random(23);
        t.Run((ops, s) => ops.Fill(s[x.Slice(3, 13)], 2.5f));
        t.AssertClose(x, "x", 0, 0);
    }

    [ParityFact]
    public void Copy_accumulate_and_scale_cover_the_source_length_only()
    {
        using var t = new Twins(fixture, seed: 2);
        var destination = t.Random(17);
        var source = t.Random(11);
        var accumulated = t.Random(19);
        t.Run((ops, s) =>
        {
            ops.Copy(s[destination], s[source]);
            ops.Accumulate(s[accumulated], s[source]);
            ops.Accumulate(s[accumulated.Slice(5)], s[source.Slice(0, 9)]);
            ops.Scale(s[source.Slice(1, 7)], -3f);
        });
        t.AssertClose(destination, "destination", 0, 0);
        t.AssertClose(source, "source", 0, 0);
        t.AssertClose(accumulated, "accumulated", 0, 0);
    }

    [ParityFact]
    public void Linear_combination_including_a_destination_aliasing_x()
    {
        using var t = new Twins(fixture, seed: 5);
        var destination = t.Random(21);
        var x = t.Random(21);
        var y = t.Random(21);
        t.Run((ops, s) =>
        {
            ops.LinearCombination(s[destination], 0.75f, s[x], -1.5f, s[y]);
            ops.LinearCombination(s[x], 2f, s[x], 0.5f, s[y]);
        });
        t.AssertClose(destination, "destination", CombinationTolerance, CombinationTolerance);
        t.AssertClose(x, "x (aliased destination)", CombinationTolerance, CombinationTolerance);
        t.AssertClose(y, "y", 0, 0);
    }

    [ParityFact]
    public void Add_writes_the_first_n_only()
    {
        using var t = new Twins(fixture, seed: 8);
        var output = t.Random(33);
        var a = t.Random(31);
        var b = t.Random(30);
        t.Run((ops, s) => ops.Add(s[output], s[a], s[b], 29));
        t.AssertClose(output, "output", 0, 0);
    }

    [ParityTheory]
    [InlineData(7)]
    [InlineData(13)]
    [InlineData(33)]
    public void Gelu_matches_the_reference(int n) => Gelu(n);

    [ParityFact]
    public void Gelu_at_a_multithreaded_length() => Gelu(fixture.Size(70_003, 4_099));

    private void Gelu(int n)
    {
        using var t = new Twins(fixture, seed: n);
        var values = t.Values(n, scale: 6f);
        values[0] = 0f;
        if (n > 3) { values[1] = 30f; values[2] = -30f; } // saturated tanh
        var input = t.Upload(values);
        var output = t.Random(n);
        var doutput = t.Random(n);
        var dinput = t.Random(n);
        t.Run((ops, s) =>
        {
            ops.GeluForward(s[output], s[input], n);
            ops.GeluBackward(s[dinput], s[input], s[doutput], n);
        });
        t.AssertClose(output, "output", GeluAtol, GeluRtol);
        t.AssertClose(dinput, "dinput", GeluAtol, GeluRtol);
    }

    [ParityFact]
    public void Gelu_forward_and_accumulating_backward_including_saturation()
    {
        using var t = new Twins(fixture, seed: 11);
        var values = t.Values(37, scale: 4f);
        values[0] = -30f; values[1] = 30f; values[2] = 0f; values[3] = 1e-4f; values[4] = -9f; values[5] = 9f;
        var input = t.Upload(values);
        var output = t.Random(40);             // longer than n: the tail stays
        var dinput = t.Random(37);
        var doutput = t.Random(37);
        t.Run((ops, s) =>
        {
            ops.GeluForward(s[output], s[input], 37);
            ops.GeluBackward(s[dinput], s[input], s[doutput], 37);
        });
        t.AssertClose(output, "output", GeluAtol, GeluRtol);
        t.AssertClose(dinput, "dinput", GeluAtol, GeluRtol);
        t.AssertClose(input, "input (untouched)", 0, 0);
    }
}
