using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests;

/// <summary>Measures process-wide allocation, so it runs alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "serial";
}

[Collection(SerialCollection.Name)]
public sealed class CpuOpsAllocationTests
{
    [Fact]
    public void AWarmTrainingStepOfOpsAllocatesNothing()
    {
        var ops = new CpuOps();
        var rng = new Random(5);
        const int N = 128, C = 256, NH = 4, T = 32, B = N / T, V = 5000, OC = 96;
        var x = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, N * C));
        var w = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, OC * C));
        var y = new HostBuffer<float>(N * C);
        var mean = new HostBuffer<float>(N);
        var rstd = new HostBuffer<float>(N);
        var dx = new HostBuffer<float>(N * C);
        var dw = new HostBuffer<float>(OC * C);
        var db = new HostBuffer<float>(C);
        var mm = new HostBuffer<float>(N * OC);
        var qkv = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, N * 3 * C));
        var att = new HostBuffer<float>(B * NH * T * T);
        var scratch = new HostBuffer<float>(B * NH * T * T);
        var dqkv = new HostBuffer<float>(N * 3 * C);
        var logits = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, 16 * V));
        var targets = new HostBuffer<int>(16);
        var coefficients = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, 16));
        var logprobs = new HostBuffer<float>(16);
        var tokens = new HostBuffer<int>(16);
        var uniforms = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, 16, 0.5f, 0.5f));
        var m = new HostBuffer<float>(N * C);
        var v = new HostBuffer<float>(N * C);

        float sink = 0;
        void Step()
        {
            ops.LayerNormForward(y.View, mean.View, rstd.View, x.View, w.View, w.View, N, C);
            ops.LayerNormBackward(dx.View, dw.View, db.View, y.View, x.View, w.View, mean.View, rstd.View, N, C);
            ops.MatmulForward(mm.View, x.View, w.View, default, N, C, OC);
            ops.MatmulBackward(dx.View, dw.View, default, mm.View, x.View, w.View, N, C, OC);
            ops.AttentionForward(y.View, att.View, qkv.View, B, T, C, NH);
            ops.AttentionBackward(dqkv.View, scratch.View, y.View, qkv.View, att.View, B, T, C, NH);
            ops.GeluForward(y.View, x.View, N * C);
            ops.GeluBackward(dx.View, x.View, y.View, N * C);
            ops.TokenLogLikelihood(logprobs.View, logits.View, targets.View, coefficients.View, 16, V);
            ops.Sample(tokens.View, logits.View, uniforms.View, 0.8f, 20, 0.9f, 16, V);
            ops.AdamW(x.View, dx.View, m.View, v.View, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 1f);
            sink += ops.SumOfSquares(dx.View) + ops.Dot(dx.View, x.View);
        }

        Step(); // warm: JIT, scratch growth, worker wake-up events
        Step();

        // Steady state allocates nothing. Each thread grows its own scratch (sampling rows, matmul
        // panels) the first time it happens to run that op, and which thread claims which item is up
        // to timing; the test host's threads also allocate now and then. So within a few warm steps,
        // one must allocate nothing on this thread and (almost) nothing process-wide.
        var log = new System.Text.StringBuilder();
        bool clean = false;
        for (int attempt = 0; attempt < 10 && !clean; attempt++)
        {
            long thread = GC.GetAllocatedBytesForCurrentThread();
            long total = GC.GetTotalAllocatedBytes(true);
            Step();
            long threadBytes = GC.GetAllocatedBytesForCurrentThread() - thread;
            long totalBytes = GC.GetTotalAllocatedBytes(true) - total;
            clean = threadBytes == 0 && totalBytes < 4096;
            log.Append($" [{threadBytes} B on this thread, {totalBytes} B in all]");
        }
        GC.KeepAlive(sink);
        Assert.True(clean, "every warm step allocated:" + log);
    }
}
