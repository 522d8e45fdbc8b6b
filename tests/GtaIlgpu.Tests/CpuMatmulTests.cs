using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests;

/// <summary>
/// CpuMatmul against plain double-accumulation loops, over shapes that hit every edge of the
/// 6×16 tile and the KC/MC blocking, with and without bias, and with gradients that already hold
/// values (backward accumulates).
/// </summary>
public class CpuMatmulTests
{
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 },
        { 1, 5, 3 },
        { 6, 16, 16 },    // exactly one tile
        { 7, 13, 5 },
        { 2, 300, 3 },    // K in two even blocks of 150, tiny M and N
        { 37, 65, 97 },
        { 129, 257, 130 }, // around the block sizes, parallel
        { 257, 129, 33 },
        { 200, 520, 17 },  // K over two KC blocks, narrow output
        { 3, 40, 600 },    // wide output, few rows
        { 33, 1000, 40 },  // the accuracy bound at C ≈ 1000
    };

    private static float[] Random(int n, int seed)
    {
        // Roughly N(0,1): the sum of 4 uniforms, rescaled.
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)((rng.NextDouble() + rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 2.0) * Math.Sqrt(3.0));
        return x;
    }

    private static void ReferenceForward(float[] output, float[] input, float[] weight, float[]? bias, int N, int C, int OC)
    {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
            {
                double sum = bias is null ? 0.0 : bias[o];
                for (int c = 0; c < C; c++) sum += (double)input[n * C + c] * weight[o * C + c];
                output[n * OC + o] = (float)sum;
            }
    }

    private static void ReferenceBackward(float[]? dinput, float[] dweight, float[]? dbias, float[] doutput, float[] input, float[] weight, int N, int C, int OC)
    {
        if (dinput is not null)
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++)
                {
                    double sum = dinput[n * C + c];
                    for (int o = 0; o < OC; o++) sum += (double)doutput[n * OC + o] * weight[o * C + c];
                    dinput[n * C + c] = (float)sum;
                }
        for (int o = 0; o < OC; o++)
            for (int c = 0; c < C; c++)
            {
                double sum = dweight[o * C + c];
                for (int n = 0; n < N; n++) sum += (double)doutput[n * OC + o] * input[n * C + c];
                dweight[o * C + c] = (float)sum;
            }
        if (dbias is not null)
            for (int o = 0; o < OC; o++)
            {
                double sum = dbias[o];
                for (int n = 0; n < N; n++) sum += doutput[n * OC + o];
                dbias[o] = (float)sum;
            }
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = 1e-4 + 1e-4 * Math.Abs(expected[i]);
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance))
                Assert.Fail($"{what}[{i}]: expected {expected[i]}, got {actual[i]} (|Δ| {Math.Abs(expected[i] - actual[i]):E2} > {tolerance:E2})");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ForwardMatchesReference(int N, int C, int OC)
    {
        var input = Random(N * C, 1);
        var weight = Random(OC * C, 2);
        var bias = Random(OC, 3);
        foreach (bool withBias in new[] { true, false })
        {
            var expected = new float[N * OC];
            ReferenceForward(expected, input, weight, withBias ? bias : null, N, C, OC);
            var actual = Random(N * OC, 4); // garbage: forward overwrites
            CpuMatmul.Forward(actual, input, weight, withBias ? bias : ReadOnlySpan<float>.Empty, N, C, OC);
            AssertClose(expected, actual, withBias ? "output (bias)" : "output");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BackwardMatchesReferenceAndAccumulates(int N, int C, int OC)
    {
        var input = Random(N * C, 1);
        var weight = Random(OC * C, 2);
        var doutput = Random(N * OC, 5);
        foreach (bool withInputGrad in new[] { true, false })
            foreach (bool withBias in new[] { true, false })
            {
                // Gradients already hold values: backward must add to them.
                var dinput = withInputGrad ? Random(N * C, 6) : null;
                var dweight = Random(OC * C, 7);
                var dbias = withBias ? Random(OC, 8) : null;
                var (eInput, eWeight, eBias) = ((float[]?)dinput?.Clone(), (float[])dweight.Clone(), (float[]?)dbias?.Clone());
                ReferenceBackward(eInput, eWeight, eBias, doutput, input, weight, N, C, OC);

                CpuMatmul.Backward(dinput, dweight, dbias, doutput, input, weight, N, C, OC);

                if (dinput is not null) AssertClose(eInput!, dinput, "dinput");
                AssertClose(eWeight, dweight, "dweight");
                if (dbias is not null) AssertClose(eBias!, dbias, "dbias");
            }
    }

    [Theory]
    [InlineData(7, 13, 5)]
    [InlineData(37, 65, 97)]
    public void ScalarFallbackMatchesReference(int N, int C, int OC)
    {
        var input = Random(N * C, 1);
        var weight = Random(OC * C, 2);
        var bias = Random(OC, 3);
        var doutput = Random(N * OC, 5);

        var expected = new float[N * OC];
        ReferenceForward(expected, input, weight, bias, N, C, OC);
        var actual = new float[N * OC];
        CpuMatmul.Forward(actual, input, weight, bias, N, C, OC, simd: false);
        AssertClose(expected, actual, "output");

        var (dinput, dweight, dbias) = (Random(N * C, 6), Random(OC * C, 7), Random(OC, 8));
        var (eInput, eWeight, eBias) = ((float[])dinput.Clone(), (float[])dweight.Clone(), (float[])dbias.Clone());
        ReferenceBackward(eInput, eWeight, eBias, doutput, input, weight, N, C, OC);
        CpuMatmul.Backward(dinput, dweight, dbias, doutput, input, weight, N, C, OC, simd: false);
        AssertClose(eInput, dinput, "dinput");
        AssertClose(eWeight, dweight, "dweight");
        AssertClose(eBias, dbias, "dbias");
    }

    [Fact]
    public void ViewOverloadsUseOffsetsAndLeaveTheRestAlone()
    {
        const int N = 19, C = 23, OC = 29, pad = 11;
        var input = Random(N * C, 1);
        var weight = Random(OC * C, 2);
        var bias = Random(OC, 3);
        var doutput = Random(N * OC, 5);

        // Every tensor sits at an odd offset inside one larger buffer, with sentinels around it.
        long offset = pad;
        BufferView<float> Place(HostBuffer<float> buffer, float[]? data, int length)
        {
            var view = buffer.Slice(offset, length);
            data?.CopyTo(buffer.Data, (int)offset);
            offset += length + pad;
            return view;
        }
        var buffer = new HostBuffer<float>(pad + 7L * (N * C + OC * C + N * OC + OC + pad));
        buffer.Data.AsSpan().Fill(float.NaN);
        var vInput = Place(buffer, input, N * C);
        var vWeight = Place(buffer, weight, OC * C);
        var vBias = Place(buffer, bias, OC);
        var vOutput = Place(buffer, null, N * OC);
        var vDoutput = Place(buffer, doutput, N * OC);
        var vDinput = Place(buffer, new float[N * C], N * C);
        var vDweight = Place(buffer, new float[OC * C], OC * C);
        var vDbias = Place(buffer, new float[OC], OC);

        CpuMatmul.Forward(vOutput, vInput, vWeight, vBias, N, C, OC);
        CpuMatmul.Backward(vDinput, vDweight, vDbias, vDoutput, vInput, vWeight, N, C, OC);

        var expected = new float[N * OC];
        ReferenceForward(expected, input, weight, bias, N, C, OC);
        AssertClose(expected, vOutput.Span().ToArray(), "output");
        var (eInput, eWeight, eBias) = (new float[N * C], new float[OC * C], new float[OC]);
        ReferenceBackward(eInput, eWeight, eBias, doutput, input, weight, N, C, OC);
        AssertClose(eInput, vDinput.Span().ToArray(), "dinput");
        AssertClose(eWeight, vDweight.Span().ToArray(), "dweight");
        AssertClose(eBias, vDbias.Span().ToArray(), "dbias");

        // The padding between tensors is still NaN: nothing wrote outside its view.
        for (long i = 0; i < buffer.Length; i++)
        {
            bool inside = false;
            foreach (var v in new[] { vInput, vWeight, vBias, vOutput, vDoutput, vDinput, vDweight, vDbias })
                if (i >= v.Offset && i < v.Offset + v.Length) inside = true;
            if (!inside) Assert.True(float.IsNaN(buffer.Data[i]), $"padding at {i} was written");
        }
    }

    [Fact]
    public void ViewOverloadsAcceptEmptyOptionalsAndRejectShortViews()
    {
        const int N = 3, C = 4, OC = 5;
        var x = new HostBuffer<float>(N * C);
        var w = new HostBuffer<float>(OC * C);
        var y = new HostBuffer<float>(N * OC);
        var dw = new HostBuffer<float>(OC * C);
        CpuMatmul.Forward(y.View, x.View, w.View, default, N, C, OC);
        CpuMatmul.Backward(default, dw.View, default, y.View, x.View, w.View, N, C, OC);

        var shortOutput = y.Slice(0, N * OC - 1);
        var e = Assert.Throws<ArgumentException>(() => CpuMatmul.Forward(shortOutput, x.View, w.View, default, N, C, OC));
        Assert.Contains("matmul_forward", e.Message);
        var shortBias = w.Slice(0, OC - 1);
        Assert.Throws<ArgumentException>(() => CpuMatmul.Forward(y.View, x.View, w.View, shortBias, N, C, OC));
        var shortWeightGrad = dw.Slice(0, 1);
        e = Assert.Throws<ArgumentException>(() => CpuMatmul.Backward(default, shortWeightGrad, default, y.View, x.View, w.View, N, C, OC));
        Assert.Contains("matmul_backward", e.Message);
        Assert.Throws<ArgumentException>(() => CpuMatmul.Forward(y.View, x.View, w.View, default, 0, C, OC));
    }

    private struct MatmulPerItem : IParallelBody
    {
        public float[][] Outputs;
        public float[] Input, Weight;
        public int N, C, OC;
        public void Run(int index) => CpuMatmul.Forward(Outputs[index], Input, Weight, ReadOnlySpan<float>.Empty, N, C, OC);
    }

    [Fact]
    public void WorksInsideAParallelLoop()
    {
        // A CPU op may call matmul from inside its own parallel loop (per head, per sequence):
        // the nested loops run serially and every item still gets the right answer.
        const int N = 129, C = 257, OC = 130, items = 5;
        var body = new MatmulPerItem { Input = Random(N * C, 1), Weight = Random(OC * C, 2), N = N, C = C, OC = OC };
        body.Outputs = new float[items][];
        for (int i = 0; i < items; i++) body.Outputs[i] = new float[N * OC];
        CpuParallel.For(items, in body);

        var expected = new float[N * OC];
        ReferenceForward(expected, body.Input, body.Weight, null, N, C, OC);
        for (int i = 0; i < items; i++) AssertClose(expected, body.Outputs[i], $"output of item {i}");
    }

    [Fact]
    public void SteadyStateAllocatesNothing()
    {
        // Big enough to run in parallel and to need every scratch region.
        const int N = 150, C = 300, OC = 200;
        var input = Random(N * C, 1);
        var weight = Random(OC * C, 2);
        var bias = Random(OC, 3);
        var output = new float[N * OC];
        var (dinput, dweight, dbias) = (new float[N * C], new float[OC * C], new float[OC]);
        void Step()
        {
            CpuMatmul.Forward(output, input, weight, bias, N, C, OC);
            CpuMatmul.Backward(dinput, dweight, dbias, output, input, weight, N, C, OC);
        }
        for (int i = 0; i < 5; i++) Step(); // warm-up: JIT, worker scratch

        // Each thread's scratch grows the first time that thread packs a GEMM of a larger shape, and
        // which thread claims which item is up to timing: while a parallel test holds the workers, this
        // thread runs every item itself, and may meet a shape for the first time after the warm-up. The
        // scratch never shrinks, so the steady state is 20 steps without a byte, within a few tries.
        var log = new System.Text.StringBuilder();
        bool clean = false;
        for (int attempt = 0; attempt < 5 && !clean; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Step();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            clean = bytes == 0;
            log.Append($" [{bytes} B]");
        }
        Assert.True(clean, "every 20 warm steps allocated on this thread:" + log);
    }
}
