using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Where the RMSNorm kernels find their segments: N rows of Stride elements; each row starts with
/// QSegments segments normalised with the first weight, then KSegments with the second, each Length long;
/// the rest of the row (Qwen3's v part) is copied forward and passed through backward. Llama's RMSNorm is
/// one segment of C per row of C; Qwen3's q/k norm is NH + NKV segments of hs per qkv row.
/// </summary>
public struct RmsNormShape
{
    public int N;
    public int Length;
    public int Stride;
    public int QSegments;
    public int KSegments;
    public float Eps;
}

/// <summary>
/// RMSNorm forward and backward over segments of rows (see <see cref="RmsNormShape"/>).
///
/// Forward: one warp per segment, as the layernorm forward: lanes stride over the segment, Σx² comes from
/// an XOR-shuffle warp sum, then out = (x·rstd)·w in that order (Hugging Face's float32 LlamaRMSNorm).
/// No mean, so one pass for the statistic and one for the output.
///
/// Backward, two kernels:
/// 1. dinput, one warp per segment: the segment mean of w·dy·x̂ (a warp sum), then
///    dx += rstd·(w·dy − x̂·mean(w·dy·x̂)). Each segment has one owner: no atomics.
/// 2. dweight, a column reduction per weight: one thread per (channel, chunk of <see cref="RowsPerChunk"/>
///    rows) sums x̂·dy over its rows and over the segments that use that weight, and adds the partial
///    with Atomic.Add (launched once for the first weight and, for QkNorm, once for the second).
/// The copy/pass-through of the rest of each row is a plain elementwise kernel.
/// </summary>
public static class RmsNormKernels
{
    public const int RowsPerChunk = 64;

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void Forward(ArrayView<float> output, ArrayView<float> rstd, ArrayView<float> input, ArrayView<float> qWeight, ArrayView<float> kWeight, RmsNormShape shape)
    {
        int perRow = shape.QSegments + shape.KSegments;
        int segment = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
        if (segment >= shape.N * perRow) return;
        int row = segment / perRow;
        int j = segment - row * perRow;
        int len = shape.Length;
        int offset = row * shape.Stride + j * len;
        var weight = j < shape.QSegments ? qWeight : kWeight;
        int lane = Warp.LaneIdx;

        float squares = 0f;
        for (int c = lane; c < len; c += Warp.WarpSize)
        {
            float x = input[offset + c];
            squares += x * x;
        }
        float s = 1f / MathF.Sqrt(GroupReductions.WarpSum(squares) / len + shape.Eps);

        for (int c = lane; c < len; c += Warp.WarpSize)
            output[offset + c] = input[offset + c] * s * weight[c];
        if (lane == 0) rstd[segment] = s;
    }

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = LaunchShapes.GpuRowGroupSize)]
    public static void BackwardInput(ArrayView<float> dinput, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> qWeight, ArrayView<float> kWeight, ArrayView<float> rstd, RmsNormShape shape)
    {
        int perRow = shape.QSegments + shape.KSegments;
        int segment = Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
        if (segment >= shape.N * perRow) return;
        int row = segment / perRow;
        int j = segment - row * perRow;
        int len = shape.Length;
        int offset = row * shape.Stride + j * len;
        var weight = j < shape.QSegments ? qWeight : kWeight;
        int lane = Warp.LaneIdx;
        float s = rstd[segment];

        float dnormNormSum = 0f;
        for (int c = lane; c < len; c += Warp.WarpSize)
            dnormNormSum += weight[c] * doutput[offset + c] * (input[offset + c] * s);
        float dnormNormMean = GroupReductions.WarpSum(dnormNormSum) / len;

        for (int c = lane; c < len; c += Warp.WarpSize)
        {
            float norm = input[offset + c] * s;
            dinput[offset + c] += s * (weight[c] * doutput[offset + c] - norm * dnormNormMean);
        }
    }

    /// <summary>
    /// One thread per (channel c, chunk of rows), i = chunk·Length + c: dweight[c] += Σ x̂·dy over the chunk's
    /// rows and over the segments first..first+count−1 of each row (those that use this weight).
    /// </summary>
    [GpuKernel]
    public static void BackwardWeight(Index1D i, ArrayView<float> dweight, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> rstd, RmsNormShape shape, int first, int count)
    {
        int len = shape.Length;
        int chunk = i / len;
        int c = i - chunk * len;
        int perRow = shape.QSegments + shape.KSegments;
        int lastRow = Math.Min(shape.N, (chunk + 1) * RowsPerChunk);
        float dw = 0f;
        for (int row = chunk * RowsPerChunk; row < lastRow; row++)
            for (int j = first; j < first + count; j++)
            {
                int at = row * shape.Stride + j * len + c;
                dw += input[at] * rstd[row * perRow + j] * doutput[at];
            }
        Atomic.Add(ref dweight[c], dw);
    }

    /// <summary>
    /// The rest of each row after the normalised segments, one thread per element, i = row·rest + c:
    /// copied (forward: output = input) or passed through (backward: dinput += doutput).
    /// </summary>
    [GpuKernel]
    public static void PassRest(Index1D i, ArrayView<float> destination, ArrayView<float> source, RmsNormShape shape, int accumulate)
    {
        int start = (shape.QSegments + shape.KSegments) * shape.Length;
        int rest = shape.Stride - start;
        int row = i / rest;
        int at = row * shape.Stride + start + (i - row * rest);
        if (accumulate != 0) destination[at] += source[at];
        else destination[at] = source[at];
    }
}

