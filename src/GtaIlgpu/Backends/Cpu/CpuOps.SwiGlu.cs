using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>SwiGLU over the fused [gate | up] rows: one work item per row, the gate and up halves as two spans.</summary>
public sealed partial class CpuOps
{
    public void SwiGluForward(BufferView<float> output, BufferView<float> gateUp, int N, int I)
    {
        const string op = "swiglu_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "I", I);
        OpShapes.AtLeast(op, "output", output.Length, (long)N * I);
        OpShapes.AtLeast(op, "gateUp", gateUp.Length, 2L * N * I);
        CpuLoops.Rows(N, 3L * I, new SwiGluForwardKernel(new HostArray<float>(output), new HostArray<float>(gateUp), I));
    }

    public void SwiGluBackward(BufferView<float> dgateUp, BufferView<float> doutput, BufferView<float> gateUp, int N, int I)
    {
        const string op = "swiglu_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "I", I);
        OpShapes.AtLeast(op, "dgateUp", dgateUp.Length, 2L * N * I);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)N * I);
        OpShapes.AtLeast(op, "gateUp", gateUp.Length, 2L * N * I);
        CpuLoops.Rows(N, 6L * I, new SwiGluBackwardKernel(new HostArray<float>(dgateUp), new HostArray<float>(doutput), new HostArray<float>(gateUp), I));
    }

    private readonly struct SwiGluForwardKernel(HostArray<float> output, HostArray<float> gateUp, int I) : IRowKernel
    {
        public void Run(int n) => CpuSimd.SwiGluForward(gateUp.Slice(2 * n * I, I), gateUp.Slice(2 * n * I + I, I), output.Slice(n * I, I));
    }

    private readonly struct SwiGluBackwardKernel(HostArray<float> dgateUp, HostArray<float> doutput, HostArray<float> gateUp, int I) : IRowKernel
    {
        public void Run(int n) =>
            CpuSimd.SwiGluBackward(gateUp.Slice(2 * n * I, I), gateUp.Slice(2 * n * I + I, I), doutput.Slice(n * I, I),
                dgateUp.Slice(2 * n * I, I), dgateUp.Slice(2 * n * I + I, I));
    }
}
