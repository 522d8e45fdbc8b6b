namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// SwiGLU over fused [gate | up] rows, forward and the accumulating backward. Intermediate sizes 7, 13, 33
/// leave SIMD tails; one row carries gates far into both tails of the sigmoid (e^−g overflowing to ∞).
/// </summary>
public abstract class SwiGluParity(OpsFixture fixture)
{
    private const double Atol = 1e-5, Rtol = 1e-4;

    [ParityTheory]
    [InlineData(5, 7)]
    [InlineData(3, 13)]
    [InlineData(4, 33)]
    public void Forward_and_backward_match_the_reference(int N, int I) => ForwardAndBackward(N, I, seed: N * 31 + I);

    /// <summary>CpuOps spreads 64 rows of 1000 over its threads; the emulators take 4.</summary>
    [ParityFact]
    public void At_a_multithreaded_size() => ForwardAndBackward(fixture.Size(64, 4), 1000, seed: 10);

    private void ForwardAndBackward(int N, int I, int seed)
    {
        using var t = new Twins(fixture, seed);
        var values = t.Values(N * 2 * I, scale: 6f);
        float[] extremes = [-100f, -40f, -20f, 20f, 40f, 100f];
        for (int j = 0; j < Math.Min(I, extremes.Length); j++) values[j] = extremes[j]; // gates of row 0
        var gateUp = t.Upload(values);
        var output = t.Random(N * I);
        t.Run((ops, s) => ops.SwiGluForward(s[output], s[gateUp], N, I));
        t.AssertClose(output, "output", Atol, Rtol);
        t.AssertClose(gateUp, "gateUp (untouched)", 0, 0);

        var doutput = t.Random(N * I);
        var dgateUp = t.Random(N * 2 * I);
        t.Run((ops, s) => ops.SwiGluBackward(s[dgateUp], s[doutput], s[gateUp], N, I));
        t.AssertClose(dgateUp, "dgateUp", Atol, Rtol);
    }
}
