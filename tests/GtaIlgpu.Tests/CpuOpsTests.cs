using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests;

/// <summary>
/// What only CpuOps promises: bit-identical results run to run on several threads, shape errors
/// that name the op and write nothing, and row indices checked on the host. Its parity with the scalar
/// reference is the CpuOps*Parity classes (tests/GtaIlgpu.Tests/Parity).
/// </summary>
public sealed class CpuOpsTests
{
    private static readonly CpuOps Cpu = new();

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

    [Fact]
    public void Row_indices_out_of_order_or_outside_the_source_are_rejected()
    {
        const int width = 5, rows = 7;
        var full = Buffer(new float[rows * width]);
        var compact = new HostBuffer<float>(2 * width);
        Assert.StartsWith("gather_rows:", Assert.Throws<ArgumentException>(() => Cpu.GatherRows(compact.View, full.View, Buffer([3, 1]).View, 2, width)).Message);
        Assert.StartsWith("scatter_rows:", Assert.Throws<ArgumentException>(() => Cpu.ScatterRows(full.View, compact.View, Buffer([1, rows]).View, 2, width)).Message);
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
        var bf16 = new HostBuffer<ushort>(64);
        Throws("matmul_forward_bf16", () => Cpu.MatmulForwardBf16(output.View, output.View, bf16.View.Slice(0, 11), default, 2, 4, 3));
        Throws("matmul_backward_input_bf16", () => Cpu.MatmulBackwardInputBf16(output.View, small.View, bf16.View, 2, 4, 3));
        Throws("encoder_forward_bf16", () => Cpu.EncoderForwardBf16(output.View, Buffer(new[] { 0, 8 }).View, bf16.View, bf16.View, 1, 2, 8));
        Throws("encoder_decode_forward_bf16", () => Cpu.EncoderDecodeForwardBf16(output.View, ints.View, Buffer(new[] { 16 }).View, bf16.View, bf16.View, 1, 4));
        Throws("add_columns", () => Cpu.AddColumns(output.View, 8, 6, small.View, 3, 1, 1f));
        Throws("take_columns", () => Cpu.TakeColumns(small.View, output.View, 8, 0, 3, 2, 1f));
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
