using System.Collections.Concurrent;
using GtaIlgpu.Benchmarking;

namespace GtaIlgpu.Tests;

/// <summary>
/// A theory that needs NVIDIA's ptxas (see <see cref="PtxasLocator"/>: $GTA_PTXAS, the cached copy,
/// PATH, else scripts/fetch-ptxas.sh fetches it once). Where none can be had it is reported as
/// skipped with the reason, never passed, except under CI (CI=true), where it runs and fails.
/// </summary>
public sealed class PtxasTheoryAttribute : TheoryAttribute
{
    public PtxasTheoryAttribute()
    {
        var located = PtxasLocator.Shared;
        if (located.Ptxas is null && !PtxasLocator.InContinuousIntegration)
            Skip = $"ptxas unavailable: {located.Missing} (under CI=true this fails instead)";
    }
}

/// <summary>PTX in the ISA Debian's ptxas (CUDA 11.8) accepts, compiled once per kernel.</summary>
public sealed class AssemblerPtx : IDisposable
{
    private readonly PtxCompiler _compiler = new(PtxCompiler.AssemblerInstructionSet);
    private readonly ConcurrentDictionary<string, string> _ptx = new();

    public string For(GpuKernel kernel) => _ptx.GetOrAdd(kernel.Name, _ => _compiler.Compile(kernel));

    public void Dispose() => _compiler.Dispose();
}

/// <summary>
/// Every kernel is assembled by NVIDIA's ptxas for sm_80 (A100) and sm_90 (H100/H200): PTX that
/// ILGPU writes but the real assembler rejects fails here, not on the GPU machine. ILGPU writes
/// `.target sm_80` at most; ptxas assembles that PTX for sm_90 unchanged (PTX is forward compatible),
/// so no rewriting of the target line is needed.
/// </summary>
public sealed class PtxasAssemblyTests : IClassFixture<AssemblerPtx>
{
    private readonly AssemblerPtx _ptx;

    public PtxasAssemblyTests(AssemblerPtx ptx) => _ptx = ptx;

    public static TheoryData<string, string> KernelsAndTargets()
    {
        var data = new TheoryData<string, string>();
        foreach (var kernel in KernelCatalog.Kernels)
            foreach (var sm in SmLimits.Targets)
                data.Add(kernel.Name, sm.Architecture);
        return data;
    }

    [PtxasTheory]
    [MemberData(nameof(KernelsAndTargets))]
    public void Kernel_assembles_with_ptxas(string kernel, string architecture)
    {
        var ptxas = PtxasLocator.Shared.Require();
        string ptx = _ptx.For(KernelCatalog.Get(kernel));

        var (exit, output) = ptxas.Assemble(ptx, architecture, verbose: true);

        Assert.True(exit == 0, $"ptxas -arch={architecture} rejected {kernel} (exit {exit}):\n{output}");
        var usage = Ptxas.ParseVerbose(output, kernel);
        Assert.InRange(usage.Registers, 1, SmLimits.Sm80.MaxRegistersPerThread);
    }

    [PtxasTheory]
    [InlineData("sm_80")]
    public void Broken_ptx_is_rejected_with_the_assemblers_message(string architecture)
    {
        var ptxas = PtxasLocator.Shared.Require();
        string ptx = _ptx.For(KernelCatalog.Get("ElementwiseKernels.Fill"));
        string broken = ptx.Replace("ret;", "ret.bogus;", StringComparison.Ordinal);
        Assert.NotEqual(ptx, broken);

        var (exit, output) = ptxas.Assemble(broken, architecture, verbose: false);

        Assert.NotEqual(0, exit);
        Assert.Contains("error", output, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<InvalidOperationException>(() => ptxas.Usage(broken, architecture, "broken Fill"));
    }

    private const string VerboseSample = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'Kernel_Gemm' for 'sm_90'
        ptxas info    : Function properties for Kernel_Gemm
            24 bytes stack frame, 8 bytes spill stores, 12 bytes spill loads
        ptxas info    : Used 64 registers, 8704 bytes smem, 400 bytes cmem[0], 8 bytes cmem[2]
        """;

    [Fact]
    public void Verbose_report_is_read_for_the_entry_point()
    {
        var usage = Ptxas.ParseVerbose(VerboseSample.Replace("\r\n", "\n"), "sample");
        Assert.Equal(new PtxasUsage(Registers: 64, SharedBytes: 8704, StackFrameBytes: 24, SpillStoreBytes: 8, SpillLoadBytes: 12, ConstantBytes: 408), usage);
    }

    [Fact]
    public void Verbose_report_without_shared_memory_reads_zero()
    {
        string sample = VerboseSample.Replace("8704 bytes smem, ", "", StringComparison.Ordinal).Replace("\r\n", "\n");
        Assert.Equal(0, Ptxas.ParseVerbose(sample, "sample").SharedBytes);
    }

    [Fact]
    public void Verbose_report_without_an_entry_or_usage_line_is_an_error()
    {
        Assert.Throws<InvalidDataException>(() => Ptxas.ParseVerbose("ptxas info    : 0 bytes gmem\n", "empty"));
        string noUsage = string.Join('\n', VerboseSample.Replace("\r\n", "\n").Split('\n').Where(l => !l.Contains("Used", StringComparison.Ordinal)));
        Assert.Throws<InvalidDataException>(() => Ptxas.ParseVerbose(noUsage, "no usage"));
    }
}
