using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Sampling;
using static GtaIlgpu.Tests.Kernels.PointwiseParity;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>
/// Exact tokens for fixed uniforms, against the scalar reference. Each case repeats one logits row
/// once per uniform in <see cref="Uniforms"/>, so a single launch walks the inverse CDF across [0,1).
/// Probabilities are well separated, so float (kernel) and double (reference) agree on every draw.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class SamplingKernelTests(IlgpuFixture fixture)
{
    private const int V = 37;
    private static readonly float[] Uniforms = [0f, 0.07f, 0.2f, 0.35f, 0.5f, 0.66f, 0.81f, 0.93f];

    /// <summary>Mixed-sign logits with a few clear leaders; ties at 2.0 (indices 9, 30) and at −0.5.</summary>
    private static float[] Row()
    {
        var row = Uniform(90, V, -3f, -1f);
        row[3] = 3.0f;
        row[9] = 2.0f;
        row[30] = 2.0f;
        row[22] = 1.2f;
        row[14] = -0.5f;
        row[35] = -0.5f;
        row[0] = 0.4f;
        return row;
    }

    private int[] SampleBoth(float[] row, float temperature, int topK, float topP, float[]? uniforms = null)
    {
        uniforms ??= Uniforms;
        int rows = uniforms.Length;
        int vocabulary = row.Length;
        var logits = Enumerable.Range(0, rows).SelectMany(_ => row).ToArray();
        var r = Run(fixture, [logits, uniforms], [new int[rows]],
            (ops, f, i) => ops.Sample(i[0], f[0], f[1], temperature, topK, topP, rows, vocabulary),
            (ops, f, i) => ops.Sample(i[0], f[0], f[1], temperature, topK, topP, rows, vocabulary));
        Assert.Equal(r.ExpectedInts[0], r.ActualInts[0]);
        AssertClose(r.Expected[0], r.Actual[0], 0, 0, "logits (must be left untouched)");
        return r.ActualInts[0];
    }

    [Fact]
    public void Greedy_TakesTheLowestIndexOnTies()
    {
        var tied = Row();
        tied[3] = 2.0f; // now 3, 9 and 30 tie for the maximum
        var flat = new float[V];
        var last = Uniform(91, V, -1f, 0f);
        last[V - 1] = 5f;
        foreach (var (row, expected) in new[] { (Row(), 3), (tied, 3), (flat, 0), (last, V - 1) })
        {
            var tokens = SampleBoth(row, 0f, 0, 1f, [0.5f, 0.99f]);
            Assert.All(tokens, t => Assert.Equal(expected, t));
        }
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(0.5f)]
    [InlineData(2f)]
    public void Temperature_WithoutFilters(float temperature) => SampleBoth(Row(), temperature, 0, 1f);

    [Theory]
    [InlineData(1)]
    [InlineData(3)] // the 3rd largest logit ties (2.0 at 9 and 30): both are kept
    [InlineData(5)]
    [InlineData(6)] // −0.5 ties at the boundary
    [InlineData(36)]
    [InlineData(37)]
    public void TopK(int k)
    {
        // A high temperature flattens the kept probabilities, and 16 evenly spaced uniforms then land on
        // every kept token, so keeping one token too many or too few changes some draw.
        var dense = Enumerable.Range(0, 16).Select(i => (i + 0.5f) / 16f).ToArray();
        var tokens = SampleBoth(Row(), 3f, k, 1f, dense);
        if (k == 1) Assert.All(tokens, t => Assert.Equal(3, t));
    }

    /// <summary>Top-p on the renormalised top-k survivors and ties at the crossing token, worked by hand.</summary>
    [Theory]
    [MemberData(nameof(HandComputedSamplingCases.Names), MemberType = typeof(HandComputedSamplingCases))]
    public void HandComputed(string name)
    {
        var c = HandComputedSamplingCases.Named(name);
        Assert.Equal(c.Expected, SampleBoth(c.Logits, c.Temperature, c.TopK, c.TopP, c.Uniforms));
    }

    [Theory]
    [InlineData(0.5f, 0)]
    [InlineData(0.8f, 0)]
    [InlineData(0.95f, 0)]
    [InlineData(0f, 0)]     // only the most probable token survives
    [InlineData(0.9f, 2)]   // top-2 keeps 3 and the tied 9, 30 (0.64, 0.18, 0.18 renormalised): 0.9 needs all
    [InlineData(0.6f, 5)]
    public void TopP_AfterTopK(float topP, int topK) => SampleBoth(Row(), 0.8f, topK, topP);

    /// <summary>
    /// GPT-2's vocabulary on a real GPU with the usual rollout filters (top-k 50, top-p 0.9): the scan
    /// crosses many chunks and the bisections run their full length. Returns at once on the emulator.
    /// </summary>
    [GpuFact]
    public void Gpt2Vocabulary_OnGpuOnly()
    {
        const int rows = 16, vocabulary = 50257;
        var logits = Uniform(92, rows * vocabulary, -6f, 6f);
        var uniforms = Enumerable.Range(0, rows).Select(i => (i + 0.5f) / rows).ToArray();
        foreach (var (temperature, topK, topP) in new[] { (0f, 0, 1f), (1f, 50, 1f), (0.8f, 50, 0.9f), (1f, 0, 0.05f) })
        {
            var r = Run(fixture, [logits, uniforms], [new int[rows]],
                (ops, f, i) => ops.Sample(i[0], f[0], f[1], temperature, topK, topP, rows, vocabulary),
                (ops, f, i) => ops.Sample(i[0], f[0], f[1], temperature, topK, topP, rows, vocabulary));
            Assert.Equal(r.ExpectedInts[0], r.ActualInts[0]);
        }
    }
}
