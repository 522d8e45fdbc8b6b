namespace GtaIlgpu.Kernels;

/// <summary>
/// Marks a static method as an ILGPU kernel entry point. The PTX test finds every marked method by
/// reflection and compiles it, so a new kernel cannot be forgotten; it also fails when a static
/// method whose first parameter is an ILGPU index type lacks the mark.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class GpuKernelAttribute : Attribute
{
    /// <summary>How the kernel is launched: implicitly grouped (Index1D/2D/3D) or explicitly (KernelConfig).</summary>
    public bool ExplicitlyGrouped { get; init; }

    /// <summary>
    /// Threads per group on a GPU, for an explicitly grouped kernel: name the same constant its launcher
    /// builds the KernelConfig from, so the resource report (`gta bench resources`) computes occupancy at
    /// the launch configuration actually used. 0 for implicitly grouped kernels, which are loaded with
    /// LoadAutoGroupedStreamKernel: on CUDA the driver's cuOccupancyMaxPotentialBlockSize picks the size.
    /// </summary>
    public int GroupSize { get; init; }
}
