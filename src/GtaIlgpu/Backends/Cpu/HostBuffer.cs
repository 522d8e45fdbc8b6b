namespace GtaIlgpu.Backends.Cpu;

/// <summary>A buffer in managed memory, used by the CPU backend and the scalar reference.</summary>
public sealed class HostBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    public HostBuffer(long length) : base(length)
    {
        if (length > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(length), $"a host buffer holds at most {Array.MaxLength} elements");
        Data = new T[length];
    }

    public T[] Data { get; }

    public override void Dispose() { }
}

public static class HostViews
{
    /// <summary>The span a host view covers. Throws for views of non-host buffers.</summary>
    public static Span<T> Span<T>(this BufferView<T> view) where T : unmanaged
    {
        if (view.IsEmpty) return System.Span<T>.Empty;
        if (view.Buffer is not HostBuffer<T> host)
            throw new ArgumentException($"view over {view.Buffer!.GetType().Name} given to a host backend");
        return host.Data.AsSpan((int)view.Offset, (int)view.Length);
    }

    /// <summary>The array and offset behind a host view, for code that indexes directly.</summary>
    public static (T[] Array, int Offset) Raw<T>(this BufferView<T> view) where T : unmanaged
    {
        if (view.Buffer is not HostBuffer<T> host)
            throw new ArgumentException("view is not over a host buffer");
        return (host.Data, (int)view.Offset);
    }
}

/// <summary>Memory management shared by every backend whose memory is the managed heap.</summary>
public abstract class HostBackendBase : IBackend
{
    public abstract string Name { get; }
    public abstract string Description { get; }
    public abstract IOps Ops { get; }

    /// <summary>The memory the runtime may use: physical memory or the container's limit.</summary>
    public long MemoryBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
    {
        Interlocked.Add(ref _allocatedBytes, length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>());
        return new HostBuffer<T>(length);
    }

    private long _allocatedBytes;

    /// <summary>Bytes of every buffer allocated so far (freed ones included): what tests read to see what a model or optimizer holds.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    public void Upload<T>(BufferView<T> destination, ReadOnlySpan<T> source) where T : unmanaged
    {
        if (source.Length > destination.Length)
            throw new ArgumentException($"upload of {source.Length} elements into a view of {destination.Length}");
        source.CopyTo(destination.Span());
    }

    public void Download<T>(BufferView<T> source, Span<T> destination) where T : unmanaged
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"download of {source.Length} elements into a span of {destination.Length}");
        source.Span().CopyTo(destination);
    }

    public void Synchronize() { }

    public virtual void Dispose() { }
}
