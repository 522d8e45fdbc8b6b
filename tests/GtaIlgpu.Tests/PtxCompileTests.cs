using System.Reflection;
using System.Reflection.Emit;
using GtaIlgpu.Benchmarking;
using GtaIlgpu.Kernels;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace GtaIlgpu.Tests;

/// <summary>PTX as ILGPU writes it for a current driver (ISA 8.0), which the CUDA JIT gets on a real GPU.</summary>
public sealed class DriverPtxCompiler : IDisposable
{
    public PtxCompiler Compiler { get; } = new(CudaInstructionSet.ISA_80);

    public void Dispose() => Compiler.Dispose();
}

public sealed class PtxCompileTests : IClassFixture<DriverPtxCompiler>
{
    private static readonly Assembly KernelAssembly = KernelCatalog.KernelAssembly;

    private static readonly HashSet<Type> IndexTypes =
    [
        typeof(Index1D), typeof(Index2D), typeof(Index3D),
        typeof(LongIndex1D), typeof(LongIndex2D), typeof(LongIndex3D),
    ];

    private const BindingFlags AllDeclared = KernelCatalog.AllDeclared;

    private readonly PtxCompiler _compiler;

    public PtxCompileTests(DriverPtxCompiler fixture) => _compiler = fixture.Compiler;

    /// <summary>Every [GpuKernel] method of the kernels assembly, by its name ("MatmulKernels.Gemm").</summary>
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string>();
        foreach (var kernel in KernelCatalog.Kernels)
            data.Add(kernel.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void Kernel_compiles_to_ptx(string kernel)
    {
        var ptx = _compiler.Compile(KernelCatalog.Get(kernel));
        Assert.Contains(".entry", ptx);
        Assert.Contains($".target {PtxCompiler.Architecture.ToString().ToLowerInvariant()}", ptx);
    }

    [Fact]
    public void Known_kernels_are_found()
    {
        var names = KernelCatalog.Kernels.Select(k => k.Name).ToList();
        Assert.Contains("MatmulKernels.Gemm", names);
        Assert.Contains("AttentionKernels.Decode", names);
        Assert.Equal(MarkedKernels().Count, names.Count);
    }

    [Fact]
    public void Every_kernel_carries_the_GpuKernel_mark_with_the_right_grouping()
    {
        var problems = new List<string>();

        foreach (var method in AllMethods().OfType<MethodInfo>())
        {
            bool marked = method.GetCustomAttribute<GpuKernelAttribute>() is not null;
            if (method.IsStatic && FirstParameterIsIndex(method) && !marked)
                problems.Add($"{Describe(method)} takes an ILGPU index first but is not marked [GpuKernel]");
        }

        // Kernels are loaded from a delegate over the method (accelerator.LoadStreamKernel(Kernels.X)),
        // which compiles to ldftn: every static method of this assembly taken that way must be marked,
        // which catches explicitly grouped kernels (no index parameter) too.
        foreach (var caller in AllMethods())
        {
            foreach (var target in FunctionPointerTargets(caller))
            {
                if (target is MethodInfo { IsStatic: true } kernel && kernel.Module.Assembly == KernelAssembly
                    && kernel.GetCustomAttribute<GpuKernelAttribute>() is null)
                    problems.Add($"{Describe(kernel)} is loaded as a delegate in {Describe(caller)} but is not marked [GpuKernel]");
            }
        }

        foreach (var (name, kernel) in MarkedKernels())
        {
            var attribute = kernel.GetCustomAttribute<GpuKernelAttribute>()!;
            if (!kernel.IsStatic)
                problems.Add($"{name} is marked [GpuKernel] but is not static");
            else if (attribute.ExplicitlyGrouped == FirstParameterIsIndex(kernel))
                problems.Add(attribute.ExplicitlyGrouped
                    ? $"{name} is marked ExplicitlyGrouped but takes an index parameter (it is implicitly grouped)"
                    : $"{name} takes no index parameter: mark it [GpuKernel(ExplicitlyGrouped = true)]");
            // The resource report computes occupancy at this size; auto-grouped kernels get the driver's.
            if (attribute.ExplicitlyGrouped && (attribute.GroupSize <= 0 || attribute.GroupSize % 32 != 0 || attribute.GroupSize > 1024))
                problems.Add($"{name} is explicitly grouped: name its launcher's GPU group size (whole warps, at most 1024) in [GpuKernel(GroupSize = ...)]");
            if (!attribute.ExplicitlyGrouped && attribute.GroupSize != 0)
                problems.Add($"{name} is auto-grouped (the driver picks its group size): GroupSize = {attribute.GroupSize} would mislead the resource report");
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    private static Dictionary<string, MethodInfo> MarkedKernels() =>
        AllMethods().OfType<MethodInfo>()
            .Where(m => m.GetCustomAttribute<GpuKernelAttribute>() is not null)
            .ToDictionary(Describe, StringComparer.Ordinal);

    private static IEnumerable<MethodBase> AllMethods()
    {
        foreach (var type in KernelAssembly.GetTypes())
        {
            foreach (var method in type.GetMethods(AllDeclared))
                yield return method;
            foreach (var constructor in type.GetConstructors(AllDeclared))
                yield return constructor;
        }
    }

    private static bool FirstParameterIsIndex(MethodInfo method)
    {
        var parameters = method.GetParameters();
        return parameters.Length > 0 && IndexTypes.Contains(parameters[0].ParameterType);
    }

    private static string Describe(MethodBase method) =>
        $"{method.DeclaringType?.Name}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    // ---- a minimal IL reader: finds the methods a body takes the address of (ldftn) ----

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    private static IEnumerable<MethodBase> FunctionPointerTargets(MethodBase caller)
    {
        byte[]? il = caller.GetMethodBody()?.GetILAsByteArray();
        if (il is null) yield break;
        int position = 0;
        while (position < il.Length)
        {
            short value = il[position] == 0xFE && position + 1 < il.Length
                ? (short)(0xFE00 | il[position + 1])
                : il[position];
            if (!OpCodesByValue.TryGetValue(value, out var opCode))
                yield break; // unknown byte: stop rather than misread operands
            position += opCode.Size;
            if (opCode == OpCodes.Ldftn || opCode == OpCodes.Ldvirtftn)
            {
                int token = BitConverter.ToInt32(il, position);
                MethodBase? target = null;
                try
                {
                    target = caller.Module.ResolveMethod(token,
                        caller.DeclaringType?.IsGenericType == true ? caller.DeclaringType.GetGenericArguments() : null,
                        caller.IsGenericMethod ? caller.GetGenericArguments() : null);
                }
                catch (ArgumentException)
                {
                }
                if (target is not null) yield return target;
            }
            position += OperandSize(opCode.OperandType, il, position);
        }
    }

    private static int OperandSize(OperandType operand, byte[] il, int position) => operand switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, position),
        _ => 4,
    };
}
