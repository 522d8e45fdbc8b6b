using System.CommandLine;
using GtaIlgpu.Data;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>`gta data fetch NAME [--out DIR]`: download a paper benchmark from Hugging Face into our JSONL layout.</summary>
public static class DataCommand
{
    public static Command Build()
    {
        var name = new Argument<string>("name") { Description = $"benchmark to download: {string.Join("|", DatasetLoader.BenchmarkNames)}" };
        name.AcceptOnlyFromAmong([.. DatasetLoader.BenchmarkNames]);
        var output = new Option<DirectoryInfo?>("--out") { Description = "folder for train/validation/test.jsonl (default: the cache, GTA_CACHE or ~/.cache/gta-ilgpu, /datasets/NAME, where --data NAME finds it)" };
        var fetch = new Command("fetch", "download a paper benchmark (SST-5, Emotion, MASSIVE, BBC News) from the Hugging Face hub");
        fetch.Arguments.Add(name);
        fetch.Options.Add(output);
        fetch.SetAction(parse => Fetch(parse.GetValue(name)!, parse.GetValue(output)));

        var data = new Command("data", "datasets: download the paper benchmarks");
        data.Subcommands.Add(fetch);
        return data;
    }

    private static int Fetch(string name, DirectoryInfo? outDir)
    {
        string folder = outDir?.FullName ?? DatasetLoader.FetchedFolder(name);
        var source = BenchmarkFetcher.Sources[name];
        AnsiConsole.MarkupLineInterpolated($"[grey]fetching[/] {source.Dataset} ({source.Config}) from {BenchmarkFetcher.Endpoint} into {folder}");
        IReadOnlyDictionary<string, int> counts = new Dictionary<string, int>();
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = source.Splits.ToDictionary(s => s, s => ctx.AddTask(s, autoStart: true, maxValue: 1));
                counts = BenchmarkFetcher.Fetch(name, folder, progress: (split, done, total) =>
                {
                    var task = tasks[split];
                    task.MaxValue = Math.Max(1, total);
                    task.Value = done;
                });
            });
        var splits = DatasetLoader.LoadSplits(folder);
        AnsiConsole.MarkupLineInterpolated(
            $"wrote {string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value}"))} rows; {splits.Labels.Count} labels: {string.Join(", ", splits.Labels)}");
        return 0;
    }
}
