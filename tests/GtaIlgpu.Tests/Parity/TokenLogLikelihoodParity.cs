namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// The fused loss: log p(target) per row, and, given coefficients, the gradient written over the logits.
/// Rows include an ignored target (−1) and the first and last vocabulary entries.
/// </summary>
public abstract class TokenLogLikelihoodParity(OpsFixture fixture)
{
    private const double LogProbAtol = 1e-5, LogProbRtol = 1e-5;
    private const double GradientAtol = 1e-6, GradientRtol = 1e-4;

    [ParityTheory]
    [InlineData(5, 37, false)]
    [InlineData(5, 37, true)]
    [InlineData(3, 1000, true)]
    [InlineData(4, 50257, true)]
    public void Matches_the_reference(int N, int V, bool withGradient) => RandomRows(N, V, withGradient);

    /// <summary>CpuOps splits 64 rows over its threads; the emulators take 8 (a group per row, barriers cost them milliseconds).</summary>
    [ParityFact]
    public void Many_rows() => RandomRows(fixture.Size(64, 8), 1000, withGradient: true);

    private void RandomRows(int N, int V, bool withGradient)
    {
        using var t = new Twins(fixture, seed: N * V);
        var targetValues = Enumerable.Range(0, N).Select(_ => t.Rng.Next(V)).ToArray();
        targetValues[1] = -1; // ignored row
        targetValues[0] = V - 1;
        Check(t, N, V, targetValues, t.Values(N * V, scale: 4f), withGradient ? t.Values(N, scale: 2f) : null);
    }

    // Rows: an ignored row, the first and the last vocabulary entry as targets, and ordinary ones.
    private static readonly int[] Targets = [4, -1, 0, 36, 17];

    [ParityTheory]
    [InlineData(37, false)]
    [InlineData(37, true)]
    [InlineData(3, false)] // fewer entries than threads: idle threads bring an empty (−∞, 0) normaliser
    [InlineData(3, true)]
    public void Short_rows_match_the_reference(int V, bool withGradient)
    {
        const int N = 5;
        using var t = new Twins(fixture, seed: 60 + V);
        var targets = Targets.Select(target => target < 0 ? target : target % V).ToArray();
        Check(t, N, V, targets, t.Values(N * V, scale: 8f), withGradient ? [0.2f, 0.7f, -1.5f, 0f, 3f] : null);
    }

