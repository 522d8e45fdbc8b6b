using System.CommandLine;
using System.Globalization;
using GtaIlgpu.Benchmarking;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta bench compare BASE.json NEW.json [--threshold 0.1]`: a regression gate over two results files
/// written by the benchmarks (docs/benchmarks/README.md). Exit 0: no benchmark worse than the
/// threshold; 1: at least one regressed; 2: bad usage or a malformed file.
/// </summary>
public static class BenchCommand
{
    public const int RegressionExitCode = 1;

    public static Command Build()
    {
        var command = new Command("bench", "benchmark results: compare two runs");
        command.Subcommands.Add(BuildCompare());
        return command;
    }

    private static Command BuildCompare()
    {
        var baseline = new Argument<FileInfo>("BASE") { Description = "results file of the reference run (kernels.json or e2e.json)" };
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

    private static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;
}
