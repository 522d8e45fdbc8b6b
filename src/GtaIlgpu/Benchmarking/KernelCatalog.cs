using System.Reflection;
using GtaIlgpu.Kernels;

namespace GtaIlgpu.Benchmarking;

/// <summary>One [GpuKernel] method, by the name reports and tests use ("MatmulKernels.Gemm").</summary>
public sealed record GpuKernel(string Name, MethodInfo Method, GpuKernelAttribute Mark)
{
    /// <summary>GPU threads per group its launcher uses; null when the driver chooses (auto-grouped).</summary>
    public int? GroupSize => Mark.GroupSize > 0 ? Mark.GroupSize : null;
}

/// <summary>Every kernel of the kernels assembly, found by its [GpuKernel] mark, so none can be forgotten.</summary>
public static class KernelCatalog
{
    public static readonly Assembly KernelAssembly = typeof(GpuKernelAttribute).Assembly;

    public const BindingFlags AllDeclared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    private static readonly Lazy<IReadOnlyList<GpuKernel>> All = new(Find);

    /// <summary>The kernels in name order.</summary>
    public static IReadOnlyList<GpuKernel> Kernels => All.Value;

    public static GpuKernel Get(string name) =>
        Kernels.FirstOrDefault(k => k.Name == name) ?? throw new ArgumentException($"no [GpuKernel] method is named {name}");

    private static IReadOnlyList<GpuKernel> Find()
    {
        var kernels = new List<GpuKernel>();
        foreach (var type in KernelAssembly.GetTypes())
            foreach (var method in type.GetMethods(AllDeclared))
                if (method.GetCustomAttribute<GpuKernelAttribute>() is { } mark)
                    kernels.Add(new GpuKernel($"{type.Name}.{method.Name}", method, mark));
        // Reports and CI logs name kernels without their parameter lists, so an overload would be ambiguous.
        var clash = kernels.GroupBy(k => k.Name).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new InvalidOperationException($"two [GpuKernel] methods are named {clash.Key}: give kernels distinct names");
        return kernels.OrderBy(k => k.Name, StringComparer.Ordinal).ToList();
    }
}
