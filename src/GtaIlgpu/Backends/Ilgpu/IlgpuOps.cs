using ILGPU.Runtime;

namespace GtaIlgpu.Backends.Ilgpu;

/// <summary>
/// IOps over ILGPU kernels. A partial class: each op family adds its methods in its own file
/// (IlgpuOps.&lt;Family&gt;.cs), each calling the launcher of that family in kernels/GtaIlgpu.Kernels.
/// </summary>
internal sealed partial class IlgpuOps : IOps
{
    private readonly Accelerator _accelerator;

    public IlgpuOps(Accelerator accelerator)
    {
        _accelerator = accelerator;
    }
}
