using GtaIlgpu.Tests.Sampling;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Exact tokens for fixed uniforms, against the scalar reference: greedy, temperature, top-k, top-p.
/// Several cases repeat one logits row once per uniform, so a single launch walks the inverse CDF
/// across [0,1). Probabilities are well separated, so float and double arithmetic agree on every
/// draw; the logits must be left untouched.
/// </summary>
public abstract class SamplingParity(OpsFixture fixture)
{
    private const int V = 37;
    private static readonly float[] Uniforms = [0f, 0.07f, 0.2f, 0.35f, 0.5f, 0.66f, 0.81f, 0.93f];

    /// <summary>Mixed-sign logits with a few clear leaders; ties at 2.0 (indices 9, 30) and at −0.5.</summary>
    private static float[] Row()
    {
        var row = Twins.Uniform(90, V, -3f, -1f);
        row[3] = 3.0f;
        row[9] = 2.0f;
        row[30] = 2.0f;
        row[22] = 1.2f;
        row[14] = -0.5f;
        row[35] = -0.5f;
        row[0] = 0.4f;
        return row;
    }

    /// <summary>Samples every row of logits on both sides; asserts equal tokens and untouched logits; returns the tokens.</summary>
    private int[] SampleBoth(float[] logitValues, float[]? uniformValues, float temperature, int topK, float topP, int vocabulary)
    {
        int rows = logitValues.Length / vocabulary;
        using var t = new Twins(fixture, seed: 0);
        var logits = t.Upload(logitValues);
        var uniforms = uniformValues is null ? Twin<float>.Empty : t.Upload(uniformValues);
        var tokens = t.Upload(new int[rows]);
        t.Run((ops, s) => ops.Sample(s[tokens], s[logits], s[uniforms], temperature, topK, topP, rows, vocabulary));
        t.AssertEqual(tokens, $"tokens (temperature {temperature}, top-k {topK}, top-p {topP})");
        t.AssertClose(logits, "logits (must be left untouched)", 0, 0);
        return t.TestedValues(tokens);
    }

    /// <summary>One copy of row per uniform.</summary>
    private int[] SampleRow(float[] row, float temperature, int topK, float topP, float[]? uniforms = null)
    {
        uniforms ??= Uniforms;
        return SampleBoth(Enumerable.Range(0, uniforms.Length).SelectMany(_ => row).ToArray(), uniforms, temperature, topK, topP, row.Length);
    }

    [ParityFact]
    public void Greedy_takes_the_lowest_index_on_ties()
    {
        var tied = Row();
        tied[3] = 2.0f; // now 3, 9 and 30 tie for the maximum
        var flat = new float[V];
        var last = Twins.Uniform(91, V, -1f, 0f);
        last[V - 1] = 5f;
        foreach (var (row, expected) in new[] { (Row(), 3), (tied, 3), (flat, 0), (last, V - 1) })
        {
            var tokens = SampleRow(row, 0f, 0, 1f, [0.5f, 0.99f]);
            Assert.All(tokens, token => Assert.Equal(expected, token));
        }
    }

    [ParityFact]
    public void Greedy_ignores_the_filters_and_needs_no_uniforms()
    {
        var values = new float[3 * V];
        values[0 * V + 4] = 2f; values[0 * V + 20] = 2f; values[0 * V + 36] = 2f;
        values[1 * V + 36] = 1f;
        for (int v = 0; v < V; v++) values[2 * V + v] = -1f; // all tied: index 0
        foreach (float temperature in new[] { 0f, -1f })
            Assert.Equal([4, 36, 0], SampleBoth(values, null, temperature, 5, 0.5f, V));
    }

    [ParityTheory(CostlyOn32Lanes = true)]
    [InlineData(1f)]
    [InlineData(0.5f)]
    [InlineData(2f)]
    public void Temperature_without_filters(float temperature) => SampleRow(Row(), temperature, 0, 1f);

    [ParityTheory(CostlyOn32Lanes = true)]
    [InlineData(1)]
    [InlineData(3)] // the 3rd largest logit ties (2.0 at 9 and 30): both are kept
    [InlineData(5)]
    [InlineData(6)] // −0.5 ties at the boundary
    [InlineData(36)]
    [InlineData(37)]
    public void Top_k(int k)
    {
        // A high temperature flattens the kept probabilities, and 16 evenly spaced uniforms then land on
        // every kept token, so keeping one token too many or too few changes some draw.
        var dense = Enumerable.Range(0, 16).Select(i => (i + 0.5f) / 16f).ToArray();
        var tokens = SampleRow(Row(), 3f, k, 1f, dense);
        if (k == 1) Assert.All(tokens, token => Assert.Equal(3, token));
    }

