using GtaIlgpu.Benchmarking;
using GtaIlgpu.Cli.Commands;

namespace GtaIlgpu.Tests.Benchmarks;

/// <summary>`gta bench compare` as a CI gate: equal runs pass, a planted regression fails with exit 1, bad files exit 2.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class BenchCompareTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-bench-{Guid.NewGuid():N}");

    public BenchCompareTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static BenchmarkRun Run(params (string Name, string Unit, double Value, string Better)[] figures) => new()
    {
        Kind = "kernels",
        Timestamp = DateTimeOffset.UnixEpoch,
        Commit = "0123456789abcdef",
        Machine = new MachineInfo { CpuModel = "test CPU", Cores = 2, Os = "test", Runtime = "test" },
        Results = figures.Select(f => new BenchmarkFigure { Name = f.Name, Unit = f.Unit, Value = f.Value, Better = f.Better }).ToList(),
    };

    private static readonly (string, string, double, string)[] Baseline =
    [
        ("CpuOps/Op/tiny MatmulForward qkv", "GFLOP/s", 100.0, BenchmarkFigure.Higher),
        ("CpuOps/Op/tiny GeluForward", "GB/s", 20.0, BenchmarkFigure.Higher),
        ("e2e/cpu/tiny/step", "ns", 1e6, BenchmarkFigure.Lower),
    ];

    private string Save(string name, BenchmarkRun run) => run.Save(_folder, name);

    private static int Cli(params string[] args) => CliErrors.Invoke(BenchCommand.Build(), ["compare", .. args]);

    [Fact]
    public void Equal_files_pass()
    {
        string a = Save("a", Run(Baseline)), b = Save("b", Run(Baseline));
        Assert.Equal(0, Cli(a, b));
        Assert.True(File.Exists(Path.Combine(_folder, "a.md")), "the Markdown twin is written beside the JSON");
    }

    [Fact]
    public void Planted_throughput_regression_fails_with_exit_1()
    {
        string a = Save("a", Run(Baseline));
        var slower = Baseline.ToArray();
        slower[0] = (slower[0].Item1, slower[0].Item2, 80.0, slower[0].Item4); // 20% fewer GFLOP/s
        string b = Save("b", Run(slower));
        Assert.Equal(BenchCommand.RegressionExitCode, Cli(a, b));
        Assert.Equal(0, Cli(a, b, "--threshold", "0.25")); // within a looser threshold
    }

    [Fact]
    public void Direction_is_respected_for_times()
    {
        string a = Save("a", Run(Baseline));
        var faster = Baseline.ToArray();
        faster[2] = (faster[2].Item1, faster[2].Item2, 0.5e6, faster[2].Item4); // half the time: better
        Assert.Equal(0, Cli(a, Save("faster", Run(faster))));
        var slower = Baseline.ToArray();
        slower[2] = (slower[2].Item1, slower[2].Item2, 1.2e6, slower[2].Item4); // 20% more time: worse
        Assert.Equal(BenchCommand.RegressionExitCode, Cli(a, Save("slower", Run(slower))));
    }

    [Fact]
    public void Missing_and_new_benchmarks_are_listed_not_failed()
    {
        string a = Save("a", Run(Baseline));
        string b = Save("b", Run(Baseline[0], ("CpuOps/Op/tiny Brand new", "GB/s", 1.0, BenchmarkFigure.Higher)));
        var comparison = BenchmarkComparison.Compare(BenchmarkRun.Load(a), BenchmarkRun.Load(b), 0.1);
        Assert.Equal(["CpuOps/Op/tiny GeluForward", "e2e/cpu/tiny/step"], comparison.Missing);
        Assert.Equal(["CpuOps/Op/tiny Brand new"], comparison.Added);
        Assert.Equal(0, Cli(a, b));
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"schema\": 1, \"kind\": \"kernels\"}")]
    [InlineData("{\"schema\": 7, \"kind\": \"k\", \"timestamp\": \"2020-01-01T00:00:00Z\", \"commit\": \"x\", \"machine\": {\"cpuModel\": \"c\", \"cores\": 1, \"os\": \"o\", \"runtime\": \"r\"}, \"results\": []}")]
    [InlineData("{\"schema\": 1, \"kind\": \"k\", \"timestamp\": \"2020-01-01T00:00:00Z\", \"commit\": \"x\", \"machine\": {\"cpuModel\": \"c\", \"cores\": 1, \"os\": \"o\", \"runtime\": \"r\"}, \"results\": [{\"name\": \"a\", \"unit\": \"GB/s\", \"value\": 1, \"better\": \"sideways\"}]}")]
    public void Malformed_files_are_a_clear_error_with_exit_2(string content)
    {
        string good = Save("good", Run(Baseline));
        string bad = Path.Combine(_folder, "bad.json");
        File.WriteAllText(bad, content);
        var error = Assert.Throws<InvalidDataException>(() => BenchmarkRun.Load(bad));
        Assert.Contains(bad, error.Message);
        Assert.Equal(2, Cli(good, bad));
        Assert.Equal(2, Cli(bad, good));
    }

    [Fact]
    public void Usage_errors_exit_2_not_1()
    {
        string good = Save("good", Run(Baseline));
        Assert.Equal(2, Cli(good)); // NEW missing
        Assert.Equal(2, Cli(good, Path.Combine(_folder, "absent.json")));
        Assert.Equal(2, Cli(good, good, "--threshold", "1.5"));
    }
}
