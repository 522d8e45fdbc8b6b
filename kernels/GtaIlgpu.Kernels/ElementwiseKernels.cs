using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Elementwise ops: fill, copy, accumulate, scale, linear combination, residual add, GELU.
///
/// Technique: one thread per element, implicitly grouped (ILGPU picks the group size). These ops are
/// memory-bound, one load or two and one store per element; on a GPU coalesced scalar loads already
/// saturate bandwidth for the sizes we run, so no vectorised loads or grid-stride loops (llm.c's
/// residual_forward and gelu_forward v1 make the same trade).
///
/// GELU is the tanh approximation; tanh is written with one exp (tanh u = 1 − 2/(e^{2u} + 1)), which
/// saturates correctly at ±1 for large |u| and avoids XMath.Tanh, whose PTX lowering may need libdevice.
/// </summary>
public static class ElementwiseKernels
{
    /// <summary>√(2/π).</summary>
    public const float GeluScale = 0.7978845608028654f;
    public const float GeluCubic = 0.044715f;

    [GpuKernel]
    public static void Fill(Index1D i, ArrayView<float> x, float value) => x[i] = value;

    [GpuKernel]
    public static void Copy(Index1D i, ArrayView<float> destination, ArrayView<float> source) => destination[i] = source[i];

    [GpuKernel]
    public static void Accumulate(Index1D i, ArrayView<float> destination, ArrayView<float> source) => destination[i] += source[i];

    [GpuKernel]
    public static void Scale(Index1D i, ArrayView<float> x, float scale) => x[i] *= scale;

    [GpuKernel]
    public static void LinearCombination(Index1D i, ArrayView<float> destination, float a, ArrayView<float> x, float b, ArrayView<float> y) =>
        destination[i] = a * x[i] + b * y[i];

    [GpuKernel]
    public static void Add(Index1D i, ArrayView<float> output, ArrayView<float> a, ArrayView<float> b) => output[i] = a[i] + b[i];

    [GpuKernel]
    public static void GeluForward(Index1D i, ArrayView<float> output, ArrayView<float> input)
    {
        float x = input[i];
        float u = GeluScale * (x + GeluCubic * x * x * x);
        output[i] = 0.5f * x * (1f + Tanh(u));
    }

    /// <summary>dinput += gelu'(x)·doutput, gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²).</summary>
    [GpuKernel]
    public static void GeluBackward(Index1D i, ArrayView<float> dinput, ArrayView<float> input, ArrayView<float> doutput)
    {
        float x = input[i];
        float u = GeluScale * (x + GeluCubic * x * x * x);
        float t = Tanh(u);
        float du = GeluScale * (1f + 3f * GeluCubic * x * x);
        float local = 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * du;
        dinput[i] += local * doutput[i];
    }

    /// <summary>tanh from one exp; e^{2u} overflowing to +∞ gives exactly 1, underflowing to 0 gives −1.</summary>
    public static float Tanh(float u) => 1f - 2f / (MathF.Exp(2f * u) + 1f);
}

/// <summary>Loads the elementwise kernels once; validates every launch on the host.</summary>
public sealed class ElementwiseLauncher
{
    private readonly Action<Index1D, ArrayView<float>, float> _fill;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _copy;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _accumulate;
    private readonly Action<Index1D, ArrayView<float>, float> _scale;
    private readonly Action<Index1D, ArrayView<float>, float, ArrayView<float>, float, ArrayView<float>> _linearCombination;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _add;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>> _geluForward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>> _geluBackward;

    public ElementwiseLauncher(Accelerator accelerator)
    {
        _fill = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Fill);
        _copy = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Copy);
        _accumulate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Accumulate);
        _scale = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Scale);
        _linearCombination = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, ArrayView<float>, float, ArrayView<float>>(ElementwiseKernels.LinearCombination);
        _add = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.Add);
        _geluForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.GeluForward);
        _geluBackward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.GeluBackward);
    }

    public void Fill(ArrayView<float> x, float value)
    {
        int n = Count("fill", "x", x.Length);
        if (n > 0) _fill(n, x, value);
    }

    public void Copy(ArrayView<float> destination, ArrayView<float> source)
    {
        int n = Count("copy", "source", source.Length);
        OpShapes.AtLeast("copy", "destination", destination.Length, n);
        if (n > 0) _copy(n, destination, source);
    }

    public void Accumulate(ArrayView<float> destination, ArrayView<float> source)
    {
        int n = Count("accumulate", "source", source.Length);
        OpShapes.AtLeast("accumulate", "destination", destination.Length, n);
        if (n > 0) _accumulate(n, destination, source);
    }

    public void Scale(ArrayView<float> x, float scale)
    {
        int n = Count("scale", "x", x.Length);
        if (n > 0) _scale(n, x, scale);
    }

    /// <summary>Over x's length (like copy over its source); destination and y must cover it.</summary>
    public void LinearCombination(ArrayView<float> destination, float a, ArrayView<float> x, float b, ArrayView<float> y)
    {
        const string op = "linear_combination";
        int n = Count(op, "x", x.Length);
        OpShapes.AtLeast(op, "destination", destination.Length, n);
        OpShapes.AtLeast(op, "y", y.Length, n);
        if (n > 0) _linearCombination(n, destination, a, x, b, y);
    }

    public void Add(ArrayView<float> output, ArrayView<float> a, ArrayView<float> b, int n)
    {
        const string op = "residual_forward";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "a", a.Length, n);
        OpShapes.AtLeast(op, "b", b.Length, n);
        _add(n, output, a, b);
    }

    public void GeluForward(ArrayView<float> output, ArrayView<float> input, int n)
    {
        const string op = "gelu_forward";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        _geluForward(n, output, input);
    }

    public void GeluBackward(ArrayView<float> dinput, ArrayView<float> input, ArrayView<float> doutput, int n)
    {
        const string op = "gelu_backward";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "dinput", dinput.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "doutput", doutput.Length, n);
        _geluBackward(n, dinput, input, doutput);
    }

    /// <summary>The element count of a whole view, checked to be addressable with 32-bit indices.</summary>
    private static int Count(string op, string name, long length)
    {
        OpShapes.AtLeast(op, name, length, length);
        return (int)length;
    }
}
