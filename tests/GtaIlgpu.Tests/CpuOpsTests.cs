using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Tests.Sampling;

namespace GtaIlgpu.Tests;

/// <summary>
/// CpuOps against the scalar reference: the same random inputs go to both host backends, and every
/// output must agree within |Δ| ≤ atol + rtol·|ref|. Shapes are deliberately not multiples of the
/// SIMD width, and a few are large enough to run on several threads.
/// </summary>
public sealed class CpuOpsTests
{
    private const double Tol = 1e-4;
    private static readonly ReferenceOps Ref = new();
    private static readonly CpuOps Cpu = new();

    // ---- helpers ---------------------------------------------------------------------------------

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

    private static int[] RandomTokens(Random rng, int n, int V)
    {
        var t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.Next(V);
        return t;
    }

    /// <summary>Two independent buffers holding the same values: one for each backend.</summary>
    private sealed class Twin
    {
        public Twin(float[] values)
        {
            R = Buffer(values);
            C = Buffer(values);
        }

        public HostBuffer<float> R { get; }
        public HostBuffer<float> C { get; }
        public BufferView<float> RV => R.View;
        public BufferView<float> CV => C.View;

        public void AssertClose(string what, double atol = Tol, double rtol = Tol) => CpuOpsTests.AssertClose(what, R.Data, C.Data, atol, rtol);
    }

