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
}
