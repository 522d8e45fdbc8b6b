using GtaIlgpu.Backends.Cpu;
using static GtaIlgpu.Tests.Reference.ReferenceGradientTests;

namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// The Llama-family ops of the scalar reference: finite-difference checks of every backward (as in
/// <see cref="ReferenceGradientTests"/>), and the properties the parity suites cannot see because they
/// compare against this very reference: which weight each QkNorm head uses, v copied untouched, the
/// rotate-half pairing against a hand-computed case, norms preserved, backward undoing forward.
/// </summary>
public sealed class ReferenceLlamaOpGradientTests
{
    private static readonly ReferenceOps Ops = new();
    private const float Eps = 1e-6f;

    [Fact]
    public void RmsNormBackwardMatchesFiniteDifferences()
    {
        const int N = 3, C = 5;
        var rng = new Random(11);
        var x = Buffer(Random(rng, N * C, 1f, 0.3f));
        var w = Buffer(Random(rng, C, 0.5f, 1f));
        var output = new HostBuffer<float>(N * C);
        var rstd = new HostBuffer<float>(N);
        var r = Random(rng, N * C);
        double Loss()
        {
            Ops.RmsNormForward(output.View, rstd.View, x.View, w.View, N, C, Eps);
            return Weighted(r, output.Data);
        }

        Loss(); // saves rstd at the unperturbed input
        var dx0 = Random(rng, N * C);
        var dw0 = Random(rng, C);
        var dx = Buffer(dx0);
        var dw = Buffer(dw0);
        Ops.RmsNormBackward(dx.View, dw.View, Buffer(r).View, x.View, w.View, rstd.View, N, C);

        CheckGradient("dinput", x.Data, dx.Data, dx0, Loss);
        CheckGradient("dweight", w.Data, dw.Data, dw0, Loss);
    }

    [Fact]
    public void RmsNormForwardIsXTimesRstdTimesWeight()
    {
        const int C = 4;
        var x = Buffer(new[] { 1f, -2f, 3f, 0.5f });
        var w = Buffer(new[] { 1f, 2f, 0.5f, -1f });
        var output = new HostBuffer<float>(C);
        var rstd = new HostBuffer<float>(1);
        Ops.RmsNormForward(output.View, rstd.View, x.View, w.View, 1, C, Eps);
        double expectedRstd = 1 / Math.Sqrt((1 + 4 + 9 + 0.25) / 4.0 + Eps);
        Assert.Equal(expectedRstd, rstd.Data[0], 6);
        for (int c = 0; c < C; c++) Assert.Equal(x.Data[c] * expectedRstd * w.Data[c], output.Data[c], 5);
    }

    [Theory]
    [InlineData(4, 2, 4)]
    [InlineData(3, 1, 6)]
    public void QkNormBackwardMatchesFiniteDifferences(int NH, int NKV, int hs)
    {
        const int N = 2;
        int width = (NH + 2 * NKV) * hs;
        var rng = new Random(12 + NH);
        var qkv = Buffer(Random(rng, N * width, 1f, 0.2f));
        var wq = Buffer(Random(rng, hs, 0.5f, 1f));
        var wk = Buffer(Random(rng, hs, 0.5f, 1f));
        var output = new HostBuffer<float>(N * width);
        var rstd = new HostBuffer<float>(N * (NH + NKV));
        var r = Random(rng, N * width);
        double Loss()
        {
            Ops.QkNormForward(output.View, rstd.View, qkv.View, wq.View, wk.View, N, NH, NKV, hs, Eps);
            return Weighted(r, output.Data);
        }

        Loss();
        var dx0 = Random(rng, N * width);
        var dwq0 = Random(rng, hs);
        var dwk0 = Random(rng, hs);
        var dx = Buffer(dx0);
        var dwq = Buffer(dwq0);
        var dwk = Buffer(dwk0);
        Ops.QkNormBackward(dx.View, dwq.View, dwk.View, Buffer(r).View, qkv.View, wq.View, wk.View, rstd.View, N, NH, NKV, hs);

        CheckGradient("dqkv", qkv.Data, dx.Data, dx0, Loss); // covers v: its gradient is doutput's v part
        CheckGradient("dqWeight", wq.Data, dwq.Data, dwq0, Loss);
        CheckGradient("dkWeight", wk.Data, dwk.Data, dwk0, Loss);
    }

    /// <summary>Each q head is RMSNorm of its hs values with qWeight, each k head with kWeight, and v is the input bit for bit.</summary>
    [Fact]
    public void QkNormUsesQWeightForQHeadsKWeightForKHeadsAndCopiesV()
    {
        const int N = 2, NH = 3, NKV = 1, hs = 6;
        const int heads = NH + NKV, width = (NH + 2 * NKV) * hs;
        var rng = new Random(13);
        var qkv = Buffer(Random(rng, N * width, 2f));
        var wq = Buffer(Random(rng, hs, 0.5f, 1f));
        var wk = Buffer(Random(rng, hs, 0.5f, -1f)); // far from qWeight: a k head normalised with qWeight is visibly wrong
        var output = Buffer(Random(rng, N * width));
        var rstd = new HostBuffer<float>(N * heads);
        Ops.QkNormForward(output.View, rstd.View, qkv.View, wq.View, wk.View, N, NH, NKV, hs, Eps);

        var head = new HostBuffer<float>(hs);
        var headRstd = new HostBuffer<float>(1);
        for (int n = 0; n < N; n++)
        {
            for (int h = 0; h < heads; h++)
            {
                int at = n * width + h * hs;
                Ops.RmsNormForward(head.View, headRstd.View, qkv.View.Slice(at, hs), h < NH ? wq.View : wk.View, 1, hs, Eps);
                Assert.Equal(headRstd.Data[0], rstd.Data[n * heads + h]);
                for (int i = 0; i < hs; i++) Assert.Equal(head.Data[i], output.Data[at + i]);
            }
            for (int c = heads * hs; c < width; c++) Assert.Equal(qkv.Data[n * width + c], output.Data[n * width + c]);
        }
    }

