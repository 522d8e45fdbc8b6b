using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// LayerNorm forward and backward.
///
/// Forward: one warp per row (llm.c's layernorm_forward v3): lanes stride over the channels, the mean
/// and then the biased variance of (x − mean) come from XOR-shuffle warp sums, so no shared memory and
/// no group barrier is needed. Two passes over the row for the variance rather than E[x²] − mean²,
/// which cancels badly when |mean| ≫ std; the row is read three times but stays in L1/L2 at GPT-2
/// widths. mean and rstd are saved for backward.
///
/// Backward, two kernels:
/// 1. dinput, one warp per row: the two row means Σ w·dy and Σ w·dy·x̂ (warp sums), then
///    dx += (w·dy − mean(w·dy) − x̂·mean(w·dy·x̂))·rstd per channel. Each row has one owner: no atomics.
/// 2. dweight and dbias, a column reduction: one thread per (channel, chunk of <see cref="RowsPerChunk"/>
///    rows) sums x̂·dy and dy over its rows (adjacent threads read adjacent channels: coalesced) and adds
///    the partial sums with Atomic.Add — C·⌈N/64⌉ atomics instead of llm.c's N·C, without a scratch buffer.
/// </summary>
public static class LayerNormKernels
{
    public const float Eps = 1e-5f;
    public const int RowsPerChunk = 64;

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void Forward(ArrayView<float> output, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, int N, int C)
    {
        int warpsPerGroup = Group.DimX / Warp.WarpSize;
        int row = Grid.IdxX * warpsPerGroup + Warp.WarpIdx;
        if (row >= N) return;
        int lane = Warp.LaneIdx;
        int offset = row * C;

        float sum = 0f;
        for (int c = lane; c < C; c += Warp.WarpSize) sum += input[offset + c];
        float m = GroupReductions.WarpSum(sum) / C;

        float squares = 0f;
        for (int c = lane; c < C; c += Warp.WarpSize)
        {
            float d = input[offset + c] - m;
            squares += d * d;
        }
        float variance = GroupReductions.WarpSum(squares) / C;
        float s = 1f / MathF.Sqrt(variance + Eps);

        for (int c = lane; c < C; c += Warp.WarpSize)
            output[offset + c] = (input[offset + c] - m) * s * weight[c] + bias[c];
        if (lane == 0)
        {
            mean[row] = m;
            rstd[row] = s;
        }
    }

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void BackwardInput(ArrayView<float> dinput, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> mean, ArrayView<float> rstd, int N, int C)
    {
        int warpsPerGroup = Group.DimX / Warp.WarpSize;
        int row = Grid.IdxX * warpsPerGroup + Warp.WarpIdx;
        if (row >= N) return;
        int lane = Warp.LaneIdx;
        int offset = row * C;
        float m = mean[row];
        float s = rstd[row];

        float dnormSum = 0f, dnormNormSum = 0f;
        for (int c = lane; c < C; c += Warp.WarpSize)
        {
            float norm = (input[offset + c] - m) * s;
            float dnorm = weight[c] * doutput[offset + c];
            dnormSum += dnorm;
            dnormNormSum += dnorm * norm;
        }
        float dnormMean = GroupReductions.WarpSum(dnormSum) / C;
        float dnormNormMean = GroupReductions.WarpSum(dnormNormSum) / C;

        for (int c = lane; c < C; c += Warp.WarpSize)
        {
            float norm = (input[offset + c] - m) * s;
            float dnorm = weight[c] * doutput[offset + c];
            dinput[offset + c] += (dnorm - dnormMean - norm * dnormNormMean) * s;
        }
    }

    /// <summary>One thread per (channel c, chunk of rows); i = chunk·C + c.</summary>
    [GpuKernel]
    public static void BackwardParameters(Index1D i, ArrayView<float> dweight, ArrayView<float> dbias, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> mean, ArrayView<float> rstd, int N, int C)
    {
        int chunk = i / C;
        int c = i - chunk * C;
        int first = chunk * RowsPerChunk;
        int last = Math.Min(N, first + RowsPerChunk);
        float dw = 0f, db = 0f;
        for (int row = first; row < last; row++)
        {
            float dy = doutput[row * C + c];
            float norm = (input[row * C + c] - mean[row]) * rstd[row];
            dw += norm * dy;
            db += dy;
        }
        Atomic.Add(ref dweight[c], dw);
        Atomic.Add(ref dbias[c], db);
    }
}

public sealed class LayerNormLauncher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _forward;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _backwardInput;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> _backwardParameters;
    private readonly int _groupSize;
    private readonly int _rowsPerGroup;

    public LayerNormLauncher(Accelerator accelerator)
    {
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LayerNormKernels.Forward);
        _backwardInput = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LayerNormKernels.BackwardInput);
        _backwardParameters = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(LayerNormKernels.BackwardParameters);
        _groupSize = LaunchShapes.RowGroupSize(accelerator);
        _rowsPerGroup = _groupSize / accelerator.WarpSize;
    }

    public void Forward(ArrayView<float> output, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, int N, int C)
    {
        const string op = "layernorm_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        long n = (long)N * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "mean", mean.Length, N);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "bias", bias.Length, C);
        _forward(Config(N), output, mean, rstd, input, weight, bias, N, C);
    }

    public void Backward(ArrayView<float> dinput, ArrayView<float> dweight, ArrayView<float> dbias, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> mean, ArrayView<float> rstd, int N, int C)
    {
        const string op = "layernorm_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        long n = (long)N * C;
        OpShapes.AtLeast(op, "dinput", dinput.Length, n);
        OpShapes.AtLeast(op, "dweight", dweight.Length, C);
        OpShapes.AtLeast(op, "dbias", dbias.Length, C);
        OpShapes.AtLeast(op, "doutput", doutput.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "mean", mean.Length, N);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        _backwardInput(Config(N), dinput, doutput, input, weight, mean, rstd, N, C);
        int chunks = (N + LayerNormKernels.RowsPerChunk - 1) / LayerNormKernels.RowsPerChunk;
        _backwardParameters(chunks * C, dweight, dbias, doutput, input, mean, rstd, N, C);
    }

    private KernelConfig Config(int N) => new((N + _rowsPerGroup - 1) / _rowsPerGroup, _groupSize);
}
