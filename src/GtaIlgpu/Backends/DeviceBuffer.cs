namespace GtaIlgpu.Backends;

/// <summary>
/// A block of memory owned by one backend (host array for the CPU backends, device memory for ILGPU).
/// Every op works on <see cref="BufferView{T}"/>s into such blocks, so parameters, gradients and
/// activations can each be one flat allocation with per-tensor views into it.
/// </summary>
public abstract class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    protected DeviceBuffer(long length)
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), "buffer length must be non-negative");
        Length = length;
    }

    public long Length { get; }

    /// <summary>The whole buffer as a view.</summary>
    public BufferView<T> View => new(this, 0, Length);

    public BufferView<T> Slice(long offset, long length) => View.Slice(offset, length);

    public abstract void Dispose();
}

/// <summary>
/// A contiguous window [Offset, Offset+Length) into a <see cref="DeviceBuffer{T}"/>. The default value
/// is the empty view, used for optional arguments (for example a matmul without bias).
/// </summary>
public readonly struct BufferView<T> where T : unmanaged
{
    public BufferView(DeviceBuffer<T> buffer, long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > buffer.Length)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"view [{offset}, {offset + length}) does not fit in a buffer of {buffer.Length} elements");
        Buffer = buffer;
        Offset = offset;
        Length = length;
    }

    public DeviceBuffer<T>? Buffer { get; }
    public long Offset { get; }
    public long Length { get; }
    public bool IsEmpty => Buffer is null || Length == 0;

    public BufferView<T> Slice(long offset, long length)
    {
        if (Buffer is null) throw new InvalidOperationException("cannot slice an empty view");
        if (offset < 0 || length < 0 || offset + length > Length)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"slice [{offset}, {offset + length}) does not fit in a view of {Length} elements");
        return new BufferView<T>(Buffer, Offset + offset, length);
    }

    public BufferView<T> Slice(long offset) => Slice(offset, Length - offset);

    public override string ToString() => $"view[{Offset}..{Offset + Length})";
}