public sealed class RmsNormLauncher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape> _forward;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape> _backwardInput;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape, int, int> _backwardWeight;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, RmsNormShape, int> _passRest;
    private readonly int _groupSize;
    private readonly int _segmentsPerGroup;

    public RmsNormLauncher(Accelerator accelerator)
    {
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape>(RmsNormKernels.Forward);
        _backwardInput = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape>(RmsNormKernels.BackwardInput);
        _backwardWeight = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RmsNormShape, int, int>(RmsNormKernels.BackwardWeight);
        _passRest = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, RmsNormShape, int>(RmsNormKernels.PassRest);
        _groupSize = LaunchShapes.RowGroupSize(accelerator);
        _segmentsPerGroup = _groupSize / accelerator.WarpSize;
    }

    public void Forward(ArrayView<float> output, ArrayView<float> rstd, ArrayView<float> input, ArrayView<float> weight, int N, int C, float eps)
    {
        const string op = "rmsnorm_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        long n = (long)N * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        Forward(output, rstd, input, weight, weight, Rows(N, C, eps));
    }

    public void Backward(ArrayView<float> dinput, ArrayView<float> dweight, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> rstd, int N, int C)
    {
        const string op = "rmsnorm_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        long n = (long)N * C;
        OpShapes.AtLeast(op, "dinput", dinput.Length, n);
        OpShapes.AtLeast(op, "dweight", dweight.Length, C);
        OpShapes.AtLeast(op, "doutput", doutput.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        Backward(dinput, dweight, dweight, doutput, input, weight, weight, rstd, Rows(N, C, 0f));
    }

    /// <summary>Qwen3's q_norm/k_norm over qkv rows (N,(NH+2·NKV)·hs); v is copied.</summary>
    public void QkForward(ArrayView<float> output, ArrayView<float> rstd, ArrayView<float> qkv, ArrayView<float> qWeight, ArrayView<float> kWeight, int N, int NH, int NKV, int hs, float eps)
    {
        const string op = "qknorm_forward";
        long width = OpShapes.HeadRowWidth(op, N, NH, NKV, hs);
        OpShapes.AtLeast(op, "output", output.Length, N * width);
        OpShapes.AtLeast(op, "rstd", rstd.Length, (long)N * (NH + NKV));
        OpShapes.AtLeast(op, "qkv", qkv.Length, N * width);
        OpShapes.AtLeast(op, "qWeight", qWeight.Length, hs);
        OpShapes.AtLeast(op, "kWeight", kWeight.Length, hs);
        Forward(output, rstd, qkv, qWeight, kWeight, Heads(N, NH, NKV, hs, (int)width, eps));
    }

    public void QkBackward(ArrayView<float> dqkv, ArrayView<float> dqWeight, ArrayView<float> dkWeight, ArrayView<float> doutput, ArrayView<float> qkv,
        ArrayView<float> qWeight, ArrayView<float> kWeight, ArrayView<float> rstd, int N, int NH, int NKV, int hs)
    {
        const string op = "qknorm_backward";
        long width = OpShapes.HeadRowWidth(op, N, NH, NKV, hs);
        OpShapes.AtLeast(op, "dqkv", dqkv.Length, N * width);
        OpShapes.AtLeast(op, "dqWeight", dqWeight.Length, hs);
        OpShapes.AtLeast(op, "dkWeight", dkWeight.Length, hs);
        OpShapes.AtLeast(op, "doutput", doutput.Length, N * width);
        OpShapes.AtLeast(op, "qkv", qkv.Length, N * width);
        OpShapes.AtLeast(op, "qWeight", qWeight.Length, hs);
        OpShapes.AtLeast(op, "kWeight", kWeight.Length, hs);
        OpShapes.AtLeast(op, "rstd", rstd.Length, (long)N * (NH + NKV));
        Backward(dqkv, dqWeight, dkWeight, doutput, qkv, qWeight, kWeight, rstd, Heads(N, NH, NKV, hs, (int)width, 0f));
    }

    private static RmsNormShape Rows(int N, int C, float eps) => new() { N = N, Length = C, Stride = C, QSegments = 1, KSegments = 0, Eps = eps };

    private static RmsNormShape Heads(int N, int NH, int NKV, int hs, int width, float eps) =>
        new() { N = N, Length = hs, Stride = width, QSegments = NH, KSegments = NKV, Eps = eps };

    private void Forward(ArrayView<float> output, ArrayView<float> rstd, ArrayView<float> input, ArrayView<float> qWeight, ArrayView<float> kWeight, RmsNormShape shape)
    {
        _forward(Config(shape), output, rstd, input, qWeight, kWeight, shape);
        PassRest(output, input, shape, accumulate: 0);
    }

    private void Backward(ArrayView<float> dinput, ArrayView<float> dqWeight, ArrayView<float> dkWeight, ArrayView<float> doutput, ArrayView<float> input,
        ArrayView<float> qWeight, ArrayView<float> kWeight, ArrayView<float> rstd, RmsNormShape shape)
    {
        _backwardInput(Config(shape), dinput, doutput, input, qWeight, kWeight, rstd, shape);
        int chunks = (shape.N + RmsNormKernels.RowsPerChunk - 1) / RmsNormKernels.RowsPerChunk;
        _backwardWeight(chunks * shape.Length, dqWeight, doutput, input, rstd, shape, 0, shape.QSegments);
        if (shape.KSegments > 0) _backwardWeight(chunks * shape.Length, dkWeight, doutput, input, rstd, shape, shape.QSegments, shape.KSegments);
        PassRest(dinput, doutput, shape, accumulate: 1);
    }

    private void PassRest(ArrayView<float> destination, ArrayView<float> source, RmsNormShape shape, int accumulate)
    {
        int rest = shape.Stride - (shape.QSegments + shape.KSegments) * shape.Length;
        if (rest > 0) _passRest(shape.N * rest, destination, source, shape, accumulate);
    }

    private KernelConfig Config(RmsNormShape shape)
    {
        int segments = shape.N * (shape.QSegments + shape.KSegments);
        return new((segments + _segmentsPerGroup - 1) / _segmentsPerGroup, _groupSize);
    }
}
