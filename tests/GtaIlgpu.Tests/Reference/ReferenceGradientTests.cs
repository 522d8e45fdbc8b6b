using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// Finite-difference checks of every backward in the scalar reference. For an op with output y, take
/// L = Σ r·y with a fixed random r, run the backward with doutput = r, and compare each input gradient
/// with the central difference (L(x+h) − L(x−h)) / (2h), L evaluated in double from the reference
/// forward. Gradient buffers start from random values, so the checks also prove the += contract.
/// </summary>
public sealed class ReferenceGradientTests
{
    internal const float H = 1e-3f;
    private static readonly ReferenceOps Ops = new();

    internal static HostBuffer<float> Buffer(float[] values)
    {
        var buffer = new HostBuffer<float>(values.Length);
        values.CopyTo(buffer.Data, 0);
        return buffer;
    }

    internal static HostBuffer<int> Buffer(int[] values)
    {
        var buffer = new HostBuffer<int>(values.Length);
        values.CopyTo(buffer.Data, 0);
        return buffer;
    }

    internal static float[] Random(Random rng, int n, float scale = 1f, float offset = 0f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = offset + scale * (2f * rng.NextSingle() - 1f);
        return x;
    }

    internal static double Weighted(float[] r, float[] y)
    {
        double s = 0;
        for (int i = 0; i < r.Length; i++) s += (double)r[i] * y[i];
        return s;
    }

    /// <summary>
    /// Compares (gradient − initial), the part the backward added, with central differences of loss()
    /// with respect to every element of input (which loss() must read).
    /// </summary>
    internal static void CheckGradient(string name, float[] input, float[] gradient, float[] initial, Func<double> loss)
    {
        for (int i = 0; i < input.Length; i++)
        {
            float original = input[i];
            input[i] = original + H;
            float plus = input[i];
            double lossPlus = loss();
            input[i] = original - H;
            float minus = input[i];
            double lossMinus = loss();
            input[i] = original;
            double numeric = (lossPlus - lossMinus) / ((double)plus - minus);
            double analytic = (double)gradient[i] - initial[i];
            Assert.True(Math.Abs(numeric - analytic) <= 2e-3 + 2e-2 * Math.Abs(numeric),
                $"{name}[{i}]: analytic {analytic:G6}, finite difference {numeric:G6}");
        }
    }

    [Fact]
    public void EncoderBackwardMatchesFiniteDifferences()
    {
        const int B = 2, T = 3, C = 4, V = 5;
        var rng = new Random(1);
        var tokens = Buffer(new[] { 1, 3, 1, 4, 1, 0 }); // token 1 repeats: its gradient rows add up
        var wte = Buffer(Random(rng, V * C));
        var wpe = Buffer(Random(rng, T * C));
        var output = new HostBuffer<float>(B * T * C);
        var r = Random(rng, B * T * C);
        double Loss()
        {
            Ops.EncoderForward(output.View, tokens.View, wte.View, wpe.View, B, T, C);
            return Weighted(r, output.Data);
        }

        var dwte0 = Random(rng, V * C);
        var dwpe0 = Random(rng, T * C);
        var dwte = Buffer(dwte0);
        var dwpe = Buffer(dwpe0);
        Ops.EncoderBackward(dwte.View, dwpe.View, Buffer(r).View, tokens.View, B, T, C);

        CheckGradient("dwte", wte.Data, dwte.Data, dwte0, Loss);
        CheckGradient("dwpe", wpe.Data, dwpe.Data, dwpe0, Loss);
    }

