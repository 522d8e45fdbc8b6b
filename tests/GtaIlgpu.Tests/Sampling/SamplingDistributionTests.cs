using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Parity;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Sampling;

/// <summary>
/// Sample's draws against the exact distribution: chi-square goodness of fit over many seeded draws,
/// for temperature alone, top-k, top-p and top-k + top-p, on CpuOps and on the ILGPU backend (the CPU
/// emulator in CI, so fewer draws there). The exact distribution is computed here in double,
/// independently of the implementations, the way Hugging Face's warpers state it: sort ascending,
/// cumulative softmax, remove tokens whose cumulative mass is ≤ 1 − topP, always keep the largest.
/// The logits have no ties, so that rule is unambiguous.
///
/// Each case is chosen so that a plausible bug changes the distribution by a lot (total variation
/// 0.08–0.32): top-p measured on the full softmax instead of the renormalised top-k survivors,
/// temperature applied after top-p, top-k off by one, the token crossing topP dropped. Every token of
/// probability zero must never be drawn; the support is tested by the chi-square at p = 1e-4.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class SamplingDistributionTests(IlgpuFixture fixture)
{
    /// <summary>Significance of the chi-square test: a correct sampler fails one seed in 10 000.</summary>
    private const double Alpha = 1e-4;

    private const int CpuDraws = 20_000;

    /// <summary>
    /// The emulator pays about a millisecond per barrier and a filtered row takes over a hundred (two
    /// bisections of ~31 group reductions): 64 rows take several seconds. Still, a token of probability
    /// 0.2 that went missing would leave a χ² near 25 against a critical value of 18.4.
    /// </summary>
    private const int EmulatorDraws = 64;

    private static readonly float[] Spread = [1.2f, -0.3f, 2.5f, 0.7f, -1.1f, 1.9f, 0.1f, -0.6f, 2.2f, 0.4f];

    public sealed record Case(string Name, float[] Logits, float Temperature, int TopK, float TopP);

    private static readonly Case[] Cases =
    [
        new("temperature", Spread, 0.7f, 0, 1f),
        // support 0, 2, 5, 8; top-k 5 would add index 3 (probability 0.08), top-k 3 drop index 0 (0.13).
        new("top-k", Spread, 1.3f, 4, 1f),
        // support 1, 5, 9 (0.32, 0.33, 0.35); with τ applied after top-p, or the crossing token dropped,
        // index 1 would vanish.
        new("top-p", [-1.8f, 2.2f, 0.5f, -1.9f, -1.0f, 2.3f, 0.2f, -1.4f, -0.2f, 2.4f], 2.5f, 0, 0.5f),
        // support 3, 6, 8 (0.40, 0.28, 0.32); top-p on the full softmax or top-k 6 adds index 1 (0.21);
        // τ after top-p or the crossing token dropped loses index 6.
        new("top-k then top-p", [-1.9f, 1.9f, 0.7f, 2.9f, -0.3f, 1.3f, 2.0f, -0.9f, 2.3f, 1.0f], 2.5f, 5, 0.6f),
    ];

    public static TheoryData<string> CaseNames() => new(Cases.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void CpuOps_FollowsTheExactDistribution(string name)
    {
        using var backend = new CpuBackend();
        AssertFollowsExactDistribution(backend, Cases.Single(c => c.Name == name), CpuDraws, seed: 11);
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Ilgpu_FollowsTheExactDistribution(string name) =>
        AssertFollowsExactDistribution(fixture.Backend, Cases.Single(c => c.Name == name), fixture.IsGpu ? CpuDraws : EmulatorDraws, seed: 12);

    /// <summary>
    /// Tokens of probability zero: −∞ logits, weights e^{s−max} that underflow in float (1e-87 exactly),
    /// and tokens the filters remove, placed last in the row where the inverse CDF would land if it ran
    /// off the end; uniforms include the largest float below 1.
    /// </summary>
    [Fact]
    public void ZeroProbabilityTokens_AreNeverDrawn()
    {
        const int V = 40;
        var row = Twins.Uniform(21, V, -1f, 1f);
        row[V - 4] = -3f;   // below every other finite logit: removed by top-k 30 and by top-p 0.95
        row[V - 3] = float.NegativeInfinity;
        row[V - 2] = -200f; // e^{−200 − max} underflows in float
        row[V - 1] = float.NegativeInfinity;
        // u = 1 lies just outside the contract's [0, 1): the running mass then never exceeds the goal, so
        // it forces the rounding fallback (the last kept token), which must skip the zero weights.
        float[] uniforms = [0f, 0.25f, 0.5f, 0.999f, 0.9999999f, 0.99999994f, 1f];
        var logits = Enumerable.Range(0, uniforms.Length).SelectMany(_ => row).ToArray();
        using var reference = new ReferenceBackend();
        using var cpu = new CpuBackend();
        foreach (var backend in new IBackend[] { reference, cpu, fixture.Backend })
            foreach (var (topK, topP) in new[] { (0, 1f), (30, 1f), (0, 0.95f), (30, 0.99f) })
            {
                var exact = ExactDistribution(row, 1f, topK, topP);
                var tokens = Draw(backend, logits, uniforms, 1f, topK, topP, V);
                foreach (int t in tokens)
                    Assert.True(exact[t] > 1e-30, $"{backend.Name}, top-k {topK}, top-p {topP}: drew token {t}, of probability {exact[t]:G3}");
            }
    }

    /// <summary>Values from the closed forms (erfc plus a finite sum for odd k, a Poisson sum for even k), bisected in Python.</summary>
    [Theory]
    [InlineData(1, 15.136705)]
    [InlineData(2, 18.420681)] // 2·ln(10⁴) exactly: χ²(2) is an exponential with mean 2
    [InlineData(3, 21.107513)]
    [InlineData(9, 33.719948)]
    public void ChiSquareQuantile_MatchesTables(int degrees, double expected) =>
        Assert.Equal(expected, ChiSquareUpperQuantile(degrees, Alpha), 4);

    private static void AssertFollowsExactDistribution(IBackend backend, Case c, int draws, int seed)
    {
        int V = c.Logits.Length;
        var random = new Random(seed);
        var uniforms = Enumerable.Range(0, draws).Select(_ => random.NextSingle()).ToArray();
        var logits = Enumerable.Range(0, draws).SelectMany(_ => c.Logits).ToArray();
        var tokens = Draw(backend, logits, uniforms, c.Temperature, c.TopK, c.TopP, V);

        var exact = ExactDistribution(c.Logits, c.Temperature, c.TopK, c.TopP);
        var counts = new int[V];
        foreach (int t in tokens) counts[t]++;
        string table = string.Join(", ", Enumerable.Range(0, V).Select(v => $"{v}: {counts[v]}/{exact[v] * draws:F1}"));
        for (int v = 0; v < V; v++)
            Assert.True(exact[v] > 0 || counts[v] == 0, $"{backend.Name}, {c.Name}: token {v} has probability 0 and was drawn {counts[v]} times (observed/expected {table})");

        // Bins of expected count ≥ 5 stand alone (the chi-square approximation needs it); the rest pool.
        var bins = new List<(double Expected, int Observed)>();
        double pooledExpected = 0;
        int pooledObserved = 0;
        for (int v = 0; v < V; v++)
        {
            double e = exact[v] * draws;
            if (e >= 5) bins.Add((e, counts[v]));
            else if (e > 0) { pooledExpected += e; pooledObserved += counts[v]; }
        }
        if (pooledExpected >= 5) bins.Add((pooledExpected, pooledObserved));
        else if (pooledExpected > 0)
        {
            int smallest = bins.FindIndex(b => b.Expected == bins.Min(x => x.Expected));
            bins[smallest] = (bins[smallest].Expected + pooledExpected, bins[smallest].Observed + pooledObserved);
        }
        Assert.True(bins.Count >= 2, $"{c.Name}: too few bins for a chi-square test");
        double statistic = bins.Sum(b => (b.Observed - b.Expected) * (b.Observed - b.Expected) / b.Expected);
        double critical = ChiSquareUpperQuantile(bins.Count - 1, Alpha);
        Assert.True(statistic <= critical,
            $"{backend.Name}, {c.Name}: χ² = {statistic:F1} over {bins.Count} bins exceeds {critical:F1} (p = {Alpha}); observed/expected {table}");
    }

    private static int[] Draw(IBackend backend, float[] logits, float[] uniforms, float temperature, int topK, float topP, int V)
    {
        int B = uniforms.Length;
        using var logitsBuffer = backend.AllocateFrom<float>(logits);
        using var uniformsBuffer = backend.AllocateFrom<float>(uniforms);
        using var tokens = backend.Allocate<int>(B);
        backend.Ops.Sample(tokens.View, logitsBuffer.View, uniformsBuffer.View, temperature, topK, topP, B, V);
        backend.Synchronize();
        return backend.ToArray(tokens.View);
    }

    /// <summary>
    /// Hugging Face's warpers in double: s = x/τ; top-k removes s below the k-th largest; top-p sorts the
    /// survivors' softmax ascending and removes those whose cumulative mass is ≤ 1 − topP, keeping the
    /// largest always; the result is the softmax of what remains. Assumes no ties among the logits.
    /// </summary>
    private static double[] ExactDistribution(float[] logits, float temperature, int topK, float topP)
    {
        int V = logits.Length;
        var s = logits.Select(x => x / (double)temperature).ToArray();
        var removed = new bool[V];
        if (topK > 0 && topK < V)
        {
            double kth = s.OrderByDescending(x => x).ElementAt(topK - 1);
            for (int v = 0; v < V; v++) removed[v] = s[v] < kth;
        }
        var probabilities = Softmax(s, removed);
        if (topP < 1)
        {
            var ascending = Enumerable.Range(0, V).Where(v => !removed[v]).OrderBy(v => s[v]).ToArray();
            double cumulative = 0;
            for (int j = 0; j < ascending.Length - 1; j++)
            {
                cumulative += probabilities[ascending[j]];
                if (cumulative <= 1 - topP) removed[ascending[j]] = true;
            }
            probabilities = Softmax(s, removed);
        }
        return probabilities;
    }

    private static double[] Softmax(double[] s, bool[] removed)
    {
        double max = s.Where((_, v) => !removed[v] && !double.IsNegativeInfinity(s[v])).Max();
        var p = s.Select((x, v) => removed[v] ? 0 : Math.Exp(x - max)).ToArray();
        double sum = p.Sum();
        return p.Select(x => x / sum).ToArray();
    }

    /// <summary>The x with P(χ²_k &gt; x) = alpha, by bisection on the regularised gamma function.</summary>
    private static double ChiSquareUpperQuantile(int k, double alpha)
    {
        double lo = 0, hi = 1000;
        for (int i = 0; i < 200; i++)
        {
            double mid = (lo + hi) / 2;
            if (1 - RegularizedLowerGamma(k / 2.0, mid / 2) > alpha) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    /// <summary>
    /// P(a, x) = γ(a, x)/Γ(a) by its power series x^a e^{−x} Σ_n x^n / (a(a+1)…(a+n)), which converges
    /// for every x; at the quantiles used here (x ≤ 30) 1 − P keeps about twelve digits.
    /// </summary>
    private static double RegularizedLowerGamma(double a, double x)
    {
        if (x <= 0) return 0;
        double term = 1 / a, sum = term;
        for (int n = 1; n < 10_000 && term > sum * 1e-17; n++)
        {
            term *= x / (a + n);
            sum += term;
        }
        return sum * Math.Exp(-x + a * Math.Log(x) - LogGammaOfHalfInteger(a));
    }

    /// <summary>ln Γ(a) for a a positive multiple of 1/2: Γ(1) = 1, Γ(1/2) = √π, Γ(t + 1) = t·Γ(t).</summary>
    private static double LogGammaOfHalfInteger(double a)
    {
        bool whole = a == Math.Floor(a);
        double result = whole ? 0 : 0.5 * Math.Log(Math.PI);
        for (double t = whole ? 1 : 0.5; t < a; t++) result += Math.Log(t);
        return result;
    }
}
