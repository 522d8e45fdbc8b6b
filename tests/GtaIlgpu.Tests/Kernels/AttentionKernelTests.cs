using GtaIlgpu.Backends;
using GtaIlgpu.Tests.Fixtures;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>
/// Attention kernels against the scalar reference, at tiny shapes for the CPU emulator. T = 70 makes
/// a row longer than the 64-thread group; a decode position past 256 crosses a key chunk.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class AttentionKernelTests(IlgpuFixture fixture)
{
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 2, 5, 8, 2 },
        { 1, 1, 4, 1 },
        { 2, 7, 12, 3 },
        { 1, 70, 4, 1 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_reference(int B, int T, int C, int NH)
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: B + 10 * T + 100 * C + NH);
        var qkv = twins.RandomTwin(B * T * 3 * C, scale: 2f);
        var output = twins.RandomTwin(B * T * C, scale: 100f);   // overwritten
        var att = twins.RandomTwin(B * NH * T * T, scale: 100f); // overwritten, upper triangle included

        twins.ReferenceOps.AttentionForward(output.Reference, att.Reference, qkv.Reference, B, T, C, NH);
        twins.DeviceOps.AttentionForward(output.Device, att.Device, qkv.Device, B, T, C, NH);

        twins.AssertClose(att, "att");
        twins.AssertClose(output, "output");
    }

    [Fact]
    public void Forward_is_stable_for_large_scores()
    {
        // Scores in the thousands: exp overflows unless the true row maximum is subtracted first.
        const int B = 1, T = 70, C = 4, NH = 1;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 5);
        var qkv = twins.RandomTwin(B * T * 3 * C, scale: 40f);
        var output = twins.RandomTwin(B * T * C);
        var att = twins.RandomTwin(B * NH * T * T);

        twins.ReferenceOps.AttentionForward(output.Reference, att.Reference, qkv.Reference, B, T, C, NH);
        twins.DeviceOps.AttentionForward(output.Device, att.Device, qkv.Device, B, T, C, NH);

        twins.AssertClose(att, "att");
        twins.AssertClose(output, "output", atol: 1e-3);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Backward_accumulates_like_reference(int B, int T, int C, int NH)
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: B + 10 * T + 100 * C + NH + 1);
        var qkv = twins.RandomTwin(B * T * 3 * C, scale: 2f);
        var att = twins.RandomTwin(B * NH * T * T);
        // Real softmax probabilities, from the reference forward, on both sides.
        twins.ReferenceOps.AttentionForward(twins.RandomTwin(B * T * C).Reference, att.Reference, qkv.Reference, B, T, C, NH);
        twins.Device.Upload(att.Device, twins.Reference.ToArray(att.Reference));

        var doutput = twins.RandomTwin(B * T * C);
        var dqkv = twins.RandomTwin(B * T * 3 * C);              // pre-filled: backward adds
        var scratch = twins.RandomTwin(B * NH * T * T, scale: 100f);

        twins.ReferenceOps.AttentionBackward(dqkv.Reference, scratch.Reference, doutput.Reference, qkv.Reference, att.Reference, B, T, C, NH);
        twins.DeviceOps.AttentionBackward(dqkv.Device, scratch.Device, doutput.Device, qkv.Device, att.Device, B, T, C, NH);

        twins.AssertClose(dqkv, "dqkv");
    }

    [Fact]
    public void KvCacheStore_copies_k_and_v_rows_only()
    {
        const int B = 2, T = 3, C = 8, maxT = 5;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 11);
        var qkv = twins.RandomTwin(B * T * 3 * C);
        var cache = twins.RandomTwin(B * maxT * 2 * C, scale: 100f); // rows t ≥ T must stay as they are

        twins.ReferenceOps.KvCacheStore(cache.Reference, qkv.Reference, B, T, C, maxT);
        twins.DeviceOps.KvCacheStore(cache.Device, qkv.Device, B, T, C, maxT);

        twins.AssertClose(cache, "kvCache", atol: 0, rtol: 0);
    }

    [Theory]
    [InlineData(2, 8, 2, 6, new[] { 3, 0 })]
    [InlineData(3, 12, 3, 4, new[] { 3, 1, 2 })]
    [InlineData(2, 4, 1, 300, new[] { 299, 5 })] // more keys than one 256-key chunk
    public void Decode_matches_reference(int B, int C, int NH, int maxT, int[] positions)
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: B + C + NH + maxT);
        var qkv = twins.RandomTwin(B * 3 * C, scale: 2f);
        var cache = twins.RandomTwin(B * maxT * 2 * C, scale: 2f);
        var output = twins.RandomTwin(B * C, scale: 100f);
        var position = twins.Upload(positions);

        twins.ReferenceOps.AttentionDecode(output.Reference, cache.Reference, qkv.Reference, position.Reference, B, C, NH, maxT);
        twins.DeviceOps.AttentionDecode(output.Device, cache.Device, qkv.Device, position.Device, B, C, NH, maxT);

        twins.AssertClose(cache, "kvCache", atol: 0, rtol: 0);
        twins.AssertClose(output, "output");
    }

    [Fact]
    public void Decode_rescales_when_a_later_chunk_holds_the_largest_score()
    {
        // The online softmax must rescale what the first 256 keys contributed once a key of the
        // second chunk beats their maximum: make key 280 the query itself, scaled up.
        const int B = 1, C = 4, NH = 1, maxT = 300;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 6);
        var qkvValues = twins.Values(B * 3 * C, scale: 2f);
        var cacheValues = twins.Values(B * maxT * 2 * C);
        for (int c = 0; c < C; c++) cacheValues[280 * 2 * C + c] = 3f * qkvValues[c];
        var qkv = twins.Upload(qkvValues);
        var cache = twins.Upload(cacheValues);
        var output = twins.RandomTwin(B * C);
        var positions = twins.Upload(new[] { 299 });

        twins.ReferenceOps.AttentionDecode(output.Reference, cache.Reference, qkv.Reference, positions.Reference, B, C, NH, maxT);
        twins.DeviceOps.AttentionDecode(output.Device, cache.Device, qkv.Device, positions.Device, B, C, NH, maxT);

        twins.AssertClose(output, "output");
    }

    [Fact]
    public void Decode_after_prefill_matches_the_forward_pass()
    {
        // Prefill T−1 positions, decode the last one: its output is the forward output at t = T−1.
        const int B = 2, T = 4, C = 8, NH = 2, maxT = 6;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 12);
        var values = twins.Values(B * T * 3 * C);
        var qkv = twins.Upload(values);
        var output = twins.RandomTwin(B * T * C);
        var att = twins.RandomTwin(B * NH * T * T);
        twins.DeviceOps.AttentionForward(output.Device, att.Device, qkv.Device, B, T, C, NH);

        var prefix = new float[B * (T - 1) * 3 * C];          // qkv (B, T−1, 3C)
        var last = new float[B * 3 * C];                      // qkv (B, 3C) of position T−1
        for (int b = 0; b < B; b++)
        {
            Array.Copy(values, b * T * 3 * C, prefix, b * (T - 1) * 3 * C, (T - 1) * 3 * C);
            Array.Copy(values, (b * T + T - 1) * 3 * C, last, b * 3 * C, 3 * C);
        }
        var cache = twins.RandomTwin(B * maxT * 2 * C);
        twins.DeviceOps.KvCacheStore(cache.Device, twins.Upload(prefix).Device, B, T - 1, C, maxT);
        var lastQkv = twins.Upload(last);
        var positions = twins.Upload(Enumerable.Repeat(T - 1, B).ToArray());
        var decoded = twins.RandomTwin(B * C);
        twins.DeviceOps.AttentionDecode(decoded.Device, cache.Device, lastQkv.Device, positions.Device, B, C, NH, maxT);

        var forward = twins.Device.ToArray(output.Device);
        var step = twins.Device.ToArray(decoded.Device);
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                Assert.Equal(forward[(b * T + T - 1) * C + c], step[b * C + c], 1e-5f);
    }

    [Fact]
    public void Decode_with_a_position_outside_the_cache_poisons_only_that_sequence()
    {
        const int B = 2, C = 4, NH = 2, maxT = 3;
        using var twins = new ReferenceTwins(fixture.Backend, seed: 13);
        var qkv = twins.RandomTwin(B * 3 * C);
        var cache = twins.RandomTwin(B * maxT * 2 * C);
        var output = twins.RandomTwin(B * C);
        var positions = twins.Upload(new[] { 1, maxT });

        twins.DeviceOps.AttentionDecode(output.Device, cache.Device, qkv.Device, positions.Device, B, C, NH, maxT);

        var result = twins.Device.ToArray(output.Device);
        Assert.All(result.Take(C), v => Assert.True(float.IsFinite(v)));
        Assert.All(result.Skip(C), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void Bad_shapes_are_rejected_on_the_host()
    {
        using var twins = new ReferenceTwins(fixture.Backend, seed: 14);
        var qkv = twins.RandomTwin(2 * 3 * 3 * 8);
        var output = twins.RandomTwin(2 * 3 * 8);
        var att = twins.RandomTwin(2 * 2 * 3 * 3 - 1);

        Assert.Contains("att", Assert.Throws<ArgumentException>(() =>
            twins.DeviceOps.AttentionForward(output.Device, att.Device, qkv.Device, 2, 3, 8, 2)).Message);
        Assert.Throws<ArgumentException>(() =>
            twins.DeviceOps.AttentionForward(output.Device, att.Device, qkv.Device, 2, 3, 8, 3)); // 8 % 3 ≠ 0
        Assert.Throws<ArgumentException>(() =>
            twins.DeviceOps.KvCacheStore(twins.RandomTwin(2 * 2 * 2 * 8).Device, qkv.Device, 2, 3, 8, maxT: 2));
    }
}
