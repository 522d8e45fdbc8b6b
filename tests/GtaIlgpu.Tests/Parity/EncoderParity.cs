namespace GtaIlgpu.Tests.Parity;

/// <summary>Token + position embedding: forward, scatter-add backward, and the decode step's forward.</summary>
public abstract class EncoderParity(OpsFixture fixture)
{
    // The forward is one float add per element; the backward sums repeated tokens in any order.
    private const double BackwardTolerance = 1e-5;

    [ParityTheory]
    [InlineData(2, 5, 7)]
    [InlineData(1, 1, 13)]
    [InlineData(3, 5, 33)]
    [InlineData(4, 64, 200)]
    public void Encoder_matches_the_reference(int B, int T, int C)
    {
        const int V = 11; // small: tokens repeat, so dwte rows collect several contributions
        using var t = new Twins(fixture, seed: B * 1000 + T * 10 + C);
        var tokens = t.RandomTokens(B * T, V);
        var wte = t.Random(V * C);
        var wpe = t.Random((T + 2) * C);
        var output = t.Random(B * T * C);
        t.Run((ops, s) => ops.EncoderForward(s[output], s[tokens], s[wte], s[wpe], B, T, C));
        t.AssertClose(output, "output", 0, 0);

        var doutput = t.Random(B * T * C);
        var dwte = t.Random(V * C);
        var dwpe = t.Random((T + 2) * C);
        t.Run((ops, s) => ops.EncoderBackward(s[dwte], s[dwpe], s[doutput], s[tokens], B, T, C));
        t.AssertClose(dwte, "dwte", BackwardTolerance, BackwardTolerance);
        t.AssertClose(dwpe, "dwpe", BackwardTolerance, BackwardTolerance);

        var positions = t.RandomTokens(B, T + 2);
        var decoded = t.Random(B * C);
        t.Run((ops, s) => ops.EncoderDecodeForward(s[decoded], s[tokens], s[positions], s[wte], s[wpe], B, C));
        t.AssertClose(decoded, "decode output", 0, 0);
    }

    /// <summary>The rotary families: an empty wpe adds nothing, an empty dwpe is skipped, and the decode step reads no position.</summary>
    [ParityTheory]
    [InlineData(2, 5, 7)]
    [InlineData(3, 5, 33)]
    public void Encoder_without_position_table_matches_the_reference(int B, int T, int C)
    {
        const int V = 11;
        using var t = new Twins(fixture, seed: 7000 + B * 100 + T * 10 + C);
        var tokens = t.RandomTokens(B * T, V);
        var wte = t.Random(V * C);
        var output = t.Random(B * T * C);
        t.Run((ops, s) => ops.EncoderForward(s[output], s[tokens], s[wte], default, B, T, C));
        t.AssertClose(output, "output", 0, 0);

        var doutput = t.Random(B * T * C);
        var dwte = t.Random(V * C);
        t.Run((ops, s) => ops.EncoderBackward(s[dwte], default, s[doutput], s[tokens], B, T, C));
        t.AssertClose(dwte, "dwte", BackwardTolerance, BackwardTolerance);

        var positions = t.Upload(Enumerable.Range(0, B).Select(b => 1000 + b).ToArray()); // beyond any table: must not be read
        var decoded = t.Random(B * C);
        t.Run((ops, s) => ops.EncoderDecodeForward(s[decoded], s[tokens], s[positions], s[wte], default, B, C));
        t.AssertClose(decoded, "decode output", 0, 0);
    }

    private const int B = 2, T = 3, C = 7, V = 5, MaxT = 4;

    // Token 3 repeats (within and across sequences), so dwte needs the atomic scatter-add.
    private static readonly int[] Tokens = [3, 0, 3, 4, 3, 1];

    [ParityFact]
    public void Forward_adds_token_and_position_rows()
    {
        using var t = new Twins(fixture, seed: 20);
        var output = t.Random(B * T * C + 3);
        var wte = t.Random(V * C);
        var wpe = t.Random(MaxT * C);
        var tokens = t.Upload(Tokens);
        t.Run((ops, s) => ops.EncoderForward(s[output], s[tokens], s[wte], s[wpe], B, T, C));
        t.AssertClose(output, "output", 0, 0);
    }

    [ParityFact]
    public void Backward_scatter_adds_into_prefilled_tables()
    {
        using var t = new Twins(fixture, seed: 23);
        var dwte = t.Random(V * C);
        var dwpe = t.Random(MaxT * C);
        var doutput = t.Random(B * T * C);
        var tokens = t.Upload(Tokens);
        t.Run((ops, s) => ops.EncoderBackward(s[dwte], s[dwpe], s[doutput], s[tokens], B, T, C));
        t.AssertClose(dwte, "dwte", BackwardTolerance, BackwardTolerance);
        t.AssertClose(dwpe, "dwpe", BackwardTolerance, BackwardTolerance);
        t.AssertClose(doutput, "doutput (untouched)", 0, 0);
    }

    [ParityFact]
    public void Decode_forward_uses_each_rows_position()
    {
        using var t = new Twins(fixture, seed: 26);
        var output = t.Random(3 * C);
        var wte = t.Random(V * C);
        var wpe = t.Random(MaxT * C);
        var tokens = t.Upload(new[] { 4, 0, 2 });
        var positions = t.Upload(new[] { 3, 0, 1 });
        t.Run((ops, s) => ops.EncoderDecodeForward(s[output], s[tokens], s[positions], s[wte], s[wpe], 3, C));
        t.AssertClose(output, "output", 0, 0);
    }
}
