using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Kernels;

/// <summary>The same tensor on the scalar reference and on the ILGPU device.</summary>
public readonly record struct Twin<T>(BufferView<T> Reference, BufferView<T> Device) where T : unmanaged
{
    /// <summary>An absent optional argument on both sides.</summary>
    public static Twin<T> Empty => default;
}

/// <summary>
/// Runs an op on the scalar reference and on the ILGPU backend from the same inputs and compares
/// the results with |Δ| ≤ atol + rtol·|reference|. Every device tensor is a view at an odd offset
/// inside a longer buffer, as the parameter and activation views of the trainer are.
/// </summary>
internal sealed class ReferenceTwins : IDisposable
{
    private const int Offset = 3, Padding = 5;
    private readonly List<IDisposable> _buffers = [];

    public ReferenceTwins(IlgpuBackend device, int seed)
    {
        Device = device;
        Rng = new Random(seed);
    }

    public IlgpuBackend Device { get; }
    public ReferenceBackend Reference { get; } = new();
    public Random Rng { get; }

    public IlgpuOps DeviceOps => Device.IlgpuOps;
    public IOps ReferenceOps => Reference.Ops;

    /// <summary>n values uniform in [−scale, scale).</summary>
    public float[] Values(int n, float scale = 1f)
    {
        var values = new float[n];
        for (int i = 0; i < n; i++) values[i] = (float)((Rng.NextDouble() * 2 - 1) * scale);
        return values;
    }

    public Twin<float> RandomTwin(int n, float scale = 1f) => Upload(Values(n, scale));

    public Twin<T> Upload<T>(T[] values) where T : unmanaged
    {
        var reference = Reference.Allocate<T>(values.Length + Offset + Padding);
        var device = Device.Allocate<T>(values.Length + Offset + Padding);
        _buffers.Add(reference);
        _buffers.Add(device);
        var twin = new Twin<T>(reference.Slice(Offset, values.Length), device.Slice(Offset, values.Length));
        Reference.Upload(twin.Reference, values);
        Device.Upload(twin.Device, values);
        return twin;
    }

    public void AssertClose(Twin<float> twin, string name, double atol = 1e-4, double rtol = 1e-4)
    {
        var expected = Reference.ToArray(twin.Reference);
        var actual = Device.ToArray(twin.Device);
        int bad = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = atol + rtol * Math.Abs(expected[i]);
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
            {
                if (first < 0) first = i;
                bad++;
            }
        }
        Assert.True(bad == 0,
            $"{name}: {bad} of {expected.Length} elements differ; first at [{first}]: device {(first >= 0 ? actual[first] : 0)}, reference {(first >= 0 ? expected[first] : 0)}");
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers) buffer.Dispose();
        Reference.Dispose();
    }
}
