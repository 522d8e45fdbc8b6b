using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// IOps on the CPU: managed code, multi-threaded with <see cref="CpuParallel"/> over rows or fixed-size
/// chunks, vectorised with <see cref="CpuSimd"/>. The semantics are those of the scalar reference in
/// the tests; arithmetic is float with block-wise double folding where long sums need it.
///
/// Rules every op here keeps:
/// <list type="bullet">
/// <item>Shapes are checked with <see cref="OpShapes"/> before anything is written.</item>
/// <item>Deterministic: work items are a function of the shape only, each item owns the memory it
/// writes, and cross-item reductions (layernorm dweight, SumOfSquares, Dot) keep per-item partials
/// that are combined in item order on the calling thread.</item>
/// <item>No allocation per call in steady state: bodies are structs over arrays, scratch is
/// [ThreadStatic] and grows on demand.</item>
/// </list>
/// One file per op family: this one holds the memory helpers, encoder, layernorm, matmul, activations
/// and the optimizer and reductions; CpuOps.Attention.cs and CpuOps.Tokens.cs hold the rest.
/// </summary>
public sealed partial class CpuOps : IOps
{
    private const float LayerNormEps = 1e-5f;

    // ---- memory-level helpers -------------------------------------------------------------

    public void Fill(BufferView<float> x, float value) =>
        CpuLoops.Range((int)x.Length, new FillKernel(new HostArray<float>(x), value));

    public void Copy(BufferView<float> destination, BufferView<float> source)
    {
        OpShapes.AtLeast("copy", "destination", destination.Length, source.Length);
        CpuLoops.Range((int)source.Length, new CopyKernel(new HostArray<float>(destination), new HostArray<float>(source)));
    }

    public void Accumulate(BufferView<float> destination, BufferView<float> source)
    {
        OpShapes.AtLeast("accumulate", "destination", destination.Length, source.Length);
        CpuLoops.Range((int)source.Length, new AccumulateKernel(new HostArray<float>(destination), new HostArray<float>(source)));
    }

    public void Scale(BufferView<float> x, float scale) =>
        CpuLoops.Range((int)x.Length, new ScaleKernel(new HostArray<float>(x), scale));

    public void LinearCombination(BufferView<float> destination, float a, BufferView<float> x, float b, BufferView<float> y)
    {
        OpShapes.AtLeast("linear_combination", "destination", destination.Length, x.Length);
        OpShapes.AtLeast("linear_combination", "y", y.Length, x.Length);
        CpuLoops.Range((int)x.Length, new LinearCombinationKernel(new HostArray<float>(destination), a, new HostArray<float>(x), b, new HostArray<float>(y)));
    }

    private readonly struct FillKernel(HostArray<float> x, float value) : IRangeKernel
    {
        public void Run(int start, int count) => x.Slice(start, count).Fill(value);
    }

    private readonly struct CopyKernel(HostArray<float> destination, HostArray<float> source) : IRangeKernel
    {
        public void Run(int start, int count) => source.Slice(start, count).CopyTo(destination.Slice(start, count));
    }

    private readonly struct AccumulateKernel(HostArray<float> destination, HostArray<float> source) : IRangeKernel
    {
        public void Run(int start, int count) => CpuSimd.AddInPlace(destination.Slice(start, count), source.Slice(start, count));
    }

    private readonly struct ScaleKernel(HostArray<float> x, float scale) : IRangeKernel
    {
        public void Run(int start, int count) => CpuSimd.Scale(x.Slice(start, count), scale);
    }

    private readonly struct LinearCombinationKernel(HostArray<float> d, float a, HostArray<float> x, float b, HostArray<float> y) : IRangeKernel
    {
        public void Run(int start, int count) =>
            CpuSimd.LinearCombination(d.Slice(start, count), a, x.Slice(start, count), b, y.Slice(start, count));
    }

    // ---- encoder ------------------------------------------------------------------------------

