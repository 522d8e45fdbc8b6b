namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// TEMPORARY stand-in for the fast CPU matmul (branch cpu-matmul), so that CpuOps builds and is tested
/// before it lands: plain row-parallel SIMD dot products and axpys. Deleted when the real one is merged.
/// </summary>
public static class CpuMatmul
{
    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC, optional).</summary>
    public static void Forward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC) =>
        CpuLoops.Rows(N, (long)C * OC, new ForwardKernel(new HostArray<float>(output), new HostArray<float>(input), new HostArray<float>(weight), new HostArray<float>(bias), C, OC));

    /// <summary>dinput += doutput·weight (skipped when empty); dweight += doutputᵀ·input; dbias += Σ_n doutput (skipped when empty).</summary>
    public static void Backward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC)
    {
        var dy = new HostArray<float>(doutput);
        if (!dinput.IsEmpty)
            CpuLoops.Rows(N, (long)C * OC, new BackwardInputKernel(new HostArray<float>(dinput), dy, new HostArray<float>(weight), C, OC));
        CpuLoops.Rows(OC, (long)N * C, new BackwardWeightKernel(new HostArray<float>(dweight), new HostArray<float>(dbias), dy, new HostArray<float>(input), N, C, OC));
    }

    private readonly struct ForwardKernel(HostArray<float> output, HostArray<float> input, HostArray<float> weight, HostArray<float> bias, int C, int OC) : IRowKernel
    {
        public void Run(int n)
        {
            var x = input.Slice(n * C, C);
            for (int k = 0; k < OC; k++)
                output[n * OC + k] = CpuSimd.Dot(x, weight.Slice(k * C, C)) + (bias.IsEmpty ? 0f : bias[k]);
        }
    }

    private readonly struct BackwardInputKernel(HostArray<float> dinput, HostArray<float> doutput, HostArray<float> weight, int C, int OC) : IRowKernel
    {
        public void Run(int n)
        {
            var dx = dinput.Slice(n * C, C);
            for (int k = 0; k < OC; k++) CpuSimd.Axpy(doutput[n * OC + k], weight.Slice(k * C, C), dx);
        }
    }

    private readonly struct BackwardWeightKernel(HostArray<float> dweight, HostArray<float> dbias, HostArray<float> doutput, HostArray<float> input, int N, int C, int OC) : IRowKernel
    {
        public void Run(int k)
        {
            var dw = dweight.Slice(k * C, C);
            float db = 0;
            for (int n = 0; n < N; n++)
            {
                float g = doutput[n * OC + k];
                db += g;
                CpuSimd.Axpy(g, input.Slice(n * C, C), dw);
            }
            if (!dbias.IsEmpty) dbias[k] += db;
        }
    }
}
