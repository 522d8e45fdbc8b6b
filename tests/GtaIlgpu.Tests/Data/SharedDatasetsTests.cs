using GtaIlgpu.Data;
using Xunit.Abstractions;

namespace GtaIlgpu.Tests.Data;

/// <summary>
/// The four paper benchmarks in ../shared/datasets load with their documented sizes. When the folder is
/// absent (a clone without the shared data), the test says so and passes without checking anything.
/// </summary>
public class SharedDatasetsTests(ITestOutputHelper output)
{
    /// <summary>$GTA_DATASETS, then ../shared/datasets above the repository root (or above its parent, for a worktree).</summary>
    internal static string? SharedDatasetsFolder()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("GTA_DATASETS") is { Length: > 0 } env) candidates.Add(env);
        if (DatasetLoader.FindRepositoryRoot() is { } root)
        {
            candidates.Add(Path.Combine(root, "..", "shared", "datasets"));
            candidates.Add(Path.Combine(root, "..", "..", "shared", "datasets"));
        }
        return candidates.Select(Path.GetFullPath).FirstOrDefault(c => File.Exists(Path.Combine(c, "sst5", "train.jsonl")));
    }

    [Theory]
    [InlineData("sst5", 8544, 1101, 2210, 5, false)]
    [InlineData("emotion", 16000, 2000, 2000, 6, false)]
    [InlineData("massive", 11514, 2033, 2974, 18, false)]
    [InlineData("bbc", 1225, 0, 1000, 5, true)]
    public void Shared_benchmark_loads(string name, int train, int validation, int test, int classes, bool carved)
    {
        string? root = SharedDatasetsFolder();
        if (root is null)
        {
            output.WriteLine($"SKIPPED: ../shared/datasets not found (set GTA_DATASETS to check the {name} benchmark)");
            return;
        }
        var splits = DatasetLoader.LoadSplits(Path.Combine(root, name), null, out var report);
        Assert.Equal(name, splits.Name);
        Assert.Equal(classes, splits.Labels.Count);
        Assert.Equal(test, splits.Test.Count);
        Assert.Equal(0, report.SkippedCount);
        if (carved)
        {
            Assert.Equal(train, splits.Train.Count + splits.Validation.Count);
            Assert.Equal(report.CarvedValidationRows, splits.Validation.Count);
            Assert.InRange(splits.Validation.Count, train / 10 - classes, train / 10 + classes);
        }
        else
        {
            Assert.Equal((train, validation), (splits.Train.Count, splits.Validation.Count));
        }
        output.WriteLine($"{name}: labels {string.Join(", ", splits.Labels)}; {splits.Train.Count}/{splits.Validation.Count}/{splits.Test.Count}");
        if (name == "sst5") Assert.Equal(["negative", "neutral", "positive", "very negative", "very positive"], splits.Labels.Order(StringComparer.Ordinal));
    }
}
