namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Rotary position embedding in place on the q and k heads of qkv rows, forward and backward (the turn by
/// −θ). Positions are decode offsets, not 0..N−1: large ones (θ of thousands of radians) test the sin/cos
/// range reduction. Head sizes 6 and 10 leave SIMD tails; NH=4/NKV=2 and NH=3/NKV=1 are GQA layouts.
/// </summary>
public abstract class RotaryParity(OpsFixture fixture)
{
    private const double Atol = 1e-5, Rtol = 1e-5;

    [ParityTheory]
    [InlineData(5, 4, 2, 6)]
    [InlineData(3, 3, 1, 10)]
    [InlineData(7, 2, 2, 64)]
    public void Forward_and_backward_match_the_reference(int N, int NH, int NKV, int hs) => Rotate(N, NH, NKV, hs, seed: N * 100 + NH * 10 + hs);

    /// <summary>CpuOps spreads 256 rows over its threads; the emulators take 6.</summary>
    [ParityFact]
    public void At_a_multithreaded_size() => Rotate(fixture.Size(256, 6), 8, 2, 64, seed: 9);

    [ParityFact]
    public void Bad_shapes_are_rejected_naming_the_op()
    {
        var ops = fixture.Backend.Ops;
        using var qkv = fixture.Backend.Allocate<float>(2 * 4 * 6);
        using var positions = fixture.Backend.Allocate<int>(1);
        using var invFreq = fixture.Backend.Allocate<float>(3);
        var e = Assert.Throws<ArgumentException>(() => ops.RotaryForward(qkv.View, positions.View, invFreq.View, 2, 2, 1, 6));
        Assert.Contains("rotary_forward", e.Message);
        Assert.Contains("positions", e.Message);
        Assert.Throws<ArgumentException>(() => ops.RotaryBackward(qkv.View, positions.View, invFreq.View, 1, 1, 1, 5)); // odd hs
    }

    private void Rotate(int N, int NH, int NKV, int hs, int seed)
    {
        int width = (NH + 2 * NKV) * hs;
        using var t = new Twins(fixture, seed);
        // A decode batch at scattered offsets, 0 and a long-context one included.
        var positions = Enumerable.Range(0, N).Select(n => n switch { 0 => 4093, 1 => 0, _ => t.Rng.Next(1, 2048) }).ToArray();
        var position = t.Upload(positions);
        // Qwen3's rope_theta: frequencies from 1 down to about 1e-6.
        var invFreq = t.Upload(Enumerable.Range(0, hs / 2).Select(i => (float)Math.Pow(1_000_000, -2.0 * i / hs)).ToArray());

        var qkv = t.Random(N * width, scale: 2f);
        t.Run((ops, s) => ops.RotaryForward(s[qkv], s[position], s[invFreq], N, NH, NKV, hs));
        t.AssertClose(qkv, "qkv (rotated; v untouched)", Atol, Rtol);

        var dqkv = t.Random(N * width, scale: 2f);
        t.Run((ops, s) => ops.RotaryBackward(s[dqkv], s[position], s[invFreq], N, NH, NKV, hs));
        t.AssertClose(dqkv, "dqkv (turned back; v untouched)", Atol, Rtol);
    }
}