    internal static void AssertClose(string what, float[] expected, float[] actual, double atol = Tol, double rtol = Tol)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (!(Math.Abs(e - a) <= atol + rtol * Math.Abs(e)))
                Assert.Fail($"{what}[{i}]: reference {e:G8}, cpu {a:G8} (|Δ| = {Math.Abs(e - a):G3})");
        }
    }

    // ---- memory-level helpers --------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(33)]
    [InlineData(70_001)]
    public void MemoryHelpersMatchReference(int n)
    {
        var rng = new Random(n);
        var x = Random(rng, n + 3); // views longer than the data: the op uses only what it needs
        var y = Random(rng, n);
        var d = new Twin(Random(rng, n + 5));
        var source = Buffer(x[..n]);

        Ref.Fill(d.RV.Slice(0, n), 0.25f);
        Cpu.Fill(d.CV.Slice(0, n), 0.25f);
        d.AssertClose("fill", 0, 0);

        Ref.Copy(d.RV, source.View);
        Cpu.Copy(d.CV, source.View);
        d.AssertClose("copy", 0, 0);

        Ref.Accumulate(d.RV, Buffer(y).View);
        Cpu.Accumulate(d.CV, Buffer(y).View);
        d.AssertClose("accumulate", 0, 0);

        Ref.Scale(d.RV, -1.5f);
        Cpu.Scale(d.CV, -1.5f);
        d.AssertClose("scale", 0, 0);

        var other = Buffer(y);
        Ref.LinearCombination(d.RV, 0.3f, d.RV.Slice(0, n), -2f, other.View);
        Cpu.LinearCombination(d.CV, 0.3f, d.CV.Slice(0, n), -2f, other.View); // destination aliases x
        d.AssertClose("linear_combination", 1e-6, 1e-6);

        var outputs = new Twin(new float[n]);
        Ref.Add(outputs.RV, source.View, other.View, n);
        Cpu.Add(outputs.CV, source.View, other.View, n);
        outputs.AssertClose("add", 0, 0);
    }

    // ---- encoder -------------------------------------------------------------------------------

    [Theory]
    [InlineData(2, 5, 7)]
    [InlineData(1, 1, 13)]
    [InlineData(3, 5, 33)]
    [InlineData(4, 64, 200)]
    public void EncoderMatchesReference(int B, int T, int C)
    {
        const int V = 11; // small: tokens repeat, so dwte rows collect several contributions
        var rng = new Random(B * 1000 + T * 10 + C);
        var tokens = Buffer(RandomTokens(rng, B * T, V));
        var wte = Buffer(Random(rng, V * C));
        var wpe = Buffer(Random(rng, (T + 2) * C));
        var output = new Twin(Random(rng, B * T * C));
        Ref.EncoderForward(output.RV, tokens.View, wte.View, wpe.View, B, T, C);
        Cpu.EncoderForward(output.CV, tokens.View, wte.View, wpe.View, B, T, C);
        output.AssertClose("output", 0, 0);

        var dy = Buffer(Random(rng, B * T * C));
        var dwte = new Twin(Random(rng, V * C));
        var dwpe = new Twin(Random(rng, (T + 2) * C));
        Ref.EncoderBackward(dwte.RV, dwpe.RV, dy.View, tokens.View, B, T, C);
        Cpu.EncoderBackward(dwte.CV, dwpe.CV, dy.View, tokens.View, B, T, C);
        dwte.AssertClose("dwte");
        dwpe.AssertClose("dwpe");

        var positions = Buffer(RandomTokens(rng, B, T + 2));
        var decode = new Twin(new float[B * C]);
        Ref.EncoderDecodeForward(decode.RV, tokens.View, positions.View, wte.View, wpe.View, B, C);
        Cpu.EncoderDecodeForward(decode.CV, tokens.View, positions.View, wte.View, wpe.View, B, C);
        decode.AssertClose("decode output", 0, 0);
    }

    // ---- layernorm -----------------------------------------------------------------------------

    [Theory]
    [InlineData(5, 7)]
    [InlineData(3, 13)]
    [InlineData(4, 33)]
    [InlineData(64, 768)]
    public void LayerNormMatchesReference(int N, int C)
    {
        var rng = new Random(N * 31 + C);
        var x = Buffer(Random(rng, N * C, 2f, 3f)); // an offset mean: the variance must not cancel
        var w = Buffer(Random(rng, C, 0.5f, 1f));
        var b = Buffer(Random(rng, C, 0.2f));
        var output = new Twin(new float[N * C]);
        var mean = new Twin(new float[N]);
        var rstd = new Twin(new float[N]);
        Ref.LayerNormForward(output.RV, mean.RV, rstd.RV, x.View, w.View, b.View, N, C);
        Cpu.LayerNormForward(output.CV, mean.CV, rstd.CV, x.View, w.View, b.View, N, C);
        output.AssertClose("output");
        mean.AssertClose("mean");
        rstd.AssertClose("rstd");

        var dy = Buffer(Random(rng, N * C));
        var dx = new Twin(Random(rng, N * C));
        var dw = new Twin(Random(rng, C));
        var db = new Twin(Random(rng, C));
        Ref.LayerNormBackward(dx.RV, dw.RV, db.RV, dy.View, x.View, w.View, mean.RV, rstd.RV, N, C);
        Cpu.LayerNormBackward(dx.CV, dw.CV, db.CV, dy.View, x.View, w.View, mean.RV, rstd.RV, N, C);
        dx.AssertClose("dinput");
        dw.AssertClose("dweight");
        db.AssertClose("dbias");
    }

    // ---- matmul --------------------------------------------------------------------------------

    [Theory]
    [InlineData(5, 7, 13, true)]
    [InlineData(3, 33, 7, false)]
    [InlineData(1, 13, 1, true)]
    [InlineData(64, 96, 80, true)]
    public void MatmulMatchesReference(int N, int C, int OC, bool withBias)
    {
        var rng = new Random(N + 7 * C + 13 * OC);
        var x = Buffer(Random(rng, N * C));
        var w = Buffer(Random(rng, OC * C));
        var bias = withBias ? Buffer(Random(rng, OC)).View : default;
        var output = new Twin(new float[N * OC]);
        Ref.MatmulForward(output.RV, x.View, w.View, bias, N, C, OC);
        Cpu.MatmulForward(output.CV, x.View, w.View, bias, N, C, OC);
        output.AssertClose("output");

        var dy = Buffer(Random(rng, N * OC));
        var dx = new Twin(Random(rng, N * C));
        var dw = new Twin(Random(rng, OC * C));
        var db = new Twin(Random(rng, OC));
        Ref.MatmulBackward(dx.RV, dw.RV, withBias ? db.RV : default, dy.View, x.View, w.View, N, C, OC);
        Cpu.MatmulBackward(dx.CV, dw.CV, withBias ? db.CV : default, dy.View, x.View, w.View, N, C, OC);
        dx.AssertClose("dinput");
        dw.AssertClose("dweight");
        db.AssertClose("dbias");

        // dinput skipped
        Ref.MatmulBackward(default, dw.RV, default, dy.View, x.View, w.View, N, C, OC);
        Cpu.MatmulBackward(default, dw.CV, default, dy.View, x.View, w.View, N, C, OC);
        dw.AssertClose("dweight without dinput");

        // dweight skipped (the LM head's selected-rows input gradient): dinput as before, dweight untouched
        var untouched = dw.C.Data.ToArray();
        Ref.MatmulBackward(dx.RV, default, default, dy.View, x.View, w.View, N, C, OC);
        Cpu.MatmulBackward(dx.CV, default, default, dy.View, x.View, w.View, N, C, OC);
        dx.AssertClose("dinput without dweight");
        Assert.Equal(untouched, dw.C.Data);
    }

    [Theory]
    [InlineData(0, 5, 7)]
    [InlineData(3, 5, 7)]
    [InlineData(4, 37, 9)]
    public void Gather_and_scatter_rows_match_the_reference(int R, int width, int rows)
    {
        var rng = new Random(R * 100 + width);
        var full = Buffer(Random(rng, rows * width));
        var index = Buffer(Enumerable.Range(0, rows).Where(i => i % 2 == 1).Take(R).ToArray());
        var compact = new Twin(Random(rng, R * width + 3)); // longer than needed: the tail stays
        Ref.GatherRows(compact.RV, full.View, index.View, R, width);
        Cpu.GatherRows(compact.CV, full.View, index.View, R, width);
        compact.AssertClose("gathered");

        var source = Buffer(Random(rng, R * width));
        var destination = new Twin(Random(rng, rows * width));
        Ref.ScatterRows(destination.RV, source.View, index.View, R, width);
        Cpu.ScatterRows(destination.CV, source.View, index.View, R, width);
        destination.AssertClose("scattered");

        if (R >= 2)
        {
            var unordered = Buffer([3, 1]);
            Assert.StartsWith("gather_rows:", Assert.Throws<ArgumentException>(() => Cpu.GatherRows(compact.CV, full.View, unordered.View, 2, width)).Message);
            var outside = Buffer([1, rows]);
            Assert.StartsWith("scatter_rows:", Assert.Throws<ArgumentException>(() => Cpu.ScatterRows(destination.CV, source.View, outside.View, 2, width)).Message);
        }
    }

    // ---- attention -----------------------------------------------------------------------------

    [Theory]
    [InlineData(2, 5, 12, 3)]
    [InlineData(1, 1, 8, 1)]
    [InlineData(2, 5, 66, 2)]
    [InlineData(1, 17, 16, 2)]
    [InlineData(2, 64, 64, 4)]
    public void AttentionMatchesReference(int B, int T, int C, int NH)
    {
        var rng = new Random(B + 3 * T + 5 * C + 7 * NH);
        var qkv = Buffer(Random(rng, B * T * 3 * C));
        var output = new Twin(new float[B * T * C]);
        var att = new Twin(Random(rng, B * NH * T * T)); // stale values: the upper triangle must be zeroed
        Ref.AttentionForward(output.RV, att.RV, qkv.View, B, T, C, NH);
        Cpu.AttentionForward(output.CV, att.CV, qkv.View, B, T, C, NH);
        output.AssertClose("output");
        att.AssertClose("att");

        var dy = Buffer(Random(rng, B * T * C));
        var dqkv = new Twin(Random(rng, B * T * 3 * C));
        var scratch = new Twin(new float[B * NH * T * T]);
        Ref.AttentionBackward(dqkv.RV, scratch.RV, dy.View, qkv.View, att.RV, B, T, C, NH);
        Cpu.AttentionBackward(dqkv.CV, scratch.CV, dy.View, qkv.View, att.RV, B, T, C, NH);
        dqkv.AssertClose("dqkv");
    }

    [Fact]
    public void KvCacheAndDecodeMatchReference()
    {
        const int B = 3, T = 5, C = 12, NH = 3, maxT = 7;
        var rng = new Random(11);
        var prefill = Buffer(Random(rng, B * T * 3 * C));
        var cache = new Twin(Random(rng, B * maxT * 2 * C));
        Ref.KvCacheStore(cache.RV, prefill.View, B, T, C, maxT);
        Cpu.KvCacheStore(cache.CV, prefill.View, B, T, C, maxT);
        cache.AssertClose("cache after prefill", 0, 0);

        var step = Buffer(Random(rng, B * 3 * C, 2f));
        var positions = Buffer(new[] { 0, 5, 6 });
        var output = new Twin(new float[B * C]);
        Ref.AttentionDecode(output.RV, cache.RV, step.View, positions.View, B, C, NH, maxT);
        Cpu.AttentionDecode(output.CV, cache.CV, step.View, positions.View, B, C, NH, maxT);
        cache.AssertClose("cache after decode", 0, 0);
        output.AssertClose("output");
    }

    [Fact]
    public void DecodeEqualsTheLastRowOfTheFullForward()
    {
        const int B = 2, T = 6, C = 16, NH = 2, maxT = 8;
        var rng = new Random(12);
        var qkv = Buffer(Random(rng, B * T * 3 * C));
        var full = new float[B * T * C];
        var fullBuffer = Buffer(full);
        Cpu.AttentionForward(fullBuffer.View, new HostBuffer<float>(B * NH * T * T).View, qkv.View, B, T, C, NH);
        var cache = new HostBuffer<float>(B * maxT * 2 * C);
        Cpu.KvCacheStore(cache.View, qkv.View, B, T, C, maxT); // the decode step rewrites row T−1 with the same k, v
        var last = new HostBuffer<float>(B * 3 * C);
        for (int b = 0; b < B; b++) Array.Copy(qkv.Data, (b * T + T - 1) * 3 * C, last.Data, b * 3 * C, 3 * C);
        var output = new HostBuffer<float>(B * C);
        Cpu.AttentionDecode(output.View, cache.View, last.View, Buffer(new[] { T - 1, T - 1 }).View, B, C, NH, maxT);
        for (int b = 0; b < B; b++)
            AssertClose($"row {b}", fullBuffer.Data.AsSpan((b * T + T - 1) * C, C).ToArray(), output.Data.AsSpan(b * C, C).ToArray(), 1e-5, 1e-5);
    }

    // ---- activations -----------------------------------------------------------------------------

    [Theory]
    [InlineData(7)]
    [InlineData(13)]
    [InlineData(33)]
    [InlineData(70_003)]
    public void GeluMatchesReference(int n)
    {
        var rng = new Random(n);
        var x = Random(rng, n, 6f);
        x[0] = 0f;
        if (n > 3) { x[1] = 30f; x[2] = -30f; } // saturated tanh
        var input = Buffer(x);
        var output = new Twin(new float[n]);
        Ref.GeluForward(output.RV, input.View, n);
        Cpu.GeluForward(output.CV, input.View, n);
        output.AssertClose("output");

        var dy = Buffer(Random(rng, n));
        var dx = new Twin(Random(rng, n));
        Ref.GeluBackward(dx.RV, input.View, dy.View, n);
        Cpu.GeluBackward(dx.CV, input.View, dy.View, n);
        dx.AssertClose("dinput");
    }

    // ---- token log-likelihood --------------------------------------------------------------------

    [Theory]
    [InlineData(5, 37, false)]
    [InlineData(5, 37, true)]
    [InlineData(3, 1000, true)]
    [InlineData(4, 50257, true)]
    [InlineData(64, 1000, true)]
    public void TokenLogLikelihoodMatchesReference(int N, int V, bool withGradient)
    {
        var rng = new Random(N * V);
        var logits = new Twin(Random(rng, N * V, 4f));
        var targetValues = RandomTokens(rng, N, V);
        targetValues[1] = -1; // ignored row
        targetValues[0] = V - 1;
        var targets = Buffer(targetValues);
        var coefficients = withGradient ? Buffer(Random(rng, N, 2f)).View : default;
        var logprobs = new Twin(Random(rng, N));
        Ref.TokenLogLikelihood(logprobs.RV, logits.RV, targets.View, coefficients, N, V);
        Cpu.TokenLogLikelihood(logprobs.CV, logits.CV, targets.View, coefficients, N, V);
        logprobs.AssertClose("logprobs");
        logits.AssertClose(withGradient ? "dlogits" : "logits (untouched)", withGradient ? 1e-6 : 0, withGradient ? 1e-4 : 0);
    }

    // ---- sampling --------------------------------------------------------------------------------

    private static readonly float[] Uniforms = { 0f, 0.3f, 0.77f, 0.999f, 0.5f, 0.123f };

    [Theory]
    [InlineData(37, 1f, 0, 1f)]
    [InlineData(37, 0.7f, 5, 1f)]
    [InlineData(37, 1.3f, 0, 0.8f)]
    [InlineData(37, 1f, 10, 0.6f)]
    [InlineData(1000, 1f, 0, 1f)]
    [InlineData(1000, 0.8f, 50, 1f)]
    [InlineData(1000, 1f, 0, 0.9f)]
    [InlineData(1000, 0.6f, 40, 0.95f)]
    [InlineData(1000, 1f, 1, 1f)]
    [InlineData(1000, 1f, 0, 0f)]
    public void SampleMatchesReference(int V, float temperature, int topK, float topP)
    {
        int B = Uniforms.Length;
        var rng = new Random(V + topK);
        var logits = Buffer(Random(rng, B * V, 3f));
        var uniforms = Buffer(Uniforms);
        var expected = new HostBuffer<int>(B);
        var actual = new HostBuffer<int>(B);
        Ref.Sample(expected.View, logits.View, uniforms.View, temperature, topK, topP, B, V);
        Cpu.Sample(actual.View, logits.View, uniforms.View, temperature, topK, topP, B, V);
        Assert.Equal(expected.Data, actual.Data);
    }

    [Theory]
    [MemberData(nameof(HandComputedSamplingCases.Names), MemberType = typeof(HandComputedSamplingCases))]
    public void SampleMatchesHandComputedDraws(string name)
    {
        var c = HandComputedSamplingCases.Named(name);
        int B = c.Uniforms.Length, V = c.Logits.Length;
        var logits = Buffer(HandComputedSamplingCases.RepeatedLogits(c));
        foreach (IOps ops in new IOps[] { Ref, Cpu })
        {
            var tokens = new HostBuffer<int>(B);
            ops.Sample(tokens.View, logits.View, Buffer(c.Uniforms).View, c.Temperature, c.TopK, c.TopP, B, V);
            Assert.Equal(c.Expected, tokens.Data);
        }
    }

    [Fact]
    public void GreedyPicksTheLowestIndexAmongTies()
    {
        const int B = 3, V = 37;
        var values = new float[B * V];
        values[0 * V + 4] = 2f; values[0 * V + 20] = 2f; values[0 * V + 36] = 2f;
        values[1 * V + 36] = 1f;
        for (int v = 0; v < V; v++) values[2 * V + v] = -1f; // all tied: index 0
        var logits = Buffer(values);
        foreach (float temperature in new[] { 0f, -1f })
        {
            var tokens = new HostBuffer<int>(B);
            Cpu.Sample(tokens.View, logits.View, default, temperature, 5, 0.5f, B, V);
            Assert.Equal(new[] { 4, 36, 0 }, tokens.Data);
        }
    }

    [Fact]
    public void TopKKeepsEveryTokenTiedWithTheKthLogit()
    {
        // Logits with ties around the k-th largest: the reference keeps every tied token.
        const int V = 40;
        var values = new float[V];
        for (int v = 0; v < V; v++) values[v] = (v % 8) * 0.25f - 1f; // each value five times
        var uniforms = new[] { 0.01f, 0.2f, 0.45f, 0.6f, 0.8f, 0.99f };
        int B = uniforms.Length;
        var logits = new float[B * V];
        for (int b = 0; b < B; b++) values.CopyTo(logits, b * V);
        foreach (int topK in new[] { 1, 3, 5, 6, 12, 39 })
        {
            var expected = new HostBuffer<int>(B);
            var actual = new HostBuffer<int>(B);
            Ref.Sample(expected.View, Buffer(logits).View, Buffer(uniforms).View, 1f, topK, 1f, B, V);
            Cpu.Sample(actual.View, Buffer(logits).View, Buffer(uniforms).View, 1f, topK, 1f, B, V);
            Assert.Equal(expected.Data, actual.Data);
        }
    }

    [Fact]
    public void SamplingAVocabularyOfGpt2Size()
    {
        const int B = 4, V = 50257;
        var rng = new Random(13);
        var logits = Buffer(Random(rng, B * V, 5f));
        var uniforms = Buffer(new[] { 0.1f, 0.4f, 0.7f, 0.95f });
        foreach (var (topK, topP) in new[] { (0, 1f), (50, 1f), (0, 0.9f), (40, 0.8f) })
        {
            var expected = new HostBuffer<int>(B);
            var actual = new HostBuffer<int>(B);
            Ref.Sample(expected.View, logits.View, uniforms.View, 0.9f, topK, topP, B, V);
            Cpu.Sample(actual.View, logits.View, uniforms.View, 0.9f, topK, topP, B, V);
            Assert.Equal(expected.Data, actual.Data);
        }
    }

    // ---- optimizer and reductions ------------------------------------------------------------------

    [Theory]
    [InlineData(1007)]
    [InlineData(70_001)]
    public void AdamWMatchesReferenceOverSeveralSteps(int n)
    {
        var rng = new Random(n);
        var param = new Twin(Random(rng, n));
        var m = new Twin(new float[n]);
        var v = new Twin(new float[n]);
        for (int step = 1; step <= 4; step++)
        {
            var grad = Buffer(Random(rng, n, 3f));
            Ref.AdamW(param.RV, grad.View, m.RV, v.RV, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 0.5f);
            Cpu.AdamW(param.CV, grad.View, m.CV, v.CV, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 0.5f);
        }
        param.AssertClose("param");
        m.AssertClose("m");
        v.AssertClose("v");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(1000)]
    [InlineData(200_003)]
    public void ReductionsMatchReference(int n)
    {
        var rng = new Random(n);
        var a = Buffer(Random(rng, n, 1f, 0.1f));
        var b = Buffer(Random(rng, n));
        AssertClose("sum of squares", new[] { Ref.SumOfSquares(a.View) }, new[] { Cpu.SumOfSquares(a.View) }, 1e-5, 1e-5);
        AssertClose("dot", new[] { Ref.Dot(a.View, b.View) }, new[] { Cpu.Dot(a.View, b.View) }, 1e-4, 1e-5);
        Assert.Equal(0f, Cpu.SumOfSquares(default));
    }

    // ---- determinism -----------------------------------------------------------------------------

    [Fact]
    public void EveryParallelOpIsBitIdenticalRunToRun()
    {
        float[][] first = RunLargeOps(), second = RunLargeOps();
        Assert.Equal(first.Length, second.Length);
        for (int i = 0; i < first.Length; i++)
            Assert.True(first[i].AsSpan().SequenceEqual(second[i]), $"output {i} differs between two identical runs");
    }

    /// <summary>Ops at sizes that run on several threads; returns every output.</summary>
    private static float[][] RunLargeOps()
    {
        var rng = new Random(99);
        const int N = 256, C = 768, B = 2, T = 64, AC = 64, NH = 4, V = 50257, R = 8;
        var x = Buffer(Random(rng, N * C, 2f, 1f));
        var w = Buffer(Random(rng, C));
        var bias = Buffer(Random(rng, C));
        var ln = new HostBuffer<float>(N * C);
        var mean = new HostBuffer<float>(N);
        var rstd = new HostBuffer<float>(N);
        Cpu.LayerNormForward(ln.View, mean.View, rstd.View, x.View, w.View, bias.View, N, C);
        var dx = new HostBuffer<float>(N * C);
        var dw = new HostBuffer<float>(C);
        var db = new HostBuffer<float>(C);
        Cpu.LayerNormBackward(dx.View, dw.View, db.View, ln.View, x.View, w.View, mean.View, rstd.View, N, C);

        var qkv = Buffer(Random(rng, B * T * 3 * AC));
        var att = new HostBuffer<float>(B * NH * T * T);
        var attOut = new HostBuffer<float>(B * T * AC);
        Cpu.AttentionForward(attOut.View, att.View, qkv.View, B, T, AC, NH);
        var dqkv = new HostBuffer<float>(B * T * 3 * AC);
        Cpu.AttentionBackward(dqkv.View, new HostBuffer<float>(B * NH * T * T).View, attOut.View, qkv.View, att.View, B, T, AC, NH);

        var logits = Buffer(Random(rng, R * V, 4f));
        var targets = Buffer(RandomTokens(rng, R, V));
        var logprobs = new HostBuffer<float>(R);
        Cpu.TokenLogLikelihood(logprobs.View, logits.View, targets.View, Buffer(Random(rng, R)).View, R, V);

        var tokens = Buffer(RandomTokens(rng, N, 50));
        var dwte = new HostBuffer<float>(50 * C);
        var dwpe = new HostBuffer<float>(N * C);
        Cpu.EncoderBackward(dwte.View, dwpe.View, dx.View, tokens.View, 1, N, C);

        var param = Buffer(Random(rng, N * C));
        var m = new HostBuffer<float>(N * C);
        var v = new HostBuffer<float>(N * C);
        Cpu.AdamW(param.View, dx.View, m.View, v.View, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1f);
        float norm = Cpu.SumOfSquares(dx.View);
        float dot = Cpu.Dot(dx.View, ln.View);
        var mlp = new HostBuffer<float>(N * C);
        Cpu.GeluForward(mlp.View, dx.View, N * C);

        return new[] { ln.Data, mean.Data, rstd.Data, dx.Data, dw.Data, db.Data, attOut.Data, att.Data, dqkv.Data, logprobs.Data,
            logits.Data, dwte.Data, dwpe.Data, param.Data, m.Data, v.Data, new[] { norm, dot }, mlp.Data };
    }

    // ---- shape errors ----------------------------------------------------------------------------

    [Fact]
    public void ShapeErrorsNameTheOpAndWriteNothing()
    {
        var output = Buffer(Enumerable.Repeat(7f, 64).ToArray());
        var small = new HostBuffer<float>(4);
        var ints = Buffer(new int[8]);

        void Throws(string op, Action action)
        {
            var e = Assert.Throws<ArgumentException>(action);
            Assert.StartsWith(op + ":", e.Message);
            Assert.All(output.Data, value => Assert.Equal(7f, value));
        }

        Throws("layernorm_forward", () => Cpu.LayerNormForward(output.View, small.View.Slice(0, 1), small.View, output.View, small.View, small.View, 2, 4));
        Throws("layernorm_backward", () => Cpu.LayerNormBackward(output.View, small.View, small.View.Slice(0, 3), output.View, output.View, small.View, small.View, small.View, 2, 4));
        Throws("matmul_forward", () => Cpu.MatmulForward(output.View, output.View, small.View, default, 2, 4, 3));
        Throws("matmul_backward", () => Cpu.MatmulBackward(output.View, output.View, small.View.Slice(0, 1), output.View, output.View, output.View, 2, 4, 3));
        Throws("attention_forward", () => Cpu.AttentionForward(output.View, output.View, output.View, 1, 2, 6, 4));
        Throws("attention_backward", () => Cpu.AttentionBackward(output.View, small.View, output.View, output.View, output.View, 1, 3, 4, 1));
        Throws("kv_cache_store", () => Cpu.KvCacheStore(output.View, output.View, 1, 3, 2, 2));
        Throws("attention_decode", () => Cpu.AttentionDecode(output.View, output.View, output.View, Buffer(new[] { 4 }).View, 1, 4, 2, 4));
        Throws("encoder_forward", () => Cpu.EncoderForward(output.View, Buffer(new[] { 0, 9 }).View, output.View, output.View, 1, 2, 8));
        Throws("encoder_backward", () => Cpu.EncoderBackward(output.View, small.View, output.View, ints.View, 1, 2, 4));
        Throws("encoder_decode_forward", () => Cpu.EncoderDecodeForward(output.View, ints.View, Buffer(new[] { 16 }).View, output.View, output.View, 1, 4));
        Throws("gelu_forward", () => Cpu.GeluForward(output.View, small.View, 5));
        Throws("gelu_backward", () => Cpu.GeluBackward(output.View, output.View, small.View, 5));
        Throws("add", () => Cpu.Add(output.View, output.View, small.View, 5));
        Throws("token_log_likelihood", () => Cpu.TokenLogLikelihood(small.View, output.View, Buffer(new[] { 0, 8 }).View, default, 2, 8));
        Throws("token_log_likelihood", () => Cpu.TokenLogLikelihood(small.View, output.View, ints.View, small.View.Slice(0, 1), 2, 8));
        Throws("sample", () => Cpu.Sample(Buffer(new int[2]).View, small.View, small.View, 1f, 0, 1f, 2, 8));
        Throws("adamw", () => Cpu.AdamW(output.View, output.View, small.View, output.View, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f, 1, 1f));
        Throws("copy", () => Cpu.Copy(small.View, output.View));
        Throws("accumulate", () => Cpu.Accumulate(small.View, output.View));
        Throws("linear_combination", () => Cpu.LinearCombination(output.View, 1f, output.View, 1f, small.View));
        Throws("dot", () => Cpu.Dot(output.View, small.View));
    }

    [Fact]
    public void BackendDescribesItself()
    {
        var backend = new CpuBackend();
        Assert.Equal("cpu", backend.Name);
        Assert.Contains("threads", backend.Description);
        Assert.IsType<CpuOps>(backend.Ops);
        var buffer = backend.AllocateFrom<float>(new[] { 1f, 2f, 3f });
        backend.Ops.Scale(buffer.View, 2f);
        Assert.Equal(new[] { 2f, 4f, 6f }, backend.ToArray(buffer.View));
    }
}
