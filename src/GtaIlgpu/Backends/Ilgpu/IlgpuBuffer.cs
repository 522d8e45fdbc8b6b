using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Backends.Ilgpu;

/// <summary>Device memory on an ILGPU accelerator.</summary>
public sealed class IlgpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    public IlgpuBuffer(Accelerator accelerator, long length) : base(length)
    {
        // ILGPU cannot allocate zero elements; keep one so empty buffers still have a valid view.
        Memory = accelerator.Allocate1D<T>(Math.Max(1, length));
        Memory.MemSetToZero();
    }

    public MemoryBuffer1D<T, Stride1D.Dense> Memory { get; }

    public override void Dispose() => Memory.Dispose();
}

public static class IlgpuViews
{
    /// <summary>The ILGPU view a buffer view covers; the empty view maps to an empty ArrayView.</summary>
    public static ArrayView<T> Device<T>(this BufferView<T> view) where T : unmanaged
    {
        if (view.IsEmpty) return ArrayView<T>.Empty;
        if (view.Buffer is not IlgpuBuffer<T> device)
            throw new ArgumentException($"view over {view.Buffer!.GetType().Name} given to the ILGPU backend");
        return device.Memory.View.SubView(view.Offset, view.Length);
    }
}
