using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// Causal attention forward and backward, the KV cache store and the decode step. T = 70 makes a row
/// longer than the kernels' 64-thread group; T = 64 fills it (two 32-lane warps); a decode position
/// past 256 crosses a key chunk; C = 66 gives a head size of 33. The Gqa_ cases take NH query heads over
/// NKV key/value heads of any size hs (the GPT-2 cases above go through the (C, NH) extension methods).
/// </summary>
public abstract class AttentionParity(OpsFixture fixture)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 1, 1, 4, 1 },
        { 1, 1, 8, 1 },
        { 2, 5, 8, 2 },
        { 2, 5, 12, 3 },
        { 2, 7, 12, 3 },
        { 2, 5, 66, 2 },
        { 1, 17, 16, 2 },
        { 1, 70, 4, 1 },
    };

    /// <summary>
    /// Rows that fill the 64-thread group exactly (two 32-lane warps), 4 heads of 16: CpuOps splits the
    /// 2·4·64 rows over its threads. The emulators take one sequence of one head (a barrier costs them milliseconds).
    /// </summary>
    [ParityFact]
    public void A_full_group_shape_forward_and_backward()
    {
        int B = fixture.Size(2, 1), NH = fixture.Size(4, 1);
        Forward_matches_the_reference(B, 64, 64, NH);
        Backward_accumulates_like_the_reference(B, 64, 64, NH);
    }

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_the_reference(int B, int T, int C, int NH)
    {
        using var t = new Twins(fixture, seed: B + 10 * T + 100 * C + NH);
        var qkv = t.Random(B * T * 3 * C, scale: 2f);
        var output = t.Random(B * T * C, scale: 100f);   // overwritten
        var att = t.Random(B * NH * T * T, scale: 100f); // overwritten, upper triangle included
        t.Run((ops, s) => ops.AttentionForward(s[output], s[att], s[qkv], B, T, C, NH));
        t.AssertClose(att, "att", Tolerance, Tolerance);
        t.AssertClose(output, "output", Tolerance, Tolerance);
    }

    [ParityFact]
    public void Forward_is_stable_for_large_scores()
    {
        // Scores in the thousands: exp overflows unless the true row maximum is subtracted first.
        const int B = 1, T = 70, C = 4, NH = 1;
        using var t = new Twins(fixture, seed: 5);
        var qkv = t.Random(B * T * 3 * C, scale: 40f);
        var output = t.Random(B * T * C);
        var att = t.Random(B * NH * T * T);
        t.Run((ops, s) => ops.AttentionForward(s[output], s[att], s[qkv], B, T, C, NH));
        t.AssertClose(att, "att", Tolerance, Tolerance);
        t.AssertClose(output, "output", 1e-3, Tolerance);
    }

    [ParityTheory]
    [MemberData(nameof(Shapes))]
    public void Backward_accumulates_like_the_reference(int B, int T, int C, int NH)
    {
        using var t = new Twins(fixture, seed: B + 10 * T + 100 * C + NH + 1);
        var qkv = t.Random(B * T * 3 * C, scale: 2f);
        // Real softmax probabilities, from the reference forward, on both sides.
        var probabilities = t.Random(B * NH * T * T);
        var forward = t.Random(B * T * C);
        t.Reference.Ops.AttentionForward(forward.Reference, probabilities.Reference, qkv.Reference, B, T, C, NH);
        var att = t.Upload(t.ReferenceValues(probabilities));

        var doutput = t.Random(B * T * C);
        var dqkv = t.Random(B * T * 3 * C);              // pre-filled: the backward adds
        var scratch = t.Random(B * NH * T * T, scale: 100f);
        t.Run((ops, s) => ops.AttentionBackward(s[dqkv], s[scratch], s[doutput], s[qkv], s[att], B, T, C, NH));
        t.AssertClose(dqkv, "dqkv", Tolerance, Tolerance);
    }

    [ParityTheory]
    [InlineData(2, 3, 8, 5)]
    [InlineData(3, 5, 12, 7)]
    public void Kv_cache_store_copies_k_and_v_rows_only(int B, int T, int C, int maxT)
    {
        using var t = new Twins(fixture, seed: 11 + B);
        var qkv = t.Random(B * T * 3 * C);
        var cache = t.Random(B * maxT * 2 * C, scale: 100f); // rows t ≥ T must stay as they are
        t.Run((ops, s) => ops.KvCacheStore(s[cache], s[qkv], B, T, C, maxT));
        t.AssertClose(cache, "kvCache", 0, 0);
    }

    [ParityTheory]
    [InlineData(2, 8, 2, 6, new[] { 3, 0 })]
    [InlineData(3, 12, 3, 4, new[] { 3, 1, 2 })]
    [InlineData(3, 12, 3, 7, new[] { 0, 5, 6 })]
    [InlineData(2, 4, 1, 300, new[] { 299, 5 })] // more keys than one 256-key chunk
    public void Decode_matches_the_reference(int B, int C, int NH, int maxT, int[] positions)
    {
        using var t = new Twins(fixture, seed: B + C + NH + maxT);
        var qkv = t.Random(B * 3 * C, scale: 2f);
        var cache = t.Random(B * maxT * 2 * C, scale: 2f);
        var output = t.Random(B * C, scale: 100f);
        var position = t.Upload(positions);
        t.Run((ops, s) => ops.AttentionDecode(s[output], s[cache], s[qkv], s[position], B, C, NH, maxT));
        t.AssertClose(cache, "kvCache", 0, 0);
        t.AssertClose(output, "output", Tolerance, Tolerance);
    }

    [ParityFact]
    public void Decode_rescales_when_a_later_chunk_holds_the_largest_score()
    {
        // The online softmax must rescale what the first 256 keys contributed once a key of the
        // second chunk beats their maximum: make key 280 the query itself, scaled up.
        const int B = 1, C = 4, NH = 1, maxT = 300;
        using var t = new Twins(fixture, seed: 6);
        var qkvValues = t.Values(B * 3 * C, scale: 2f);
        var cacheValues = t.Values(B * maxT * 2 * C);
        for (int c = 0; c < C; c++) cacheValues[280 * 2 * C + c] = 3f * qkvValues[c];
        var qkv = t.Upload(qkvValues);
        var cache = t.Upload(cacheValues);
        var output = t.Random(B * C);
        var positions = t.Upload(new[] { 299 });
        t.Run((ops, s) => ops.AttentionDecode(s[output], s[cache], s[qkv], s[positions], B, C, NH, maxT));
        t.AssertClose(output, "output", Tolerance, Tolerance);
    }

    [ParityTheory]
    [InlineData(2, 4, 8, 2, 6)]
    [InlineData(2, 6, 16, 2, 8)]
    public void Decode_after_prefill_equals_the_last_row_of_the_forward(int B, int T, int C, int NH, int maxT)
    {
        // Prefill T−1 positions, decode the last one: its output is the forward output at t = T−1.
        using var t = new Twins(fixture, seed: 12 + T);
        var values = t.Values(B * T * 3 * C);
        var qkv = t.Upload(values);
        var output = t.Random(B * T * C);
        var att = t.Random(B * NH * T * T);
        var ops = t.TestedOps;
        ops.AttentionForward(output.Tested, att.Tested, qkv.Tested, B, T, C, NH);

        var prefix = new float[B * (T - 1) * 3 * C];          // qkv (B, T−1, 3C)
        var last = new float[B * 3 * C];                      // qkv (B, 3C) of position T−1
        for (int b = 0; b < B; b++)
        {
            Array.Copy(values, b * T * 3 * C, prefix, b * (T - 1) * 3 * C, (T - 1) * 3 * C);
            Array.Copy(values, (b * T + T - 1) * 3 * C, last, b * 3 * C, 3 * C);
        }
        var cache = t.Random(B * maxT * 2 * C);
        ops.KvCacheStore(cache.Tested, t.Upload(prefix).Tested, B, T - 1, C, maxT);
        var positions = t.Upload(Enumerable.Repeat(T - 1, B).ToArray());
        var decoded = t.Random(B * C);
        ops.AttentionDecode(decoded.Tested, cache.Tested, t.Upload(last).Tested, positions.Tested, B, C, NH, maxT);

        var forward = t.TestedValues(output);
        var step = t.TestedValues(decoded);
        for (int b = 0; b < B; b++)
            Twins.AssertClose(forward.AsSpan((b * T + T - 1) * C, C).ToArray(), step.AsSpan(b * C, C).ToArray(), $"row {b}", 1e-5, 1e-5);
    }

    // ---- grouped-query attention: NH query heads over NKV key/value heads of size hs ----------------

    /// <summary>(B, T, NH, NKV, hs): groups of 2 and 3, multi-query (NKV = 1), head sizes that are not C/NH of anything usual, odd T.</summary>
    public static TheoryData<int, int, int, int, int> GqaShapes => new()
    {
        { 1, 5, 4, 2, 6 },
        { 1, 7, 6, 2, 10 },
        { 1, 3, 3, 1, 24 },
        { 2, 5, 4, 1, 4 },
        { 1, 4, 2, 2, 5 },  // NKV = NH with an odd head size
    };

    private static int Width(int NH, int NKV, int hs) => (NH + 2 * NKV) * hs;

    [ParityTheory]
    [MemberData(nameof(GqaShapes))]
    public void Gqa_forward_matches_the_reference(int B, int T, int NH, int NKV, int hs)
    {
        using var t = new Twins(fixture, seed: 1000 + B + 10 * T + 100 * NH + 7 * NKV + hs);
        var qkv = t.Random(B * T * Width(NH, NKV, hs), scale: 2f);
        var output = t.Random(B * T * NH * hs, scale: 100f);
        var att = t.Random(B * NH * T * T, scale: 100f);
        t.Run((ops, s) => ops.AttentionForward(s[output], s[att], s[qkv], B, T, NH, NKV, hs));
        t.AssertClose(att, "att", Tolerance, Tolerance);
        t.AssertClose(output, "output", Tolerance, Tolerance);
    }

    [ParityTheory]
    [MemberData(nameof(GqaShapes))]
    public void Gqa_backward_accumulates_like_the_reference(int B, int T, int NH, int NKV, int hs)
    {
        using var t = new Twins(fixture, seed: 2000 + B + 10 * T + 100 * NH + 7 * NKV + hs);
        int W = Width(NH, NKV, hs);
        var qkv = t.Random(B * T * W, scale: 2f);
        var probabilities = t.Random(B * NH * T * T);
        var forward = t.Random(B * T * NH * hs);
        t.Reference.Ops.AttentionForward(forward.Reference, probabilities.Reference, qkv.Reference, B, T, NH, NKV, hs);
        var att = t.Upload(t.ReferenceValues(probabilities));

        var doutput = t.Random(B * T * NH * hs);
        var dqkv = t.Random(B * T * W);                  // pre-filled: the backward adds
        var scratch = t.Random(B * NH * T * T, scale: 100f);
        t.Run((ops, s) => ops.AttentionBackward(s[dqkv], s[scratch], s[doutput], s[qkv], s[att], B, T, NH, NKV, hs));
        t.AssertClose(dqkv, "dqkv", Tolerance, Tolerance);
    }

    /// <summary>
    /// Pins the head mapping on the implementation itself: GQA equals multi-head attention over qkv with every
    /// key/value head repeated (Hugging Face's repeat_kv: kv head j serves query heads j·rep … j·rep + rep − 1),
    /// the forward outputs and probabilities alike, and the GQA k/v gradients are the repeated heads' gradients summed.
    /// </summary>
    [ParityTheory]
    [InlineData(1, 5, 4, 2, 6)]
    [InlineData(1, 4, 6, 2, 3)]
    [InlineData(2, 3, 3, 1, 8)]
    public void Gqa_equals_multi_head_attention_over_repeated_kv_heads(int B, int T, int NH, int NKV, int hs)
    {
        using var t = new Twins(fixture, seed: 3000 + NH + NKV + hs);
        int W = Width(NH, NKV, hs), C = NH * hs, N = B * T;
        var values = t.Values(N * W, scale: 2f);
        var repeatedValues = RepeatKv.Expand(values, N, NH, NKV, hs);
        var ops = t.TestedOps;

        var qkv = t.Upload(values);
        var output = t.Random(N * C);
        var att = t.Random(B * NH * T * T);
        ops.AttentionForward(output.Tested, att.Tested, qkv.Tested, B, T, NH, NKV, hs);
        var repeated = t.Upload(repeatedValues);
        var repeatedOutput = t.Random(N * C);
        var repeatedAtt = t.Random(B * NH * T * T);
        ops.AttentionForward(repeatedOutput.Tested, repeatedAtt.Tested, repeated.Tested, B, T, NH, NH, hs);
        Twins.AssertClose(t.TestedValues(repeatedAtt), t.TestedValues(att), "att", 1e-6, 1e-5);
        Twins.AssertClose(t.TestedValues(repeatedOutput), t.TestedValues(output), "output", 1e-6, 1e-5);

        var doutput = t.Random(N * C);
        var dqkv = t.Upload(new float[N * W]);
        ops.AttentionBackward(dqkv.Tested, t.Random(B * NH * T * T).Tested, doutput.Tested, qkv.Tested, att.Tested, B, T, NH, NKV, hs);
        var dRepeated = t.Upload(new float[N * 3 * C]);
        ops.AttentionBackward(dRepeated.Tested, t.Random(B * NH * T * T).Tested, doutput.Tested, repeated.Tested, repeatedAtt.Tested, B, T, NH, NH, hs);
        Twins.AssertClose(RepeatKv.Reduce(t.TestedValues(dRepeated), N, NH, NKV, hs), t.TestedValues(dqkv), "dqkv", 1e-5, 1e-4);
    }

    [ParityTheory]
    [InlineData(2, 3, 4, 2, 6, 5)]
    [InlineData(3, 5, 3, 1, 10, 7)]
    [InlineData(1, 4, 6, 3, 4, 4)]
    public void Gqa_kv_cache_store_copies_k_and_v_rows_only(int B, int T, int NH, int NKV, int hs, int maxT)
    {
        using var t = new Twins(fixture, seed: 40 + B + NH);
        var qkv = t.Random(B * T * Width(NH, NKV, hs));
        var cache = t.Random(B * maxT * 2 * NKV * hs, scale: 100f); // rows t ≥ T must stay as they are
        t.Run((ops, s) => ops.KvCacheStore(s[cache], s[qkv], B, T, NH, NKV, hs, maxT));
        t.AssertClose(cache, "kvCache", 0, 0);
    }

    [ParityTheory]
    [InlineData(2, 4, 2, 6, 6, new[] { 3, 0 })]
    [InlineData(3, 6, 2, 10, 7, new[] { 0, 5, 6 })]
    [InlineData(3, 3, 1, 24, 4, new[] { 3, 1, 2 })]
    [InlineData(2, 4, 1, 4, 300, new[] { 299, 7 })] // multi-query over more keys than one 256-key chunk
    public void Gqa_decode_matches_the_reference(int B, int NH, int NKV, int hs, int maxT, int[] positions)
    {
        using var t = new Twins(fixture, seed: 50 + B + NH + NKV + hs + maxT);
        var qkv = t.Random(B * Width(NH, NKV, hs), scale: 2f);
        var cache = t.Random(B * maxT * 2 * NKV * hs, scale: 2f);
        var output = t.Random(B * NH * hs, scale: 100f);
        var position = t.Upload(positions);
        t.Run((ops, s) => ops.AttentionDecode(s[output], s[cache], s[qkv], s[position], B, NH, NKV, hs, maxT));
        t.AssertClose(cache, "kvCache", 0, 0);
        t.AssertClose(output, "output", Tolerance, Tolerance);
    }

    [ParityTheory]
    [InlineData(2, 4, 4, 2, 6, 5)]
    [InlineData(1, 5, 3, 1, 10, 5)]
    public void Gqa_decode_after_prefill_equals_every_row_of_the_forward(int B, int T, int NH, int NKV, int hs, int maxT)
    {
        // Prefill positions 0..p−1, decode p: its output is the forward output at t = p, for every p.
        using var t = new Twins(fixture, seed: 60 + T + NH);
        int W = Width(NH, NKV, hs), C = NH * hs;
        var values = t.Values(B * T * W);
        var ops = t.TestedOps;
        var output = t.Random(B * T * C);
        ops.AttentionForward(output.Tested, t.Random(B * NH * T * T).Tested, t.Upload(values).Tested, B, T, NH, NKV, hs);
        var forward = t.TestedValues(output);

        for (int p = 0; p < T; p++)
        {
            var cache = t.Random(B * maxT * 2 * NKV * hs);
            if (p > 0)
            {
                var prefix = new float[B * p * W];
                for (int b = 0; b < B; b++) Array.Copy(values, b * T * W, prefix, b * p * W, p * W);
                ops.KvCacheStore(cache.Tested, t.Upload(prefix).Tested, B, p, NH, NKV, hs, maxT);
            }
            var last = new float[B * W];
            for (int b = 0; b < B; b++) Array.Copy(values, (b * T + p) * W, last, b * W, W);
            var decoded = t.Random(B * C);
            ops.AttentionDecode(decoded.Tested, cache.Tested, t.Upload(last).Tested, t.Upload(Enumerable.Repeat(p, B).ToArray()).Tested, B, NH, NKV, hs, maxT);
            var step = t.TestedValues(decoded);
            for (int b = 0; b < B; b++)
                Twins.AssertClose(forward.AsSpan((b * T + p) * C, C).ToArray(), step.AsSpan(b * C, C).ToArray(), $"position {p}, row {b}", 1e-5, 1e-5);
        }
    }
}
