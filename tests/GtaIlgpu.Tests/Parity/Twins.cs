using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Parity;

/// <summary>The same tensor on the scalar reference and on the implementation under test.</summary>
public readonly record struct Twin<T>(BufferView<T> Reference, BufferView<T> Tested) where T : unmanaged
{
    /// <summary>An absent optional argument on both sides.</summary>
    public static Twin<T> Empty => default;

    public Twin<T> Slice(int offset, int length) => new(Reference.Slice(offset, length), Tested.Slice(offset, length));

    public Twin<T> Slice(int offset) => new(Reference.Slice(offset), Tested.Slice(offset));
}

/// <summary>One side of every twin, so an op call is written once and run on both sides.</summary>
public readonly struct Side(bool reference)
{
    public BufferView<float> this[Twin<float> twin] => reference ? twin.Reference : twin.Tested;
    public BufferView<int> this[Twin<int> twin] => reference ? twin.Reference : twin.Tested;
    public BufferView<ushort> this[Twin<ushort> twin] => reference ? twin.Reference : twin.Tested;
}

/// <summary>
/// Runs an op on the scalar reference and on the implementation under test from the same inputs and
/// compares the results with |Δ| ≤ atol + rtol·|reference| (NaN only where the reference has NaN).
/// Every tested tensor is a view at an odd offset inside a longer buffer, as the trainer's parameter
/// and activation views are (and as a SIMD loop's alignment would rather not have it).
/// </summary>
internal sealed class Twins : IDisposable
{
    private const int Offset = 3, Padding = 5;
    private readonly List<IDisposable> _buffers = [];

    public Twins(OpsFixture fixture, int seed)
    {
        Tested = fixture.Backend;
        Rng = new Random(seed);
    }

    public IBackend Tested { get; }
    public ReferenceBackend Reference { get; } = new();
    public Random Rng { get; }

    public IOps TestedOps => Tested.Ops;

    /// <summary>n values uniform in [offset − scale, offset + scale).</summary>
    public float[] Values(int n, float scale = 1f, float offset = 0f)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)(offset + (Rng.NextDouble() * 2 - 1) * scale);
        return values;
    }

    public Twin<float> Random(int n, float scale = 1f, float offset = 0f) => Upload(Values(n, scale, offset));

    /// <summary>n values uniform in [low, high) from their own seed (inputs shared by several cases).</summary>
    public static float[] Uniform(int seed, int n, float low, float high)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => low + (high - low) * random.NextSingle()).ToArray();
    }

    /// <summary>n bfloat16 patterns of values uniform in [offset − scale, offset + scale), rounded to nearest.</summary>
    public Twin<ushort> RandomBf16(int n, float scale = 1f, float offset = 0f)
    {
        var values = Values(n, scale, offset);
        var bits = new ushort[n];
        BFloat16.Narrow(values, bits);
        return Upload(bits);
    }

    /// <summary>n token ids uniform in [0, V).</summary>
    public Twin<int> RandomTokens(int n, int V) => Upload(Enumerable.Range(0, n).Select(_ => Rng.Next(V)).ToArray());

    public Twin<T> Upload<T>(T[] values) where T : unmanaged
    {
        var reference = Reference.Allocate<T>(values.Length + Offset + Padding);
        var tested = Tested.Allocate<T>(values.Length + Offset + Padding);
        _buffers.Add(reference);
        _buffers.Add(tested);
        var twin = new Twin<T>(reference.Slice(Offset, values.Length), tested.Slice(Offset, values.Length));
        Reference.Upload(twin.Reference, values);
        Tested.Upload(twin.Tested, values);
        return twin;
    }

    /// <summary>Runs op on the reference, then on the implementation under test.</summary>
    public void Run(Action<IOps, Side> op)
    {
        op(Reference.Ops, new Side(reference: true));
        op(TestedOps, new Side(reference: false));
        Tested.Synchronize();
    }

    public float[] ReferenceValues(Twin<float> twin) => Reference.ToArray(twin.Reference);

    public T[] TestedValues<T>(Twin<T> twin) where T : unmanaged => Tested.ToArray(twin.Tested);

    public void AssertClose(Twin<float> twin, string name, double atol, double rtol) =>
        AssertClose(ReferenceValues(twin), TestedValues(twin), name, atol, rtol);

    public void AssertEqual(Twin<int> twin, string name) =>
        Assert.True(Reference.ToArray(twin.Reference).AsSpan().SequenceEqual(TestedValues(twin)),
            $"{name}: reference [{string.Join(", ", Reference.ToArray(twin.Reference))}], tested [{string.Join(", ", TestedValues(twin))}]");

    public static void AssertClose(float[] expected, float[] actual, string name, double atol, double rtol)
    {
        Assert.Equal(expected.Length, actual.Length);
        int bad = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (e == a || (double.IsNaN(e) && double.IsNaN(a))) continue;
            if (!(Math.Abs(a - e) <= atol + rtol * Math.Abs(e)))
            {
                if (first < 0) first = i;
                bad++;
            }
        }
        if (bad > 0)
            Assert.Fail($"{name}: {bad} of {expected.Length} elements differ; first [{first}]: reference {expected[first]:R}, tested {actual[first]:R} " +
                        $"(|Δ| = {Math.Abs(actual[first] - expected[first]):G3} > {atol + rtol * Math.Abs(expected[first]):G3})");
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        Reference.Dispose();
    }
}
