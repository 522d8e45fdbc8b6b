using System.CommandLine;
using System.Globalization;
using GtaIlgpu.Benchmarking;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta bench compare BASE.json NEW.json [--threshold 0.1]`: a regression gate over two results files
/// written by the benchmarks (docs/benchmarks/README.md). Exit 0: no benchmark worse than the
/// threshold; 1: at least one regressed; 2: bad usage or a malformed file. Given two kernel resource
/// reports it compares those instead (a kernel that newly spills or loses occupancy is a regression).
/// `gta bench resources [--out DIR]`: assembles every kernel with ptxas -v for sm_80 and sm_90 and
/// writes kernel-resources.json/.md (registers, shared memory, spills, stack, theoretical occupancy).
/// </summary>
public static class BenchCommand
{
    public const int RegressionExitCode = 1;

    public static Command Build()
    {
        var command = new Command("bench", "benchmark results: compare two runs; per-kernel resource report");
        command.Subcommands.Add(BuildCompare());
        command.Subcommands.Add(BuildResources());
        return command;
    }

    private static Command BuildResources()
    {
        var output = new Option<DirectoryInfo>("--out")
        {
            Description = "folder for kernel-resources.json and kernel-resources.md",
            DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("docs", "benchmarks")),
        };
        var ptxas = new Option<FileInfo?>("--ptxas")
        {
            Description = $"NVIDIA ptxas to use (default: ${PtxasLocator.PathVariable}, the cached copy, PATH, else {PtxasLocator.FetchScript} fetches one)",
        };
        var command = new Command("resources", "assemble every kernel with ptxas -v for sm_80 and sm_90; write registers, shared memory, spills and theoretical occupancy");
        command.Options.Add(output);
        command.Options.Add(ptxas);
        command.SetAction(parse => Resources(parse.GetValue(output)!.FullName, parse.GetValue(ptxas)?.FullName));
        return command;
    }

    public static int Resources(string folder, string? ptxasPath)
    {
        var ptxas = ptxasPath is not null ? Ptxas.Open(ptxasPath) : PtxasLocator.Locate(fetch: true).Require();
        AnsiConsole.MarkupLineInterpolated($"[grey]ptxas:[/] {ptxas.Path} ({ptxas.Version})");
        using var compiler = new PtxCompiler(PtxCompiler.AssemblerInstructionSet);
        var report = KernelResourceReport.Generate(ptxas, compiler, KernelCatalog.Kernels, SmLimits.Targets, BenchmarkRun.DetectCommit());
        string json = report.Save(folder, "kernel-resources");
        var inv = CultureInfo.InvariantCulture;
        var table = new Table().AddColumns("kernel", "arch", "threads", "regs", "smem", "spill st/ld", "occupancy", "limited by");
        foreach (var r in report.Results)
            table.AddRow(Markup.Escape(r.Kernel), r.Architecture, r.GroupSize.ToString(inv), r.Registers.ToString(inv), r.StaticSharedBytes.ToString(inv),
                $"{r.SpillStoreBytes}/{r.SpillLoadBytes}", r.Occupancy.ToString("P1", inv), r.Occupancy < 1 ? Markup.Escape(string.Join(", ", r.LimitedBy)) : "");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[green]wrote[/] {json} and its .md ({report.Results.Count} kernel × architecture rows)");
        return 0;
    }

    private static Command BuildCompare()
    {
        var baseline = new Argument<FileInfo>("BASE") { Description = "results file of the reference run (kernels.json, e2e.json or kernel-resources.json)" };
        var current = new Argument<FileInfo>("NEW") { Description = "results file of the run under test" };
        var threshold = new Option<double>("--threshold")
        {
            Description = "allowed relative slowdown per benchmark before it counts as a regression (0.1 = 10%)",
            DefaultValueFactory = _ => 0.1,
        };
        var command = new Command("compare", "print new/base ratios per benchmark; exit 1 when any is slower than the threshold allows");
        command.Arguments.Add(baseline);
        command.Arguments.Add(current);
        command.Options.Add(threshold);
        command.SetAction(parse => Compare(parse.GetValue(baseline)!.FullName, parse.GetValue(current)!.FullName, parse.GetValue(threshold)));
        return command;
    }

    public static int Compare(string basePath, string newPath, double threshold)
    {
        bool baseIsResources = KernelResourceReport.IsResourceReport(basePath), newIsResources = KernelResourceReport.IsResourceReport(newPath);
        if (baseIsResources != newIsResources)
            throw new InvalidDataException($"{(baseIsResources ? basePath : newPath)} is a kernel resource report but {(baseIsResources ? newPath : basePath)} is not: compare like with like");
        if (baseIsResources) return CompareResources(basePath, newPath);

        var baseRun = BenchmarkRun.Load(basePath);
        var newRun = BenchmarkRun.Load(newPath);
        var comparison = BenchmarkComparison.Compare(baseRun, newRun, threshold);
        var inv = CultureInfo.InvariantCulture;

        AnsiConsole.MarkupLineInterpolated($"[grey]base:[/] {basePath} ({baseRun.Kind}, commit {Short(baseRun.Commit)}, {baseRun.Machine.CpuModel}{(baseRun.Machine.Gpu is { } g1 ? ", " + g1 : "")})");
        AnsiConsole.MarkupLineInterpolated($"[grey]new:[/]  {newPath} ({newRun.Kind}, commit {Short(newRun.Commit)}, {newRun.Machine.CpuModel}{(newRun.Machine.Gpu is { } g2 ? ", " + g2 : "")})");
        if (baseRun.Machine.CpuModel != newRun.Machine.CpuModel || baseRun.Machine.Gpu != newRun.Machine.Gpu)
            AnsiConsole.MarkupLine("[yellow]warning:[/] the two runs come from different machines; ratios compare hardware as much as code");

        var table = new Table().AddColumns("benchmark", "unit", "base", "new", "new/base", "change", "");
        foreach (var m in comparison.Matched)
        {
            string verdict = m.Regressed ? "[red]REGRESSION[/]" : m.Change > threshold ? "[green]faster[/]" : "";
            table.AddRow(Markup.Escape(m.Name), Markup.Escape(m.Unit), BenchmarkRun.Format(m.Base), BenchmarkRun.Format(m.New),
                m.Ratio.ToString("F3", inv), m.Change.ToString("+0.0%;-0.0%;0.0%", inv), verdict);
        }
        AnsiConsole.Write(table);
        foreach (var name in comparison.Missing) AnsiConsole.MarkupLineInterpolated($"[yellow]missing in new:[/] {name}");
        foreach (var name in comparison.Added) AnsiConsole.MarkupLineInterpolated($"[grey]new benchmark:[/] {name}");

        int regressions = comparison.Matched.Count(m => m.Regressed);
        if (regressions > 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{regressions} of {comparison.Matched.Count} benchmarks regressed by more than {threshold.ToString("P0", inv)}[/]");
            return RegressionExitCode;
        }
        AnsiConsole.MarkupLineInterpolated($"[green]no regression beyond {threshold.ToString("P0", inv)} in {comparison.Matched.Count} matched benchmarks[/]");
        return 0;
    }

    public static int CompareResources(string basePath, string newPath)
    {
        var baseReport = KernelResourceReport.Load(basePath);
        var newReport = KernelResourceReport.Load(newPath);
        var comparison = ResourceComparison.Compare(baseReport, newReport);
        var inv = CultureInfo.InvariantCulture;
        AnsiConsole.MarkupLineInterpolated($"[grey]base:[/] {basePath} (commit {Short(baseReport.Commit)}, {baseReport.Ptxas})");
        AnsiConsole.MarkupLineInterpolated($"[grey]new:[/]  {newPath} (commit {Short(newReport.Commit)}, {newReport.Ptxas})");
        if (baseReport.Ptxas != newReport.Ptxas)
            AnsiConsole.MarkupLine("[yellow]warning:[/] the two reports come from different ptxas releases; register counts compare assemblers as much as code");

        var table = new Table().AddColumns("kernel", "arch", "registers", "spill st/ld", "occupancy", "");
        foreach (var (b, n) in comparison.Matched)
        {
            bool flagged = comparison.Findings.Any(f => f.Kernel == n.Kernel && f.Architecture == n.Architecture);
            if (!flagged && b.Registers == n.Registers && b.Spills == n.Spills && b.Occupancy == n.Occupancy) continue;
            table.AddRow(Markup.Escape(n.Kernel), n.Architecture, $"{b.Registers} → {n.Registers}",
                $"{b.SpillStoreBytes}/{b.SpillLoadBytes} → {n.SpillStoreBytes}/{n.SpillLoadBytes}",
                $"{b.Occupancy.ToString("P1", inv)} → {n.Occupancy.ToString("P1", inv)}", flagged ? "[red]REGRESSION[/]" : "");
        }
        if (table.Rows.Count > 0) AnsiConsole.Write(table);
        foreach (var name in comparison.Missing) AnsiConsole.MarkupLineInterpolated($"[yellow]missing in new:[/] {name}");
        foreach (var name in comparison.Added) AnsiConsole.MarkupLineInterpolated($"[grey]new kernel:[/] {name}");
        foreach (var finding in comparison.Findings)
            AnsiConsole.MarkupLineInterpolated($"[red]{finding.Kernel} ({finding.Architecture}):[/] {finding.Problem}");
        if (comparison.Findings.Count > 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{comparison.Findings.Count} resource regression(s) in {comparison.Matched.Count} matched kernel × architecture rows[/]");
            return RegressionExitCode;
        }
        AnsiConsole.MarkupLineInterpolated($"[green]no kernel newly spills or loses occupancy in {comparison.Matched.Count} matched rows[/]");
        return 0;
    }

    private static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;
}