    [ParityFact(CostlyOn32Lanes = true)]
    public void Top_k_keeps_every_token_tied_with_the_kth_logit()
    {
        const int vocabulary = 40;
        var row = new float[vocabulary];
        for (int v = 0; v < vocabulary; v++) row[v] = (v % 8) * 0.25f - 1f; // each value five times
        // Off the fifths of the mass where, with every token kept, a period of 8 ends: there float and
        // double round an exact tie differently.
        float[] uniforms = [0.01f, 0.23f, 0.45f, 0.63f, 0.83f, 0.99f];
        foreach (int topK in new[] { 1, 3, 5, 6, 12, 39 })
            SampleRow(row, 1f, topK, 1f, uniforms);
    }

    /// <summary>Top-p on the renormalised top-k survivors and ties at the crossing token, worked by hand.</summary>
    [ParityTheory]
    [MemberData(nameof(HandComputedSamplingCases.Names), MemberType = typeof(HandComputedSamplingCases))]
    public void Hand_computed_draws(string name)
    {
        var c = HandComputedSamplingCases.Named(name);
        Assert.Equal(c.Expected, SampleRow(c.Logits, c.Temperature, c.TopK, c.TopP, c.Uniforms));
    }

    [ParityTheory(CostlyOn32Lanes = true)]
    [InlineData(0.5f, 0)]
    [InlineData(0.8f, 0)]
    [InlineData(0.95f, 0)]
    [InlineData(0f, 0)]     // only the most probable token survives
    [InlineData(0.9f, 2)]   // top-2 keeps 3 and the tied 9, 30 (0.64, 0.18, 0.18 renormalised): 0.9 needs all
    [InlineData(0.6f, 5)]
    public void Top_p_after_top_k(float topP, int topK) => SampleRow(Row(), 0.8f, topK, topP);

    [ParityTheory(CostlyOn32Lanes = true)]
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
    public void Random_rows_match_the_reference(int vocabulary, float temperature, int topK, float topP)
    {
        float[] uniforms = [0f, 0.3f, 0.77f, 0.999f, 0.5f, 0.123f];
        var logits = Twins.Uniform(vocabulary + topK, uniforms.Length * vocabulary, -3f, 3f);
        SampleBoth(logits, uniforms, temperature, topK, topP, vocabulary);
    }

    /// <summary>
    /// GPT-2's vocabulary with the usual rollout filters (top-k 50, top-p 0.9): the scan crosses many
    /// chunks and the bisections run their full length. Full size (16 rows of 50,257, and 4 more rows
    /// at temperature 0.9) on CpuOps and a GPU. The emulators take 2 + 1 rows of 1,031 entries: still 8
    /// chunks of a 32-lane emulator's 128-thread group and the full 32 bisection steps, in seconds;
    /// 50,257 entries took minutes there (every bisection step is a pass over the row and two barriers).
    /// </summary>
    [ParityFact]
    public void Gpt2_vocabulary()
    {
        int rows = fixture.Size(16, 2), vocabulary = fixture.Size(50257, 1031);
        var logits = Twins.Uniform(92, rows * vocabulary, -6f, 6f);
        var uniforms = Enumerable.Range(0, rows).Select(i => (i + 0.5f) / rows).ToArray();
        foreach (var (temperature, topK, topP) in new[] { (0f, 0, 1f), (1f, 50, 1f), (0.8f, 50, 0.9f), (1f, 0, 0.05f) })
            SampleBoth(logits, uniforms, temperature, topK, topP, vocabulary);

        rows = fixture.Size(4, 1); // at temperature 0.9
        logits = Twins.Uniform(13, rows * vocabulary, -5f, 5f);
        foreach (var (topK, topP) in new[] { (0, 1f), (50, 1f), (0, 0.9f), (40, 0.8f) })
            SampleBoth(logits, new[] { 0.1f, 0.4f, 0.7f, 0.95f }[..rows], 0.9f, topK, topP, vocabulary);
    }
}
