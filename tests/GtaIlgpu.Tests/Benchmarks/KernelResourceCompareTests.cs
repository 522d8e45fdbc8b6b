using GtaIlgpu.Benchmarking;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Kernels;

namespace GtaIlgpu.Tests.Benchmarks;

/// <summary>
/// `gta bench compare` on two kernel resource reports (synthetic, so no ptxas is needed): equal
/// reports pass; a kernel that newly spills or loses theoretical occupancy exits 1; bad files exit 2.
/// </summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class KernelResourceCompareTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-resources-{Guid.NewGuid():N}");

    public KernelResourceCompareTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly GpuKernel Gemm = new("MatmulKernels.Gemm", typeof(MatmulKernels).GetMethod(nameof(MatmulKernels.Gemm))!,
        new GpuKernelAttribute { ExplicitlyGrouped = true, GroupSize = 256 });
    private static readonly GpuKernel Fill = new("ElementwiseKernels.Fill", typeof(ElementwiseKernels).GetMethod(nameof(ElementwiseKernels.Fill))!,
        new GpuKernelAttribute());

    private static PtxasUsage Usage(int registers, int spills = 0) => new(registers, 8704, 0, spills, spills, 400);

    /// <summary>A report of Gemm and Fill on both targets, with Gemm's usage as given.</summary>
    private static KernelResourceReport Report(PtxasUsage gemm) => new()
    {
        Timestamp = DateTimeOffset.UnixEpoch,
        Commit = "0123456789abcdef",
        Ptxas = "Cuda compilation tools, release 11.8, V11.8.89",
        PtxIsa = "7.8",
        Targets = [.. SmLimits.Targets],
        Results = SmLimits.Targets.SelectMany(sm => new[]
        {
            KernelResourceReport.Row(Gemm, sm, gemm),
            KernelResourceReport.Row(Fill, sm, new PtxasUsage(8, 0, 0, 0, 0, 360)),
        }).ToList(),
    };

    private string Save(string name, KernelResourceReport report) => report.Save(_folder, name);

    private static int Cli(params string[] args) => CliErrors.Invoke(BenchCommand.Build(), ["compare", .. args]);

    [Fact]
    public void Equal_reports_pass_and_round_trip()
    {
        string a = Save("a", Report(Usage(48))), b = Save("b", Report(Usage(48)));
        Assert.Equal(0, Cli(a, b));
        static object Key(KernelResourceRow r) => (r.Kernel, r.Architecture, r.GroupSize, r.Registers, r.SpillStoreBytes, r.Occupancy, string.Join(",", r.LimitedBy), r.Reason);
        Assert.Equal(Report(Usage(48)).Results.Select(Key), KernelResourceReport.Load(a).Results.Select(Key));
        Assert.True(File.Exists(Path.Combine(_folder, "a.md")));
    }

    [Fact]
    public void More_registers_that_lower_occupancy_fail_with_exit_1()
    {
        // 32 → 48 registers at 256 threads: 100% → 62.5% on both targets.
        string a = Save("a", Report(Usage(32))), b = Save("b", Report(Usage(48)));
        var comparison = ResourceComparison.Compare(KernelResourceReport.Load(a), KernelResourceReport.Load(b));
        Assert.Equal(2, comparison.Findings.Count);
        Assert.All(comparison.Findings, f => Assert.Equal("MatmulKernels.Gemm", f.Kernel));
        Assert.Contains("registers 32 → 48", comparison.Findings[0].Problem);
        Assert.Equal(BenchCommand.RegressionExitCode, Cli(a, b));
        Assert.Equal(0, Cli(b, a)); // fewer registers, more occupancy: an improvement
    }

    [Fact]
    public void More_registers_without_an_occupancy_loss_pass()
    {
        // 28 → 32 registers still fit 64 warps at 256 threads.
        Assert.Equal(0, Cli(Save("a", Report(Usage(28))), Save("b", Report(Usage(32)))));
    }

    [Fact]
    public void A_kernel_that_newly_spills_fails_even_at_equal_occupancy()
    {
        string a = Save("a", Report(Usage(48))), b = Save("b", Report(Usage(48, spills: 16)));
        var comparison = ResourceComparison.Compare(KernelResourceReport.Load(a), KernelResourceReport.Load(b));
        Assert.Equal(2, comparison.Findings.Count);
        Assert.All(comparison.Findings, f => Assert.StartsWith("newly spills", f.Problem));
        Assert.Equal(BenchCommand.RegressionExitCode, Cli(a, b));
        // Spilling in both is not new.
        Assert.Equal(0, Cli(b, Save("c", Report(Usage(48, spills: 32)))));
    }

    [Fact]
    public void Missing_and_new_kernels_are_listed_not_failed()
    {
        var full = Report(Usage(48));
        var without = full with { Results = full.Results.Where(r => r.Kernel != "ElementwiseKernels.Fill").ToList() };
        string a = Save("a", full), b = Save("b", without);
        var comparison = ResourceComparison.Compare(KernelResourceReport.Load(a), KernelResourceReport.Load(b));
        Assert.Equal(["ElementwiseKernels.Fill (sm_80)", "ElementwiseKernels.Fill (sm_90)"], comparison.Missing);
        Assert.Equal(0, Cli(a, b));
        Assert.Equal(0, Cli(b, a));
    }

    [Fact]
    public void A_resource_report_is_not_compared_with_a_benchmark_results_file()
    {
        string report = Save("report", Report(Usage(48)));
        var run = new BenchmarkRun
        {
            Kind = "kernels", Timestamp = DateTimeOffset.UnixEpoch, Commit = "x",
            Machine = new MachineInfo { CpuModel = "c", Cores = 1, Os = "o", Runtime = "r" },
            Results = [new BenchmarkFigure { Name = "n", Unit = "GB/s", Value = 1, Better = BenchmarkFigure.Higher }],
        };
        string kernels = run.Save(_folder, "kernels");
        Assert.Equal(2, Cli(report, kernels));
        Assert.Equal(2, Cli(kernels, report));
    }

    [Theory]
    [InlineData("\"occupancy\": 0.625", "\"occupancy\": 1.5")]
    [InlineData("\"registers\": 48", "\"registers\": -1")]
    [InlineData("\"schema\": 1", "\"schema\": 9")]
    public void Malformed_reports_exit_2_naming_the_file(string from, string to)
    {
        string good = Save("good", Report(Usage(48)));
        string text = File.ReadAllText(good);
        Assert.Contains(from, text);
        string bad = Path.Combine(_folder, "bad.json");
        File.WriteAllText(bad, text.Replace(from, to, StringComparison.Ordinal));
        var error = Assert.Throws<InvalidDataException>(() => KernelResourceReport.Load(bad));
        Assert.Contains(bad, error.Message);
        Assert.Equal(2, Cli(good, bad));
    }

    [Fact]
    public void Report_names_the_lowest_occupancy_kernels_and_why()
    {
        var report = Report(Usage(48));
        var lowest = report.LowestOccupancy().ToList();
        Assert.Equal(["MatmulKernels.Gemm", "MatmulKernels.Gemm"], lowest.Select(r => r.Kernel));
        Assert.Equal(["registers"], lowest[0].LimitedBy);
        string markdown = report.ToMarkdown();
        Assert.Contains("## Lowest occupancy", markdown);
        Assert.Contains("**MatmulKernels.Gemm** on sm_80: 62.5 %", markdown);
        Assert.Contains("48 registers/thread = 1536 per warp", markdown);
        Assert.DoesNotContain("**ElementwiseKernels.Fill**", markdown);
    }

    [Fact]
    public void Auto_grouped_kernels_get_the_drivers_group_size()
    {
        var fill = Report(Usage(48)).Results.First(r => r.Kernel == "ElementwiseKernels.Fill");
        Assert.Equal(("auto", 1024, 1.0), (fill.Launch, fill.GroupSize, fill.Occupancy));
        var gemm = Report(Usage(48)).Results.First(r => r.Kernel == "MatmulKernels.Gemm");
        Assert.Equal(("explicit", 256), (gemm.Launch, gemm.GroupSize));
    }
}
