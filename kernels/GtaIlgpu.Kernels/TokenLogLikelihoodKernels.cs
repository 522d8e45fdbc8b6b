using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// The fused loss kernel: log softmax gathered at the target, and optionally the logits gradient
/// written in place (the masked SFT cross-entropy and the GRPO surrogate both use it).
///
/// One group per row. Pass 1 reads the row once with an online softmax (each thread keeps a running
/// max and Σ exp(x − max), rescaling when the max grows; llm.c's fused_classifier idea), and the
/// per-thread (max, sum) pairs merge in one group reduction. Pass 2, only when gradient coefficients
/// are given, recomputes exp(x − max)/sum and overwrites the row with c·(softmax − onehot): the
/// (N,V) probabilities are never stored. Two reads and one write of the row per step instead of the
/// five of an unfused softmax → gather → backward chain.
///
/// The target logit is read before the group reduction's barriers, so no thread has started
/// overwriting the row when it is read. Ignored rows (target &lt; 0) skip the reductions (the branch is
/// uniform over the group) and write 0; a target ≥ V cannot be checked on the host and writes NaN.
/// </summary>
public static class TokenLogLikelihoodKernels
{
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void Kernel(ArrayView<float> logprobs, ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> coefficients, int hasGradient, int V)
    {
        var maxScratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        var sumScratch = SharedMemory.Allocate<float>(GroupReductions.MaxWarps);
        int n = Grid.IdxX;
        int tid = Group.IdxX;
        int threads = Group.DimX;
        int offset = n * V;
        int target = targets[n];

        if (target < 0 || target >= V)
        {
            float fill = target < 0 ? 0f : float.NaN;
            if (tid == 0) logprobs[n] = fill;
            if (hasGradient != 0)
            {
                for (int i = tid; i < V; i += threads) logits[offset + i] = fill;
            }
            return;
        }

        float targetLogit = logits[offset + target];
        var local = GroupReductions.MaxSum.Empty;
        for (int i = tid; i < V; i += threads) local = local.Add(logits[offset + i]);
        var row = GroupReductions.GroupMaxSum(local, maxScratch, sumScratch);

        if (tid == 0) logprobs[n] = targetLogit - row.Max - MathF.Log(row.Sum);
        if (hasGradient != 0)
        {
            float c = coefficients[n];
            float inverseSum = 1f / row.Sum;
            for (int i = tid; i < V; i += threads)
            {
                float p = MathF.Exp(logits[offset + i] - row.Max) * inverseSum;
                logits[offset + i] = c * (p - (i == target ? 1f : 0f));
            }
        }
    }
}

public sealed class TokenLogLikelihoodLauncher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int> _kernel;
    private readonly int _groupSize;

    public TokenLogLikelihoodLauncher(Accelerator accelerator)
    {
        _kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>(TokenLogLikelihoodKernels.Kernel);
        _groupSize = LaunchShapes.RowGroupSize(accelerator);
    }

    /// <summary>gradCoefficients empty: log-likelihoods only; otherwise logits is overwritten by the gradient.</summary>
    public void Run(ArrayView<float> logprobs, ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> gradCoefficients, int N, int V)
    {
        const string op = "token_log_likelihood";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "V", V);
        OpShapes.AtLeast(op, "logprobs", logprobs.Length, N);
        OpShapes.AtLeast(op, "logits", logits.Length, (long)N * V);
        OpShapes.AtLeast(op, "targets", targets.Length, N);
        OpShapes.Optional(op, "gradCoefficients", gradCoefficients.Length, N);
        bool hasGradient = gradCoefficients.Length > 0;
        // A placeholder view keeps the kernel argument valid when there are no coefficients; it is never read.
        var coefficients = hasGradient ? gradCoefficients : logprobs;
        _kernel(new KernelConfig(N, _groupSize), logprobs, logits, targets, coefficients, hasGradient ? 1 : 0, V);
    }
}
