using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests;

/// <summary>
/// The Llama-family CpuOps (RMSNorm, QkNorm, rotary, SwiGLU) and the LoRA ones (bf16 matmul and embedding,
/// column blocks) allocate nothing once warm; serial, as it measures process-wide allocation.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class CpuOpsLlamaAllocationTests
{
    [Fact]
    public void AWarmStepOfLlamaOpsAllocatesNothing()
    {
        var ops = new CpuOps();
        var rng = new Random(6);
        const int N = 128, C = 256, NH = 4, NKV = 2, hs = 32, width = (NH + 2 * NKV) * hs, I = 384;
        var x = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, N * C));
        var w = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, C));
        var y = new HostBuffer<float>(N * C);
        var dx = new HostBuffer<float>(N * C);
        var dw = new HostBuffer<float>(C);
        var rstd = new HostBuffer<float>(N * (NH + NKV));
        var qkv = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, N * width));
        var normed = new HostBuffer<float>(N * width);
        var dqkv = new HostBuffer<float>(N * width);
        var positions = new HostBuffer<int>(N);
        for (int n = 0; n < N; n++) positions.Data[n] = 3 * n + 1;
        var invFreq = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, hs / 2, 0.5f, 0.5f));
        var gateUp = CpuOpsTests.Buffer(CpuOpsTests.Random(rng, N * 2 * I));
        var dgateUp = new HostBuffer<float>(N * 2 * I);
        var mlp = new HostBuffer<float>(N * I);
        var wBf16 = new HostBuffer<ushort>(width * C);
        for (int i = 0; i < width * C; i++) wBf16.Data[i] = (ushort)(0x3C00 + rng.Next(0x0800)); // |w| in [2⁻⁷, 1)
        var tokens = new HostBuffer<int>(N);
        var lora = new HostBuffer<float>(N * hs);

        void Step()
        {
            ops.RmsNormForward(y.View, rstd.View, x.View, w.View, N, C, 1e-6f);
            ops.RmsNormBackward(dx.View, dw.View, y.View, x.View, w.View, rstd.View, N, C);
            ops.QkNormForward(normed.View, rstd.View, qkv.View, w.View, w.View, N, NH, NKV, hs, 1e-6f);
            ops.QkNormBackward(dqkv.View, dw.View, dw.View, normed.View, qkv.View, w.View, w.View, rstd.View, N, NH, NKV, hs);
            ops.RotaryForward(normed.View, positions.View, invFreq.View, N, NH, NKV, hs);
            ops.RotaryBackward(dqkv.View, positions.View, invFreq.View, N, NH, NKV, hs);
            ops.SwiGluForward(mlp.View, gateUp.View, N, I);
            ops.SwiGluBackward(dgateUp.View, mlp.View, gateUp.View, N, I);
            ops.MatmulForwardBf16(qkv.View, x.View, wBf16.View, default, N, C, width);
            ops.MatmulBackwardInputBf16(dx.View, dqkv.View, wBf16.View, N, C, width);
            ops.EncoderForwardBf16(y.View, tokens.View, wBf16.View, default, 1, N, C);
            ops.TakeColumns(lora.View, dqkv.View, width, NH * hs, hs, N, 0.5f);
            ops.AddColumns(qkv.View, width, NH * hs, lora.View, hs, N, 2f);
        }

        Step(); // warm: JIT, scratch growth, worker wake-up events
        Step();

        // As in CpuOpsAllocationTests: a thread may grow its scratch the first time it runs an op, so one
        // of a few warm steps must allocate nothing on this thread and (almost) nothing process-wide.
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
        Assert.True(clean, "every warm step allocated:" + log);
    }
}
