using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// AdamW over one flat range (parameters, gradients and both moments each live in one buffer).
///
/// One thread per parameter: four loads, three stores, no reuse — purely memory-bound, so the kernel
/// is as simple as llm.c's adamw_kernel2. The bias corrections 1 − β^step are computed once on the
/// host in double and passed in, rather than a pow per thread.
/// </summary>
public static class AdamWKernels
{
    [GpuKernel]
    public static void Step(Index1D i, ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v,
        float learningRate, float beta1, float beta2, float eps, float weightDecay, float correction1, float correction2, float gradScale)
    {
        float g = gradScale * grad[i];
        float mi = beta1 * m[i] + (1f - beta1) * g;
        float vi = beta2 * v[i] + (1f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = param[i];
        param[i] = p - learningRate * ((mi / correction1) / (MathF.Sqrt(vi / correction2) + eps) + weightDecay * p);
    }
}

public sealed class AdamWLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, float, float, float, float, float> _step;

    public AdamWLauncher(Accelerator accelerator)
    {
        _step = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float, float, float, float, float, float>(AdamWKernels.Step);
    }

    /// <summary>Updates every element of param; grad, m and v must cover it. step starts at 1.</summary>
    public void Step(ArrayView<float> param, ArrayView<float> grad, ArrayView<float> m, ArrayView<float> v, float learningRate, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale)
    {
        const string op = "adamw";
        long n = param.Length;
        OpShapes.AtLeast(op, "param", n, n);
        OpShapes.AtLeast(op, "grad", grad.Length, n);
        OpShapes.AtLeast(op, "m", m.Length, n);
        OpShapes.AtLeast(op, "v", v.Length, n);
        OpShapes.Positive(op, "step", step);
        if (n == 0) return;
        float correction1 = (float)(1.0 - Math.Pow(beta1, step));
        float correction2 = (float)(1.0 - Math.Pow(beta2, step));
        _step((int)n, param, grad, m, v, learningRate, beta1, beta2, eps, weightDecay, correction1, correction2, gradScale);
    }
}