    [Fact]
    public void LayerNormBackwardMatchesFiniteDifferences()
    {
        const int N = 3, C = 5;
        var rng = new Random(2);
        var x = Buffer(Random(rng, N * C, 1f, 0.5f));
        var w = Buffer(Random(rng, C, 0.5f, 1f));
        var b = Buffer(Random(rng, C));
        var output = new HostBuffer<float>(N * C);
        var mean = new HostBuffer<float>(N);
        var rstd = new HostBuffer<float>(N);
        var r = Random(rng, N * C);
        double Loss()
        {
            Ops.LayerNormForward(output.View, mean.View, rstd.View, x.View, w.View, b.View, N, C);
            return Weighted(r, output.Data);
        }

        Loss(); // saves mean and rstd at the unperturbed input
        var dx0 = Random(rng, N * C);
        var dw0 = Random(rng, C);
        var db0 = Random(rng, C);
        var dx = Buffer(dx0);
        var dw = Buffer(dw0);
        var db = Buffer(db0);
        Ops.LayerNormBackward(dx.View, dw.View, db.View, Buffer(r).View, x.View, w.View, mean.View, rstd.View, N, C);

        CheckGradient("dinput", x.Data, dx.Data, dx0, Loss);
        CheckGradient("dweight", w.Data, dw.Data, dw0, Loss);
        CheckGradient("dbias", b.Data, db.Data, db0, Loss);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MatmulBackwardMatchesFiniteDifferences(bool withBias)
    {
        const int N = 3, C = 4, OC = 5;
        var rng = new Random(3);
        var x = Buffer(Random(rng, N * C));
        var w = Buffer(Random(rng, OC * C));
        var bias = withBias ? Buffer(Random(rng, OC)) : null;
        var output = new HostBuffer<float>(N * OC);
        var r = Random(rng, N * OC);
        double Loss()
        {
            Ops.MatmulForward(output.View, x.View, w.View, bias?.View ?? default, N, C, OC);
            return Weighted(r, output.Data);
        }

        var dx0 = Random(rng, N * C);
        var dw0 = Random(rng, OC * C);
        var db0 = Random(rng, OC);
        var dx = Buffer(dx0);
        var dw = Buffer(dw0);
        var db = Buffer(db0);
        Ops.MatmulBackward(dx.View, dw.View, withBias ? db.View : default, Buffer(r).View, x.View, w.View, N, C, OC);

        CheckGradient("dinput", x.Data, dx.Data, dx0, Loss);
        CheckGradient("dweight", w.Data, dw.Data, dw0, Loss);
        if (withBias) CheckGradient("dbias", bias!.Data, db.Data, db0, Loss);
        else Assert.Equal(db0, db.Data);
    }

    [Fact]
    public void MatmulBackwardSkipsAnEmptyDinput()
    {
        const int N = 2, C = 3, OC = 2;
        var rng = new Random(4);
        var x = Buffer(Random(rng, N * C));
        var w = Buffer(Random(rng, OC * C));
        var dy = Buffer(Random(rng, N * OC));
        var full = Buffer(new float[OC * C]);
        var skipped = Buffer(new float[OC * C]);
        Ops.MatmulBackward(Buffer(new float[N * C]).View, full.View, default, dy.View, x.View, w.View, N, C, OC);
        Ops.MatmulBackward(default, skipped.View, default, dy.View, x.View, w.View, N, C, OC);
        Assert.Equal(full.Data, skipped.Data);
    }

    [Fact]
    public void AttentionBackwardMatchesFiniteDifferences()
    {
        const int B = 2, T = 4, C = 6, NH = 2;
        var rng = new Random(5);
        var qkv = Buffer(Random(rng, B * T * 3 * C));
        var output = new HostBuffer<float>(B * T * C);
        var att = new HostBuffer<float>(B * NH * T * T);
        var r = Random(rng, B * T * C);
        double Loss()
        {
            Ops.AttentionForward(output.View, att.View, qkv.View, B, T, C, NH);
            return Weighted(r, output.Data);
        }

        Loss(); // saves att at the unperturbed input
        var dqkv0 = Random(rng, B * T * 3 * C);
        var dqkv = Buffer(dqkv0);
        var scratch = new HostBuffer<float>(B * NH * T * T);
        Ops.AttentionBackward(dqkv.View, scratch.View, Buffer(r).View, qkv.View, att.View, B, T, C, NH);

        CheckGradient("dqkv", qkv.Data, dqkv.Data, dqkv0, Loss);
    }

    [Theory]
    [InlineData(1, 4, 4, 2, 3)]  // groups of two
    [InlineData(2, 3, 6, 2, 2)]  // groups of three
    [InlineData(1, 5, 3, 1, 4)]  // multi-query
    [InlineData(1, 3, 2, 2, 5)]  // NKV = NH, hs not tied to any C
    public void GroupedQueryAttentionBackwardMatchesFiniteDifferences(int B, int T, int NH, int NKV, int hs)
    {
        int W = (NH + 2 * NKV) * hs;
        var rng = new Random(50 + NH * 10 + NKV + hs);
        var qkv = Buffer(Random(rng, B * T * W));
        var output = new HostBuffer<float>(B * T * NH * hs);
        var att = new HostBuffer<float>(B * NH * T * T);
        var r = Random(rng, B * T * NH * hs);
        double Loss()
        {
            Ops.AttentionForward(output.View, att.View, qkv.View, B, T, NH, NKV, hs);
            return Weighted(r, output.Data);
        }

        Loss();
        var dqkv0 = Random(rng, B * T * W);
        var dqkv = Buffer(dqkv0);
        var scratch = new HostBuffer<float>(B * NH * T * T);
        Ops.AttentionBackward(dqkv.View, scratch.View, Buffer(r).View, qkv.View, att.View, B, T, NH, NKV, hs);

        CheckGradient("dqkv", qkv.Data, dqkv.Data, dqkv0, Loss);
    }

    [Fact]
    public void GeluBackwardMatchesFiniteDifferences()
    {
        const int n = 9;
        var rng = new Random(6);
        var x = Buffer(new[] { -4f, -2.5f, -1f, -0.3f, 0f, 0.2f, 0.9f, 2f, 3.5f });
        var output = new HostBuffer<float>(n);
        var r = Random(rng, n);
        double Loss()
        {
            Ops.GeluForward(output.View, x.View, n);
            return Weighted(r, output.Data);
        }

        var dx0 = Random(rng, n);
        var dx = Buffer(dx0);
        Ops.GeluBackward(dx.View, x.View, Buffer(r).View, n);
        CheckGradient("dinput", x.Data, dx.Data, dx0, Loss);
    }

    [Fact]
    public void ResidualBackwardIsAccumulateOfTheOutputGradient()
    {
        const int n = 6;
        var rng = new Random(7);
        var a = Buffer(Random(rng, n));
        var b = Buffer(Random(rng, n));
        var output = new HostBuffer<float>(n);
        var r = Random(rng, n);
        double Loss()
        {
            Ops.Add(output.View, a.View, b.View, n);
            return Weighted(r, output.Data);
        }

        // output = a + b, so da += doutput and db += doutput.
        var da0 = Random(rng, n);
        var db0 = Random(rng, n);
        var da = Buffer(da0);
        var db = Buffer(db0);
        Ops.Accumulate(da.View, Buffer(r).View);
        Ops.Accumulate(db.View, Buffer(r).View);
        CheckGradient("da", a.Data, da.Data, da0, Loss);
        CheckGradient("db", b.Data, db.Data, db0, Loss);
    }

    [Fact]
    public void TokenLogLikelihoodGradientIsTheDerivativeOfTheWeightedLoss()
    {
        const int N = 4, V = 6;
        var rng = new Random(8);
        var logits = Buffer(Random(rng, N * V, 2f));
        var targets = Buffer(new[] { 2, -1, 5, 0 });
        var coefficients = new[] { 0.7f, 1.3f, -0.4f, 0.25f }; // negative: the GRPO surrogate's sign
        var logprobs = new HostBuffer<float>(N);
        double Loss()
        {
            Ops.TokenLogLikelihood(logprobs.View, logits.View, targets.View, default, N, V);
            double loss = 0;
            for (int n = 0; n < N; n++) loss -= (double)coefficients[n] * logprobs.Data[n];
            return loss;
        }

        var gradient = Buffer(logits.Data);
        var gradLogprobs = new HostBuffer<float>(N);
        Ops.TokenLogLikelihood(gradLogprobs.View, gradient.View, targets.View, Buffer(coefficients).View, N, V);
        Loss();
        Assert.Equal(logprobs.Data, gradLogprobs.Data); // the gradient pass reports the same log-probabilities
        Assert.Equal(0f, logprobs.Data[1]);             // the ignored row
        for (int v = 0; v < V; v++) Assert.Equal(0f, gradient.Data[V + v]);

        CheckGradient("dlogits", logits.Data, gradient.Data, new float[N * V], Loss);
    }

    [Fact]
    public void BackwardsAccumulateRatherThanOverwrite()
    {
        // Running a backward twice adds its gradient twice: g0 + 2g.
        const int N = 3, C = 4, OC = 2;
        var rng = new Random(9);
        var x = Buffer(Random(rng, N * C));
        var w = Buffer(Random(rng, OC * C));
        var dy = Buffer(Random(rng, N * OC));
        var dw0 = Random(rng, OC * C);
        var once = Buffer(new float[OC * C]);
        var twice = Buffer(dw0);
        Ops.MatmulBackward(default, once.View, default, dy.View, x.View, w.View, N, C, OC);
        Ops.MatmulBackward(default, twice.View, default, dy.View, x.View, w.View, N, C, OC);
        Ops.MatmulBackward(default, twice.View, default, dy.View, x.View, w.View, N, C, OC);
        for (int i = 0; i < dw0.Length; i++)
            Assert.True(Math.Abs(twice.Data[i] - (dw0[i] + 2 * once.Data[i])) <= 1e-5f, $"dweight[{i}]");

        var gx = Buffer(Random(rng, 5, 2f));
        var gdy = Buffer(Random(rng, 5));
        var gonce = Buffer(new float[5]);
        var g0 = Random(rng, 5);
        var gtwice = Buffer(g0);
        Ops.GeluBackward(gonce.View, gx.View, gdy.View, 5);
        Ops.GeluBackward(gtwice.View, gx.View, gdy.View, 5);
        Ops.GeluBackward(gtwice.View, gx.View, gdy.View, 5);
        for (int i = 0; i < 5; i++)
            Assert.True(Math.Abs(gtwice.Data[i] - (g0[i] + 2 * gonce.Data[i])) <= 1e-5f, $"gelu dinput[{i}]");
    }
}
