using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// SwiGLU over the fused [gate | up] rows (N,2I): output[n,i] = silu(gate)·up with silu(g) = g/(1 + e^−g).
/// One thread per output element, implicitly grouped: memory-bound like the other elementwise ops; adjacent
/// threads read adjacent gate and up elements, so both loads coalesce.
/// </summary>
public static class SwiGluKernels
{
    /// <summary>i = n·I + j.</summary>
    [GpuKernel]
    public static void Forward(Index1D i, ArrayView<float> output, ArrayView<float> gateUp, int I)
    {
        int n = i / I;
        int g = i + n * I; // n·2I + j
        float gate = gateUp[g];
        output[i] = gate / (1f + MathF.Exp(-gate)) * gateUp[g + I];
    }

    /// <summary>With σ = 1/(1 + e^−g): dgate += dy·up·σ·(1 + g·(1 − σ)); dup += dy·g·σ.</summary>
    [GpuKernel]
    public static void Backward(Index1D i, ArrayView<float> dgateUp, ArrayView<float> doutput, ArrayView<float> gateUp, int I)
    {
        int n = i / I;
        int g = i + n * I;
        float gate = gateUp[g];
        float up = gateUp[g + I];
        float dy = doutput[i];
        float sigma = 1f / (1f + MathF.Exp(-gate));
        dgateUp[g] += dy * up * (sigma * (1f + gate * (1f - sigma)));
        dgateUp[g + I] += dy * gate * sigma;
    }
}

public sealed class SwiGluLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _backward;

    public SwiGluLauncher(Accelerator accelerator)
    {
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(SwiGluKernels.Forward);
        _backward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(SwiGluKernels.Backward);
    }

    public void Forward(ArrayView<float> output, ArrayView<float> gateUp, int N, int I)
    {
        const string op = "swiglu_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "I", I);
        OpShapes.AtLeast(op, "output", output.Length, (long)N * I);
        OpShapes.AtLeast(op, "gateUp", gateUp.Length, 2L * N * I);
        _forward(N * I, output, gateUp, I);
    }

    public void Backward(ArrayView<float> dgateUp, ArrayView<float> doutput, ArrayView<float> gateUp, int N, int I)
    {
        const string op = "swiglu_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "I", I);
        OpShapes.AtLeast(op, "dgateUp", dgateUp.Length, 2L * N * I);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)N * I);
        OpShapes.AtLeast(op, "gateUp", gateUp.Length, 2L * N * I);
        _backward(N * I, dgateUp, doutput, gateUp, I);
    }
}