    // ---- rotary -----------------------------------------------------------------------------------

    /// <summary>The rotation is linear: its gradient is its transpose, the rotation by −θ, applied in place (no accumulation).</summary>
    [Fact]
    public void RotaryBackwardMatchesFiniteDifferences()
    {
        const int N = 3, NH = 2, NKV = 1, hs = 6;
        const int width = (NH + 2 * NKV) * hs;
        var rng = new Random(14);
        var x = Random(rng, N * width);
        var positions = Buffer(new[] { 5, 0, 17 });
        var invFreq = Buffer(new[] { 1f, 0.3f, 0.01f });
        var rotated = new HostBuffer<float>(N * width);
        var r = Random(rng, N * width);
        double Loss()
        {
            x.CopyTo(rotated.Data, 0);
            Ops.RotaryForward(rotated.View, positions.View, invFreq.View, N, NH, NKV, hs);
            return Weighted(r, rotated.Data);
        }

        var gradient = Buffer(r);
        Ops.RotaryBackward(gradient.View, positions.View, invFreq.View, N, NH, NKV, hs);
        CheckGradient("dqkv", x, gradient.Data, new float[N * width], Loss);
    }

    [Fact]
    public void RotaryPairsIWithIPlusHalfAsRotateHalf()
    {
        var x = Buffer(new[] { 1f, 2f, 3f, 4f, /* k */ 1f, 2f, 3f, 4f, /* v */ 5f, 6f, 7f, 8f });
        Ops.RotaryForward(x.View, Buffer(new[] { 1 }).View, Buffer(new[] { 1f, 0.01f }).View, 1, 1, 1, 4);
        double c1 = Math.Cos(1), s1 = Math.Sin(1), c2 = Math.Cos(0.01f), s2 = Math.Sin(0.01f);
        double[] expected = [1 * c1 - 3 * s1, 2 * c2 - 4 * s2, 3 * c1 + 1 * s1, 4 * c2 + 2 * s2];
        for (int head = 0; head < 2; head++)
            for (int i = 0; i < 4; i++)
                Assert.Equal(expected[i], x.Data[head * 4 + i], 6);
        Assert.Equal(new[] { 5f, 6f, 7f, 8f }, x.Data[8..]); // v untouched
    }

    [Fact]
    public void RotaryPreservesPairNormsAndBackwardUndoesForward()
    {
        const int N = 4, NH = 4, NKV = 2, hs = 10;
        const int width = (NH + 2 * NKV) * hs, half = hs / 2;
        var rng = new Random(15);
        var original = Random(rng, N * width, 2f);
        var x = Buffer(original);
        var positions = Buffer(new[] { 0, 7, 300, 4095 });
        var invFreq = Buffer(Enumerable.Range(0, half).Select(i => (float)Math.Pow(10000, -2.0 * i / hs)).ToArray());
        Ops.RotaryForward(x.View, positions.View, invFreq.View, N, NH, NKV, hs);

        for (int n = 0; n < N; n++)
            for (int h = 0; h < NH + NKV; h++)
                for (int i = 0; i < half; i++)
                {
                    int lo = n * width + h * hs + i, hi = lo + half;
                    double before = Math.Sqrt((double)original[lo] * original[lo] + (double)original[hi] * original[hi]);
                    double after = Math.Sqrt((double)x.Data[lo] * x.Data[lo] + (double)x.Data[hi] * x.Data[hi]);
                    Assert.Equal(before, after, 5);
                }
        Assert.NotEqual(original[width + 1], x.Data[width + 1]); // position 7 did turn

        Ops.RotaryBackward(x.View, positions.View, invFreq.View, N, NH, NKV, hs);
        for (int i = 0; i < original.Length; i++) Assert.Equal(original[i], x.Data[i], 5);
    }

    // ---- SwiGLU -----------------------------------------------------------------------------------

    [Fact]
    public void SwiGluBackwardMatchesFiniteDifferences()
    {
        const int N = 3, I = 5;
        var rng = new Random(16);
        var gateUp = Buffer(Random(rng, N * 2 * I, 3f));
        var output = new HostBuffer<float>(N * I);
        var r = Random(rng, N * I);
        double Loss()
        {
            Ops.SwiGluForward(output.View, gateUp.View, N, I);
            return Weighted(r, output.Data);
        }

        var d0 = Random(rng, N * 2 * I);
        var d = Buffer(d0);
        Ops.SwiGluBackward(d.View, Buffer(r).View, gateUp.View, N, I);
        CheckGradient("dgateUp", gateUp.Data, d.Data, d0, Loss);
    }

    [Fact]
    public void SwiGluIsSiluOfGateTimesUp()
    {
        var gateUp = Buffer(new[] { 2f, -1f, 3f, 0.5f }); // gate [2, −1], up [3, 0.5]
        var output = new HostBuffer<float>(2);
        Ops.SwiGluForward(output.View, gateUp.View, 1, 2);
        Assert.Equal(2 / (1 + Math.Exp(-2)) * 3, output.Data[0], 5);
        Assert.Equal(-1 / (1 + Math.Exp(1)) * 0.5, output.Data[1], 5);
    }
}