    public void EncoderForward(BufferView<float> output, BufferView<int> tokens, BufferView<float> wte, BufferView<float> wpe, int B, int T, int C)
    {
        const string op = "encoder_forward";
        CheckEncoder(op, tokens, wte.Length, wpe.Length, B, T, C);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * T * C);
        CheckTokens(op, tokens, B * T, wte.Length / C);
        var kernel = new EncoderForwardKernel(new HostArray<float>(output), new HostArray<int>(tokens), new HostArray<float>(wte), new HostArray<float>(wpe), T, C);
        CpuLoops.Rows(B * T, C, kernel);
    }

    /// <summary>
    /// Tokens repeat, so rows cannot be split across threads without racing on dwte. The work is split
    /// over channel blocks instead: each item walks every row in order for its channels, which also
    /// keeps the summation order of the reference.
    /// </summary>
    public void EncoderBackward(BufferView<float> dwte, BufferView<float> dwpe, BufferView<float> doutput, BufferView<int> tokens, int B, int T, int C)
    {
        const string op = "encoder_backward";
        CheckEncoder(op, tokens, dwte.Length, dwpe.Length, B, T, C);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)B * T * C);
        CheckTokens(op, tokens, B * T, dwte.Length / C);
        const int channelsPerItem = 64;
        var kernel = new EncoderBackwardKernel(new HostArray<float>(dwte), new HostArray<float>(dwpe), new HostArray<float>(doutput), new HostArray<int>(tokens), B, T, C, channelsPerItem);
        int items = (C + channelsPerItem - 1) / channelsPerItem;
        CpuLoops.Rows(items, (long)B * T * channelsPerItem, kernel);
    }

    public void EncoderDecodeForward(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<float> wte, BufferView<float> wpe, int B, int C)
    {
        CheckDecode("encoder_decode_forward", output, tokens, positions, wte.Length, wpe.Length, B, C);
        var kernel = new EncoderDecodeKernel(new HostArray<float>(output), new HostArray<int>(tokens), new HostArray<int>(positions), new HostArray<float>(wte), new HostArray<float>(wpe), C);
        CpuLoops.Rows(B, C, kernel);
    }

    /// <summary>The tables' lengths in elements (float or bfloat16 alike).</summary>
    private static void CheckEncoder(string op, BufferView<int> tokens, long wte, long wpe, int B, int T, int C)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "tokens", tokens.Length, (long)B * T);
        OpShapes.AtLeast(op, "token table", wte, C);
        OpShapes.Optional(op, "position table", wpe, (long)T * C);
    }

    /// <summary>The decode step's shapes, token ids and positions (positions only when a position table of wpe elements exists).</summary>
    private static void CheckDecode(string op, BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, long wte, long wpe, int B, int C)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * C);
        OpShapes.AtLeast(op, "tokens", tokens.Length, B);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        OpShapes.AtLeast(op, "wte", wte, C);
        OpShapes.Optional(op, "wpe", wpe, C);
        CheckTokens(op, tokens, B, wte / C);
        var pos = positions.Span();
        long maxT = wpe / C;
        for (int b = 0; b < B && wpe != 0; b++)
            if (pos[b] < 0 || pos[b] >= maxT)
                throw new ArgumentException($"{op}: position {pos[b]} of row {b} is outside the position table (maxT={maxT})");
    }

    /// <summary>Token ids index a table: a bad id is reported here rather than as an index error mid-op.</summary>
    private static void CheckTokens(string op, BufferView<int> tokens, int count, long vocabulary)
    {
        var ids = tokens.Span()[..count];
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= vocabulary)
                throw new ArgumentException($"{op}: token {ids[i]} at index {i} is outside the token table (V={vocabulary})");
    }

    /// <summary>An empty wpe (rotary families): the token row alone.</summary>
    private readonly struct EncoderForwardKernel(HostArray<float> output, HostArray<int> tokens, HostArray<float> wte, HostArray<float> wpe, int T, int C) : IRowKernel
    {
        public void Run(int row)
        {
            if (wpe.IsEmpty) wte.Slice(tokens[row] * C, C).CopyTo(output.Slice(row * C, C));
            else CpuSimd.Add(wte.Slice(tokens[row] * C, C), wpe.Slice(row % T * C, C), output.Slice(row * C, C));
        }
    }

    private readonly struct EncoderBackwardKernel(HostArray<float> dwte, HostArray<float> dwpe, HostArray<float> doutput, HostArray<int> tokens, int B, int T, int C, int channelsPerItem) : IRowKernel
    {
        public void Run(int item)
        {
            int c0 = item * channelsPerItem;
            int width = Math.Min(channelsPerItem, C - c0);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                {
                    int row = b * T + t;
                    var d = doutput.Slice(row * C + c0, width);
                    CpuSimd.AddInPlace(dwte.Slice(tokens[row] * C + c0, width), d);
                    if (!dwpe.IsEmpty) CpuSimd.AddInPlace(dwpe.Slice(t * C + c0, width), d);
                }
        }
    }

    private readonly struct EncoderDecodeKernel(HostArray<float> output, HostArray<int> tokens, HostArray<int> positions, HostArray<float> wte, HostArray<float> wpe, int C) : IRowKernel
    {
        public void Run(int b)
        {
            if (wpe.IsEmpty) wte.Slice(tokens[b] * C, C).CopyTo(output.Slice(b * C, C));
            else CpuSimd.Add(wte.Slice(tokens[b] * C, C), wpe.Slice(positions[b] * C, C), output.Slice(b * C, C));
        }
    }

    // ---- layernorm ------------------------------------------------------------------------------

    public void LayerNormForward(BufferView<float> output, BufferView<float> mean, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C)
    {
        const string op = "layernorm_forward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "output", output.Length, (long)N * C);
        OpShapes.AtLeast(op, "mean", mean.Length, N);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);
        OpShapes.AtLeast(op, "input", input.Length, (long)N * C);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "bias", bias.Length, C);
        var kernel = new LayerNormForwardKernel(new HostArray<float>(output), new HostArray<float>(mean), new HostArray<float>(rstd),
            new HostArray<float>(input), new HostArray<float>(weight), new HostArray<float>(bias), C);
        CpuLoops.Rows(N, 3L * C, kernel);
    }

    /// <summary>Two passes over the row (mean, then Σ(x − mean)²) rather than E[x²] − E[x]², which cancels badly.</summary>
    private readonly struct LayerNormForwardKernel(HostArray<float> output, HostArray<float> mean, HostArray<float> rstd, HostArray<float> input, HostArray<float> weight, HostArray<float> bias, int C) : IRowKernel
    {
        public void Run(int n)
        {
            var x = input.Slice(n * C, C);
            float m = CpuSimd.Sum(x) / C;
            float variance = CpuSimd.SumSquaredDeviation(x, m) / C;
            float r = 1f / MathF.Sqrt(variance + LayerNormEps);
            CpuSimd.Normalize(x, m, r, weight.Slice(0, C), bias.Slice(0, C), output.Slice(n * C, C));
            mean[n] = m;
            rstd[n] = r;
        }
    }

    /// <summary>Most row chunks (each with its own dweight/dbias partial) in the layernorm backward.</summary>
    private const int LayerNormChunks = 16;

    [ThreadStatic] private static float[]? t_layerNormPartials;

    public void LayerNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> mean, BufferView<float> rstd, int N, int C)
    {
        const string op = "layernorm_backward";
        OpShapes.Positive(op, "N", N);
        OpShapes.Positive(op, "C", C);
        OpShapes.AtLeast(op, "dinput", dinput.Length, (long)N * C);
        OpShapes.AtLeast(op, "dweight", dweight.Length, C);
        OpShapes.AtLeast(op, "dbias", dbias.Length, C);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)N * C);
        OpShapes.AtLeast(op, "input", input.Length, (long)N * C);
        OpShapes.AtLeast(op, "weight", weight.Length, C);
        OpShapes.AtLeast(op, "mean", mean.Length, N);
        OpShapes.AtLeast(op, "rstd", rstd.Length, N);

        // dweight and dbias sum over rows: each chunk of rows fills its own partial (dw | db), then the
        // partials are added in chunk order. The chunk count depends on N only, so the bits do too.
        int chunks = Math.Min(N, LayerNormChunks);
        var partials = CpuScratch.Get(ref t_layerNormPartials, chunks * 2 * C);
        var kernel = new LayerNormBackwardKernel(new HostArray<float>(dinput), partials, new HostArray<float>(doutput), new HostArray<float>(input),
            new HostArray<float>(weight), new HostArray<float>(mean), new HostArray<float>(rstd), N, C, chunks);
        CpuLoops.Rows(chunks, (long)N * C * 4 / chunks, kernel);

        var total = partials.AsSpan(0, 2 * C);
        for (int k = 1; k < chunks; k++) CpuSimd.AddInPlace(total, partials.AsSpan(k * 2 * C, 2 * C));
        CpuSimd.AddInPlace(dweight.Span()[..C], total[..C]);
        CpuSimd.AddInPlace(dbias.Span()[..C], total.Slice(C, C));
    }

    private readonly struct LayerNormBackwardKernel(HostArray<float> dinput, float[] partials, HostArray<float> doutput, HostArray<float> input, HostArray<float> weight, HostArray<float> mean, HostArray<float> rstd, int N, int C, int chunks) : IRowKernel
    {
        public void Run(int chunk)
        {
            var dw = partials.AsSpan(chunk * 2 * C, C);
            var db = partials.AsSpan(chunk * 2 * C + C, C);
            dw.Clear();
            db.Clear();
            var w = weight.Slice(0, C);
            int end = (int)((long)(chunk + 1) * N / chunks);
            for (int n = (int)((long)chunk * N / chunks); n < end; n++)
            {
                CpuSimd.LayerNormBackwardRow(input.Slice(n * C, C), doutput.Slice(n * C, C), w, mean[n], rstd[n],
                    dinput.Slice(n * C, C), dw, db);
            }
        }
    }

    // ---- matmul ---------------------------------------------------------------------------------

    // CpuMatmul validates the shapes (OpShapes.MatmulForward/Backward) before any work.
    public void MatmulForward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC)
    {
        CpuMatmul.Forward(output, input, weight, bias, N, C, OC);
    }

    public void MatmulBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC)
    {
        CpuMatmul.Backward(dinput, dweight, dbias, doutput, input, weight, N, C, OC);
    }

    // ---- activations ------------------------------------------------------------------------------

    public void GeluForward(BufferView<float> output, BufferView<float> input, int n)
    {
        const string op = "gelu_forward";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        CpuLoops.Range(n, new GeluForwardKernel(new HostArray<float>(output), new HostArray<float>(input)));
    }

    public void GeluBackward(BufferView<float> dinput, BufferView<float> input, BufferView<float> doutput, int n)
    {
        const string op = "gelu_backward";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "dinput", dinput.Length, n);
        OpShapes.AtLeast(op, "input", input.Length, n);
        OpShapes.AtLeast(op, "doutput", doutput.Length, n);
        CpuLoops.Range(n, new GeluBackwardKernel(new HostArray<float>(dinput), new HostArray<float>(input), new HostArray<float>(doutput)));
    }

    public void Add(BufferView<float> output, BufferView<float> a, BufferView<float> b, int n)
    {
        const string op = "add";
        OpShapes.Positive(op, "n", n);
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "a", a.Length, n);
        OpShapes.AtLeast(op, "b", b.Length, n);
        CpuLoops.Range(n, new AddKernel(new HostArray<float>(output), new HostArray<float>(a), new HostArray<float>(b)));
    }

    private readonly struct GeluForwardKernel(HostArray<float> output, HostArray<float> input) : IRangeKernel
    {
        public void Run(int start, int count) => CpuSimd.GeluForward(input.Slice(start, count), output.Slice(start, count));
    }

    private readonly struct GeluBackwardKernel(HostArray<float> dinput, HostArray<float> input, HostArray<float> doutput) : IRangeKernel
    {
        public void Run(int start, int count) =>
            CpuSimd.GeluBackward(input.Slice(start, count), doutput.Slice(start, count), dinput.Slice(start, count));
    }

    private readonly struct AddKernel(HostArray<float> output, HostArray<float> a, HostArray<float> b) : IRangeKernel
    {
        public void Run(int start, int count) => CpuSimd.Add(a.Slice(start, count), b.Slice(start, count), output.Slice(start, count));
    }

    // ---- optimizer and reductions -----------------------------------------------------------------

    public void AdamW(BufferView<float> param, BufferView<float> grad, BufferView<float> m, BufferView<float> v, float learningRate, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale)
    {
        const string op = "adamw";
        OpShapes.Positive(op, "step", step);
        OpShapes.AtLeast(op, "grad", grad.Length, param.Length);
        OpShapes.AtLeast(op, "m", m.Length, param.Length);
        OpShapes.AtLeast(op, "v", v.Length, param.Length);
        var kernel = new AdamWKernel(new HostArray<float>(param), new HostArray<float>(grad), new HostArray<float>(m), new HostArray<float>(v),
            learningRate, beta1, beta2, eps, weightDecay, gradScale,
            (float)(1 - Math.Pow(beta1, step)), (float)(1 - Math.Pow(beta2, step)));
        CpuLoops.Range((int)param.Length, kernel);
    }

    private readonly struct AdamWKernel(HostArray<float> param, HostArray<float> grad, HostArray<float> m, HostArray<float> v,
        float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale, float correction1, float correction2) : IRangeKernel
    {
        public void Run(int start, int count) =>
            CpuSimd.AdamW(param.Slice(start, count), grad.Slice(start, count), m.Slice(start, count), v.Slice(start, count),
                lr, beta1, beta2, eps, weightDecay, gradScale, correction1, correction2);
    }

    /// <summary>Elements per partial of SumOfSquares and Dot: a function of the length only, for determinism.</summary>
    private const int ReductionChunk = 1 << 16;

    [ThreadStatic] private static double[]? t_reductionPartials;

    public float SumOfSquares(BufferView<float> x)
    {
        var values = new HostArray<float>(x);
        return Reduce(values, values);
    }

    public float Dot(BufferView<float> a, BufferView<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"dot: views differ in length ({a.Length} and {b.Length})");
        return Reduce(new HostArray<float>(a), new HostArray<float>(b));
    }

    private static float Reduce(HostArray<float> a, HostArray<float> b)
    {
        int n = a.Length;
        if (n == 0) return 0;
        int chunks = (n + ReductionChunk - 1) / ReductionChunk;
        var partials = CpuScratch.Get(ref t_reductionPartials, chunks);
        CpuLoops.Rows(chunks, ReductionChunk, new DotKernel(a, b, partials, n));
        double total = 0;
        for (int k = 0; k < chunks; k++) total += partials[k];
        return (float)total;
    }

    private readonly struct DotKernel(HostArray<float> a, HostArray<float> b, double[] partials, int n) : IRowKernel
    {
        public void Run(int chunk)
        {
            int start = chunk * ReductionChunk;
            int count = Math.Min(ReductionChunk, n - start);
            partials[chunk] = CpuSimd.DotLong(a.Slice(start, count), b.Slice(start, count));
        }
    }
}
