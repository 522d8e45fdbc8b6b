using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// RMSNorm over whole rows (Llama) and over the q and k heads inside qkv rows (Qwen3's q_norm/k_norm).
/// Both are one routine over "segments of a row": each row of stride width holds, from its start, qSegments
/// segments normalised with the first weight and kSegments with the second, each len long; the rest of the
/// row (Qwen3's v part) is copied forward and passed through backward. Plain RMSNorm is the case of one
/// segment of C per row of C.
/// </summary>
public sealed partial class CpuOps
{
    public void RmsNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, int N, int C, float eps)
    {
        const string op = "rmsnorm_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "output", output.Length, (long)N * C);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        OpShapes.AtLeast(op, "input", input.Length, (long)N * C);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        SegmentsForward(output, rstd, input, weight, default, new Segments(N, C, C, 1, 0), eps);
    }

    public void RmsNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> rstd, int N, int C)
    {
        const string op = "rmsnorm_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "dinput", dinput.Length, (long)N * C);
        OpShapes.AtLeast(op, "dweight", dweight.Length, C);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)N * C);
        OpShapes.AtLeast(op, "input", input.Length, (long)N * C);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        SegmentsBackward(dinput, dweight, default, doutput, input, weight, default, rstd, new Segments(N, C, C, 1, 0));
    }

    public void QkNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, int N, int NH, int NKV, int hs, float eps)
    {
        const string op = "qknorm_forward";
        long width = OpShapes.HeadRowWidth(op, N, NH, NKV, hs);
        OpShapes.AtLeast(op, "output", output.Length, N * width);
        OpShapes.AtLeast(op, "rstd", rstd.Length, (long)N * (NH + NKV));
        OpShapes.AtLeast(op, "qkv", qkv.Length, N * width);
        OpShapes.AtLeast(op, "qWeight", qWeight.Length, hs);
        OpShapes.AtLeast(op, "kWeight", kWeight.Length, hs);
        SegmentsForward(output, rstd, qkv, qWeight, kWeight, new Segments(N, hs, (int)width, NH, NKV), eps);
    }

    public void QkNormBackward(BufferView<float> dqkv, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> qkv,
        BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, int N, int NH, int NKV, int hs)
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
        SegmentsBackward(dqkv, dqWeight, dkWeight, doutput, qkv, qWeight, kWeight, rstd, new Segments(N, hs, (int)width, NH, NKV));
    }

    /// <summary>N rows of Stride; per row QSegments then KSegments segments of Length from the row's start; the rest is passed through.</summary>
    private readonly record struct Segments(int N, int Length, int Stride, int QSegments, int KSegments)
    {
        public int PerRow => QSegments + KSegments;
        public int Normalised => PerRow * Length;
    }

    private static void SegmentsForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> qWeight, BufferView<float> kWeight, Segments shape, float eps)
    {
        var kernel = new RmsNormForwardKernel(new HostArray<float>(output), new HostArray<float>(rstd), new HostArray<float>(input),
            new HostArray<float>(qWeight), new HostArray<float>(kWeight), shape, eps);
        CpuLoops.Rows(shape.N, 2L * shape.Stride, kernel);
    }

    private readonly struct RmsNormForwardKernel(HostArray<float> output, HostArray<float> rstd, HostArray<float> input, HostArray<float> qWeight, HostArray<float> kWeight, Segments shape, float eps) : IRowKernel
    {
        public void Run(int n)
        {
            int len = shape.Length, row = n * shape.Stride;
            for (int j = 0; j < shape.PerRow; j++)
            {
                var w = j < shape.QSegments ? qWeight.Slice(0, len) : kWeight.Slice(0, len);
                rstd[n * shape.PerRow + j] = CpuSimd.RmsNormalize(input.Slice(row + j * len, len), w, eps, output.Slice(row + j * len, len));
            }
            int rest = shape.Stride - shape.Normalised;
            if (rest > 0) input.Slice(row + shape.Normalised, rest).CopyTo(output.Slice(row + shape.Normalised, rest));
        }
    }

    /// <summary>Most row chunks (each with its own dweight partials) in the RMSNorm backward.</summary>
    private const int RmsNormChunks = 16;

    [ThreadStatic] private static float[]? t_rmsNormPartials;

    /// <summary>
    /// dweight sums over rows: each chunk of rows fills its own partials (first weight | second weight),
    /// which are then added in chunk order; the chunk count depends on N only, so the bits do too.
    /// </summary>
    private static void SegmentsBackward(BufferView<float> dinput, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> input,
        BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, Segments shape)
    {
        int len = shape.Length;
        int chunks = Math.Min(shape.N, RmsNormChunks);
        var partials = CpuScratch.Get(ref t_rmsNormPartials, chunks * 2 * len);
        var kernel = new RmsNormBackwardKernel(new HostArray<float>(dinput), partials, new HostArray<float>(doutput), new HostArray<float>(input),
            new HostArray<float>(qWeight), new HostArray<float>(kWeight), new HostArray<float>(rstd), shape, chunks);
        CpuLoops.Rows(chunks, (long)shape.N * shape.Stride * 4 / chunks, kernel);

        var total = partials.AsSpan(0, 2 * len);
        for (int k = 1; k < chunks; k++) CpuSimd.AddInPlace(total, partials.AsSpan(k * 2 * len, 2 * len));
        CpuSimd.AddInPlace(dqWeight.Span()[..len], total[..len]);
        if (shape.KSegments > 0) CpuSimd.AddInPlace(dkWeight.Span()[..len], total.Slice(len, len));
    }

    private readonly struct RmsNormBackwardKernel(HostArray<float> dinput, float[] partials, HostArray<float> doutput, HostArray<float> input,
        HostArray<float> qWeight, HostArray<float> kWeight, HostArray<float> rstd, Segments shape, int chunks) : IRowKernel
    {
        public void Run(int chunk)
        {
            int len = shape.Length;
            var dq = partials.AsSpan(chunk * 2 * len, len);
            var dk = partials.AsSpan(chunk * 2 * len + len, len);
            dq.Clear();
            dk.Clear();
            int rest = shape.Stride - shape.Normalised;
            int end = (int)((long)(chunk + 1) * shape.N / chunks);
            for (int n = (int)((long)chunk * shape.N / chunks); n < end; n++)
            {
                int row = n * shape.Stride;
                for (int j = 0; j < shape.PerRow; j++)
                {
                    bool first = j < shape.QSegments;
                    int at = row + j * len;
                    CpuSimd.RmsNormBackwardSegment(input.Slice(at, len), doutput.Slice(at, len), first ? qWeight.Slice(0, len) : kWeight.Slice(0, len),
                        rstd[n * shape.PerRow + j], dinput.Slice(at, len), first ? dq : dk);
                }
                if (rest > 0) CpuSimd.AddInPlace(dinput.Slice(row + shape.Normalised, rest), doutput.Slice(row + shape.Normalised, rest));
            }
        }
    }
}
