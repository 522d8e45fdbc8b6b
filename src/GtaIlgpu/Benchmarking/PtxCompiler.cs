using GtaIlgpu.Kernels;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// A PTX backend built without a GPU (no CUDA driver is touched): ILGPU's front end and PTX code
/// generator run entirely in managed code, so CI can compile every kernel.
/// </summary>
public sealed class PtxCompiler : IDisposable
{
    /// <summary>Ampere: the newest target ILGPU 1.5.3 writes (`.target sm_80`); Hopper runs the same PTX.</summary>
    public static readonly CudaArchitecture Architecture = CudaArchitecture.SM_80;

    /// <summary>
    /// The newest PTX ISA that Debian's ptxas (CUDA 11.8) accepts; what the assembler checks and the
    /// resource report use. The driver JIT on a real GPU gets ILGPU's newest ISA instead.
    /// </summary>
    public static readonly CudaInstructionSet AssemblerInstructionSet = CudaInstructionSet.ISA_78;

    private readonly Context _context;
    private readonly PTXBackend _backend;

    public PtxCompiler(CudaInstructionSet instructionSet)
    {
        InstructionSet = instructionSet;
        // Algorithms registers its PTX intrinsics (XMath, group/warp extensions) on the context.
        _context = Context.Create(builder => builder.Cuda().EnableAlgorithms());
        _backend = new PTXBackend(_context, new CudaCapabilityContext(Architecture), Architecture, instructionSet, nvvmAPI: null);
    }

    public CudaInstructionSet InstructionSet { get; }

    public string Compile(GpuKernel kernel)
    {
        var entry = kernel.Mark.ExplicitlyGrouped
            ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
            : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
        lock (_backend)
        {
            var compiled = (PTXCompiledKernel)_backend.Compile(entry, KernelSpecialization.Empty);
            return compiled.PTXAssembly;
        }
    }

    public void Dispose()
    {
        _backend.Dispose();
        _context.Dispose();
    }
}
