namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// RMSNorm over rows (Llama) and Qwen3's per-head q/k RMSNorm inside qkv rows: forward (with the saved
/// rstd) and the accumulating backward. Widths 7, 13, 33 and head sizes 6, 10 are not multiples of a warp
/// or a SIMD width; GQA shapes NH=4/NKV=2 and NH=3/NKV=1 put the k weight on a different count of heads.
/// </summary>
public abstract class RmsNormParity(OpsFixture fixture)
{
    private const double Atol = 2e-5, Rtol = 1e-4;

    [ParityTheory]
    [InlineData(5, 7, 1e-5f)]
    [InlineData(3, 13, 1e-6f)]
    [InlineData(4, 33, 1e-6f)]
    public void Rows_forward_and_backward_match_the_reference(int N, int C, float eps) => Rows(N, C, eps, seed: N * 31 + C);

    /// <summary>CpuOps splits 64 rows of GPT-2's width over its threads; the emulators take 8.</summary>
    [ParityFact]
    public void Rows_at_a_multithreaded_size() => Rows(fixture.Size(64, 8), 768, 1e-5f, seed: 7);

    // N = 70 spans two row chunks of the dweight column reduction; C = 3 keeps it cheap on the emulators.
    [ParityFact]
    public void Rows_backward_accumulates_over_two_row_chunks() => Rows(70, 3, 1e-6f, seed: 70);

    [ParityTheory]
    [InlineData(3, 4, 2, 6)]
    [InlineData(5, 3, 1, 10)]
    [InlineData(2, 2, 2, 33)]
    public void Heads_forward_and_backward_match_the_reference(int N, int NH, int NKV, int hs) => Heads(N, NH, NKV, hs, seed: N * 100 + NH * 10 + hs);

    /// <summary>Qwen3-like heads (hs 64, NH 16 over NKV 8): CpuOps spreads 64 rows over its threads; the emulators take 3.</summary>
    [ParityFact]
    public void Heads_at_a_multithreaded_size() => Heads(fixture.Size(64, 3), 16, 8, 64, seed: 8);

    [ParityFact]
    public void Heads_backward_accumulates_over_two_row_chunks() => Heads(70, 3, 1, 2, seed: 71);

    [ParityFact]
    public void Short_views_are_rejected_naming_the_op()
    {
        var ops = fixture.Backend.Ops;
        using var x = fixture.Backend.Allocate<float>(5 * 7);
        using var w = fixture.Backend.Allocate<float>(7);
        using var small = fixture.Backend.Allocate<float>(4);
        var e = Assert.Throws<ArgumentException>(() => ops.RmsNormForward(x.View, small.View, x.View, w.View, 5, 7, 1e-6f));
        Assert.Contains("rmsnorm_forward", e.Message);
        Assert.Contains("rstd", e.Message);
        e = Assert.Throws<ArgumentException>(() => ops.QkNormForward(x.View, small.View, x.View, w.View, w.View, 1, 4, 1, 7, 1e-6f));
        Assert.Contains("qknorm_forward", e.Message);
    }

    private void Rows(int N, int C, float eps, int seed)
    {
        using var t = new Twins(fixture, seed);
        var input = t.Random(N * C, scale: 2f, offset: 0.5f);
        var weight = t.Random(C, scale: 0.5f, offset: 1f);
        var output = t.Random(N * C);
        var rstd = t.Random(N);
        t.Run((ops, s) => ops.RmsNormForward(s[output], s[rstd], s[input], s[weight], N, C, eps));
        t.AssertClose(output, "output", Atol, Rtol);
        t.AssertClose(rstd, "rstd", Atol, Rtol);
        t.AssertClose(input, "input (untouched)", 0, 0);

        // The backward from the reference's saved rstd on both sides, into pre-filled gradients.
        var saved = t.Upload(t.ReferenceValues(rstd));
        var doutput = t.Random(N * C);
        var dinput = t.Random(N * C);
        var dweight = t.Random(C);
        t.Run((ops, s) => ops.RmsNormBackward(s[dinput], s[dweight], s[doutput], s[input], s[weight], s[saved], N, C));
        t.AssertClose(dinput, "dinput", Atol, Rtol);
        t.AssertClose(dweight, "dweight", Atol, Rtol);
    }

    private void Heads(int N, int NH, int NKV, int hs, int seed)
    {
        int width = (NH + 2 * NKV) * hs, heads = NH + NKV;
        using var t = new Twins(fixture, seed);
        var qkv = t.Random(N * width, scale: 2f, offset: 0.3f);
        var qWeight = t.Random(hs, scale: 0.5f, offset: 1f);
        var kWeight = t.Random(hs, scale: 0.5f, offset: -1f);
        var output = t.Random(N * width);
        var rstd = t.Random(N * heads);
        t.Run((ops, s) => ops.QkNormForward(s[output], s[rstd], s[qkv], s[qWeight], s[kWeight], N, NH, NKV, hs, 1e-6f));
        t.AssertClose(output, "output", Atol, Rtol);
        t.AssertClose(rstd, "rstd", Atol, Rtol);
        t.AssertClose(qkv, "qkv (untouched)", 0, 0);

        var saved = t.Upload(t.ReferenceValues(rstd));
        var doutput = t.Random(N * width);
        var dqkv = t.Random(N * width);
        var dqWeight = t.Random(hs);
        var dkWeight = t.Random(hs);
        t.Run((ops, s) => ops.QkNormBackward(s[dqkv], s[dqWeight], s[dkWeight], s[doutput], s[qkv], s[qWeight], s[kWeight], s[saved], N, NH, NKV, hs));
        t.AssertClose(dqkv, "dqkv", Atol, Rtol);
        t.AssertClose(dqWeight, "dqWeight", Atol, Rtol);
        t.AssertClose(dkWeight, "dkWeight", Atol, Rtol);
    }
}
