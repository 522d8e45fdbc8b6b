using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>
/// Runs one op on the scalar reference and on the ILGPU backend from the same inputs and returns
/// every buffer afterwards, so in-place outputs, accumulation into pre-filled buffers and untouched
/// inputs are all compared. Until IlgpuOps implements IOps (after the families merge) each test
/// passes the same call twice, once per ops type.
/// </summary>
internal static class PointwiseParity
{
    public sealed record Result(float[][] Expected, float[][] Actual, int[][] ExpectedInts, int[][] ActualInts);

    public static Result Run(
        IlgpuFixture fixture,
        float[][] floats,
        int[][] ints,
        Action<IOps, BufferView<float>[], BufferView<int>[]> reference,
        Action<IlgpuOps, BufferView<float>[], BufferView<int>[]> ilgpu)
    {
        using var host = new ReferenceBackend();
        var (expected, expectedInts) = RunOn(host, floats, ints, (f, i) => reference(host.Ops, f, i));
        var device = fixture.Backend;
        var (actual, actualInts) = RunOn(device, floats, ints, (f, i) => ilgpu(device.IlgpuOps, f, i));
        return new Result(expected, actual, expectedInts, actualInts);
    }

    private static (float[][], int[][]) RunOn(IBackend backend, float[][] floats, int[][] ints, Action<BufferView<float>[], BufferView<int>[]> op)
    {
        var floatBuffers = floats.Select(a => backend.AllocateFrom<float>(a)).ToArray();
        var intBuffers = ints.Select(a => backend.AllocateFrom<int>(a)).ToArray();
        try
        {
            op(floatBuffers.Select(b => b.View).ToArray(), intBuffers.Select(b => b.View).ToArray());
            backend.Synchronize();
            return (floatBuffers.Select(b => backend.ToArray(b.View)).ToArray(), intBuffers.Select(b => backend.ToArray(b.View)).ToArray());
        }
        finally
        {
            foreach (var b in floatBuffers) b.Dispose();
            foreach (var b in intBuffers) b.Dispose();
        }
    }

    /// <summary>|actual − expected| ≤ atol + rtol·|expected| elementwise, NaN only where expected is NaN.</summary>
    public static void AssertClose(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(e) && double.IsNaN(a)) continue;
            if (e == a) continue;
            double bound = atol + rtol * Math.Abs(e);
            if (!(Math.Abs(a - e) <= bound))
                Assert.Fail($"{what}[{i}]: expected {e:R}, got {a:R} (|Δ| = {Math.Abs(a - e):G3} > {bound:G3})");
        }
    }

    /// <summary>Compares every float buffer of a run.</summary>
    public static void AssertAllClose(Result result, double atol, double rtol, params string[] names)
    {
        for (int k = 0; k < result.Expected.Length; k++)
            AssertClose(result.Expected[k], result.Actual[k], atol, rtol, k < names.Length ? names[k] : $"buffer {k}");
        for (int k = 0; k < result.ExpectedInts.Length; k++)
            Assert.Equal(result.ExpectedInts[k], result.ActualInts[k]);
    }

    public static float[] Uniform(int seed, int n, float low = -1f, float high = 1f)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = low + (high - low) * random.NextSingle();
        return values;
    }
}
