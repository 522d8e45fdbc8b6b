namespace GtaIlgpu.Tests.Sampling;

/// <summary>
/// Sampling cases whose draws were worked out by hand from the contract (IOps.Sample), shared by the
/// CpuOps and kernel parity tests. Logits are ln(weight) at τ = 1, so probabilities are the weights'
/// ratios; every uniform sits well inside its token's interval.
/// </summary>
public static class HandComputedSamplingCases
{
    public sealed record Case(string Name, float[] Logits, float Temperature, int TopK, float TopP, float[] Uniforms, int[] Expected);

    public static readonly Case[] All =
    [
        // Weights 1, 8, 2, 4, 1/2, 1/4, 1/8, 1/8 (total 16). Top-k 3 keeps indices 1, 3, 2 (8, 4, 2),
        // renormalised 8/14, 4/14, 2/14. Top-p 0.8 on them: 0.571 < 0.8, then 0.857 ≥ 0.8, so {1, 3}
        // survive and the draw is index 1 below u = 8/12, index 3 above. Measured on the full softmax
        // (the old rule) the running mass is 0.5, 0.75, 0.875 and index 2 would survive too: u = 0.6
        // and 0.7 would draw it (index 1 below 8/14, index 2 below 10/14).
        new("top-p renormalised after top-k", Logs(1, 8, 2, 4, 0.5, 0.25, 0.125, 0.125), 1f, 3, 0.8f,
            [0.05f, 0.3f, 0.6f, 0.7f, 0.95f], [1, 1, 1, 3, 3]),
        // Weights 4, 2, 2, 1 (total 9), top-p 0.6: 4/9 = 0.444 < 0.6, and the token crossing 0.6 ties
        // with another 2, so both survive ({0, 1, 2}, weights 4, 2, 2 of 8): index 0 below u = 0.5,
        // index 1 below 0.75, index 2 above. Hugging Face would keep only the tie its sort puts first.
        new("ties with the crossing token all kept", Logs(4, 2, 2, 1), 1f, 0, 0.6f,
            [0.1f, 0.45f, 0.6f, 0.7f, 0.9f], [0, 0, 1, 1, 2]),
        // Two neighbouring floats a < b near 1.6 with a/3 == b/3 in float: s ties although x does not.
        // Top-k 1 keeps both (equal weights): index 0 below u = 0.5, index 2 above.
        new("top-k ties created by the division by τ", [DivisionTie.Low, -1f, DivisionTie.High, 0.5f], 3f, 1, 1f,
            [0.1f, 0.4f, 0.6f, 0.9f], [0, 0, 2, 2]),
        // s ≈ 0.533 (twice), 1, −0.333; weights 1.705, 2.718, 1.705, 0.717 (total 6.845): the maximum
        // holds 0.397 < 0.6, and the tied pair crosses 0.6, so indices 0, 1, 2 survive (6.128):
        // index 0 below u = 0.278, index 1 below 0.722, index 2 above.
        new("top-p crossing at a tie created by the division by τ", [DivisionTie.Low, 3f, DivisionTie.High, -1f], 3f, 0, 0.6f,
            [0.1f, 0.25f, 0.3f, 0.7f, 0.75f, 0.95f], [0, 0, 1, 1, 2, 2]),
        // −0 (a SIMD lane) and +0 (the scalar tail of a 10-wide row) tie at the maximum: top-k 1 keeps
        // both, index 0 below u = 0.5, index 9 above.
        new("top-k −0 ties with +0", [-0f, -3f, -3f, -3f, -3f, -3f, -3f, -3f, -3f, 0f], 1f, 1, 1f,
            [0.2f, 0.45f, 0.55f, 0.8f], [0, 0, 9, 9]),
    ];

    /// <summary>The first neighbouring floats from 1.6 up whose quotients by 3 round to the same float.</summary>
    private static class DivisionTie
    {
        public static readonly float Low = Find(), High = MathF.BitIncrement(Low);

        private static float Find()
        {
            for (float x = 1.6f; ; x = MathF.BitIncrement(x))
                if (x / 3f == MathF.BitIncrement(x) / 3f) return x;
        }
    }

    /// <summary>The case names, for a theory (names serialise; the cases are looked up by <see cref="Named"/>).</summary>
    public static TheoryData<string> Names() => new(All.Select(c => c.Name));

    public static Case Named(string name) => All.Single(c => c.Name == name);

    /// <summary>The same logits once per uniform, so one call draws every uniform.</summary>
    public static float[] RepeatedLogits(Case c) => Enumerable.Range(0, c.Uniforms.Length).SelectMany(_ => c.Logits).ToArray();

    private static float[] Logs(params double[] weights) => weights.Select(w => (float)Math.Log(w)).ToArray();
}
