namespace GtaIlgpu.Backends;

/// <summary>
/// Where the numbers live and who computes on them: memory management plus the op set.
/// Implementations: <c>CpuBackend</c> (managed SIMD) and <c>IlgpuBackend</c> (CUDA, OpenCL or the
/// ILGPU CPU emulator). Tests add a scalar reference backend.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>Short name used on the command line: cpu, cuda, opencl, ilgpu-cpu.</summary>
    string Name { get; }

    /// <summary>One line for humans: device model, memory, and so on.</summary>
    string Description { get; }

    IOps Ops { get; }

    /// <summary>Bytes the device can hold (a GPU's memory; on the host, what the runtime may use), for the memory plan.</summary>
    long MemoryBytes { get; }

    /// <summary>Allocates a zero-filled buffer.</summary>
    DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged;

    void Upload<T>(BufferView<T> destination, ReadOnlySpan<T> source) where T : unmanaged;

    void Download<T>(BufferView<T> source, Span<T> destination) where T : unmanaged;

    /// <summary>Waits until every queued op has finished (a no-op on synchronous backends).</summary>
    void Synchronize();
}

public static class BackendExtensions
{
    /// <summary>A host copy of the view (checked against <see cref="Common.HostArrays.MaxLength"/>: a whole 3–4B model fits no array).</summary>
    public static T[] ToArray<T>(this IBackend backend, BufferView<T> view) where T : unmanaged
    {
        var result = Common.HostArrays.Allocate<T>(view.Length, $"a host copy of {view}");
        backend.Download(view, result);
        return result;
    }

    public static DeviceBuffer<T> AllocateFrom<T>(this IBackend backend, ReadOnlySpan<T> values) where T : unmanaged
    {
        var buffer = backend.Allocate<T>(values.Length);
        backend.Upload(buffer.View, values);
        return buffer;
    }
}