    [ParityFact]
    public void Extreme_logits_stay_finite()
    {
        const int N = 2, V = 37;
        using var t = new Twins(fixture, seed: 64);
        var logits = t.Values(N * V);
        logits[5] = 80f;      // exp overflows float without the max shift
        logits[V + 9] = -90f; // and underflows here
        var logprobs = Check(t, N, V, [5, 9], logits, [1f, 1f]);
        Assert.All(logprobs, v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// GPT-2's vocabulary: full 256-thread groups and 32-lane warps on a GPU, 16 rows. The emulators
    /// take 4 rows of the full vocabulary (one pass per row, so the vocabulary is affordable).
    /// </summary>
    [ParityFact]
    public void Gpt2_vocabulary()
    {
        const int V = 50257;
        int N = fixture.Size(16, 4);
        using var t = new Twins(fixture, seed: 65);
        var targets = Enumerable.Range(0, N).Select(n => n == 3 ? -1 : (n * 7919) % V).ToArray();
        Check(t, N, V, targets, t.Values(N * V, scale: 10f), t.Values(N));
    }

    /// <summary>
    /// At a sampling temperature with the per-row entropy: log-probs and entropies of logits/τ, then the
    /// gradient through 1/τ. The entropy is accumulated per thread with its running max and merged after
    /// the group's reduction, so the max comes last in every row (each thread's running max grows late);
    /// V = 3 leaves threads idle; 50,257 crosses many chunks.
    /// </summary>
    [ParityTheory]
    [InlineData(5, 37, 0.7f)]
    [InlineData(5, 3, 0.7f)]
    [InlineData(5, 37, 1.6f)]
    [InlineData(6, 37, 1f)]
    [InlineData(4, 1000, 1.4f)]
    [InlineData(3, 50257, 0.6f)]
    public void At_a_temperature_with_entropy(int N, int V, float tau)
    {
        using var t = new Twins(fixture, seed: 70 + V);
        var targetValues = Enumerable.Range(0, N).Select(_ => t.Rng.Next(V)).ToArray();
        targetValues[1] = -1;
        targetValues[0] = V - 1;
        var logitValues = t.Values(N * V, scale: 8f);
        for (int n = 0; n < N; n++) logitValues[n * V + V - 1] = 9f;
        var targets = t.Upload(targetValues);
        var logits = t.Upload(logitValues);
        var logprobs = t.Random(N);
        var entropies = t.Random(N);
        t.Run((ops, s) => ops.TokenLogLikelihood(s[logprobs], s[entropies], s[logits], s[targets], default, tau, N, V));
        t.AssertClose(logprobs, "logprobs", LogProbAtol, LogProbRtol);
        t.AssertClose(entropies, "entropies", LogProbAtol, LogProbRtol);
        t.AssertClose(logits, "logits (untouched)", 0, 0);
        var tested = t.TestedValues(entropies);
        Assert.Equal(0f, tested[1]); // the ignored row
        Assert.True(tested[0] > 0 && tested[0] <= Math.Log(V) + 1e-5, "an entropy lies in (0, log V]");

        var coefficients = t.Values(N, scale: 2f);
        var c = t.Upload(coefficients);
        t.Run((ops, s) => ops.TokenLogLikelihood(s[logprobs], default, s[logits], s[targets], s[c], tau, N, V));
        t.AssertClose(logprobs, "logprobs", LogProbAtol, LogProbRtol);
        t.AssertClose(logits, "dlogits through 1/τ", GradientAtol, GradientRtol);
    }

    [ParityFact]
    public void Extreme_logits_give_finite_entropies()
    {
        const int N = 2, V = 37;
        using var t = new Twins(fixture, seed: 75);
        var logitValues = t.Values(N * V);
        logitValues[5] = 80f;      // one token takes all the mass: entropy ≈ 0
        logitValues[V + 9] = -90f;
        var targets = t.Upload(new[] { 5, 9 });
        var logits = t.Upload(logitValues);
        var logprobs = t.Random(N);
        var entropies = t.Random(N);
        t.Run((ops, s) => ops.TokenLogLikelihood(s[logprobs], s[entropies], s[logits], s[targets], default, 0.5f, N, V));
        t.AssertClose(logprobs, "logprobs", LogProbAtol, LogProbRtol);
        t.AssertClose(entropies, "entropies", LogProbAtol, LogProbRtol);
        Assert.All(t.TestedValues(entropies), v => Assert.True(float.IsFinite(v) && v >= -1e-6f));
    }

    /// <summary>Runs the op on both sides and compares the log-probs and the logits (gradient, or untouched); returns the tested log-probs.</summary>
    private static float[] Check(Twins t, int N, int V, int[] targetValues, float[] logitValues, float[]? coefficientValues)
    {
        var targets = t.Upload(targetValues);
        var logits = t.Upload(logitValues);
        var coefficients = coefficientValues is null ? Twin<float>.Empty : t.Upload(coefficientValues);
        var logprobs = t.Random(N + 2);
        t.Run((ops, s) => ops.TokenLogLikelihood(s[logprobs], s[logits], s[targets], s[coefficients], N, V));
        t.AssertClose(logprobs, "logprobs", LogProbAtol, LogProbRtol);
        if (coefficientValues is null) t.AssertClose(logits, "logits (untouched)", 0, 0);
        else t.AssertClose(logits, "dlogits", GradientAtol, GradientRtol);
        return t.TestedValues(logprobs);
    }
}
