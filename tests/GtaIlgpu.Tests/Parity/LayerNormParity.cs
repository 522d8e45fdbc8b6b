namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// LayerNorm forward (with the saved mean and rstd) and its accumulating backward. Widths 7, 13, 33, 37
/// are not multiples of a warp or a SIMD width; 768 is GPT-2's, longer than any row group.
/// </summary>
public abstract class LayerNormParity(OpsFixture fixture)
{
    private const double Atol = 2e-5, Rtol = 1e-4;

    [ParityTheory]
    [InlineData(5, 7)]
    [InlineData(3, 13)]
    [InlineData(4, 33)]
    public void Forward_and_backward_match_the_reference(int N, int C) => ForwardAndBackward(N, C);

    /// <summary>CpuOps splits 64 rows of GPT-2's width over its threads; the emulators take 8.</summary>
    [ParityFact]
    public void Forward_and_backward_at_a_multithreaded_size() => ForwardAndBackward(fixture.Size(64, 8), 768);

    private void ForwardAndBackward(int N, int C)
    {
        using var t = new Twins(fixture, seed: N * 31 + C);
        var input = t.Random(N * C, scale: 2f, offset: 3f); // an offset mean: the variance must not cancel
        var weight = t.Random(C, scale: 0.5f, offset: 1f);
        CheckForward(t, input, weight, t.Random(C, scale: 0.2f), N, C);
        CheckBackward(t, input, weight, N, C);
    }

    // N = 5 rows leaves the last group partly empty; the first row's mean is 100: the two-pass variance must not cancel.
    [ParityTheory]
    [InlineData(5, 7)]
    [InlineData(3, 37)]
    public void Forward_with_a_large_mean_matches_the_reference(int N, int C) => Forward(N, C);

    // N = 70 spans two row chunks of the dweight/dbias column reduction.
    [ParityTheory]
    [InlineData(5, 7)]
    [InlineData(70, 3)]
    public void Backward_accumulates_into_prefilled_gradients(int N, int C) => Backward(N, C, seed: 50 + N);

    /// <summary>
    /// GPT-2's width, rows spanning several column chunks. Full size on CpuOps and a GPU; on the emulators
    /// 9 and 70 rows (the backward still crosses a chunk), a second or two where every emulated thread
    /// is an OS thread.
    /// </summary>
    [ParityFact]
    public void Gpt2_width()
    {
        Forward(fixture.Size(67, 9), 768);
        Backward(fixture.Size(130, 70), 768, seed: 130);
    }

    private void Forward(int N, int C)
    {
        using var t = new Twins(fixture, seed: 40 + C);
        var values = t.Values(N * C, scale: 2f);
        for (int c = 0; c < C; c++) values[c] += 100f;
        CheckForward(t, t.Upload(values), t.Random(C, scale: 0.5f, offset: 1f), t.Random(C), N, C);
    }

    private void Backward(int N, int C, int seed)
    {
        using var t = new Twins(fixture, seed);
        CheckBackward(t, t.Random(N * C, scale: 2f), t.Random(C, scale: 0.5f, offset: 1f), N, C);
    }

    private static void CheckForward(Twins t, Twin<float> input, Twin<float> weight, Twin<float> bias, int N, int C)
    {
        var output = t.Random(N * C);
        var mean = t.Random(N);
        var rstd = t.Random(N);
        t.Run((ops, s) => ops.LayerNormForward(s[output], s[mean], s[rstd], s[input], s[weight], s[bias], N, C));
        t.AssertClose(output, "output", Atol, Rtol);
        t.AssertClose(mean, "mean", Atol, Rtol);
        t.AssertClose(rstd, "rstd", Atol, Rtol);
        t.AssertClose(input, "input (untouched)", 0, 0);
    }

    /// <summary>The backward from the reference forward's saved statistics, into pre-filled gradients.</summary>
    private static void CheckBackward(Twins t, Twin<float> input, Twin<float> weight, int N, int C)
    {
        var saved = Statistics(t, input, N, C);
        var doutput = t.Random(N * C);
        var dinput = t.Random(N * C);
        var dweight = t.Random(C);
        var dbias = t.Random(C);
        t.Run((ops, s) => ops.LayerNormBackward(s[dinput], s[dweight], s[dbias], s[doutput], s[input], s[weight], s[saved.Mean], s[saved.Rstd], N, C));
        t.AssertClose(dinput, "dinput", Atol, Rtol);
        t.AssertClose(dweight, "dweight", Atol, Rtol);
        t.AssertClose(dbias, "dbias", Atol, Rtol);
    }

    /// <summary>The saved mean and rstd as the reference forward computes them, on both sides.</summary>
    private static (Twin<float> Mean, Twin<float> Rstd) Statistics(Twins t, Twin<float> input, int N, int C)
    {
        var x = t.ReferenceValues(input);
        var mean = new float[N];
        var rstd = new float[N];
        for (int n = 0; n < N; n++)
        {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += x[n * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (x[n * C + c] - m) * (x[n * C + c] - m);
            mean[n] = (float)m;
            rstd[n] = (float)(1 / Math.Sqrt(v / C + 1e-5));
        }
        return (t.Upload(mean), t.Upload(rstd));
    }
}
