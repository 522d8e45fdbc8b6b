namespace GtaIlgpu.Data;

/// <summary>One classification example; Source names where it came from (file:line, or a corpus name).</summary>
public sealed record LabeledExample(string Text, string Label, string Source);

/// <summary>Train, validation and test lists of one dataset.</summary>
public sealed record DatasetSplits(string Name, IReadOnlyList<LabeledExample> Train, IReadOnlyList<LabeledExample> Validation, IReadOnlyList<LabeledExample> Test)
{
    /// <summary>Labels in order of first appearance in the training split (stable across runs).</summary>
    public IReadOnlyList<string> Labels => Train.Select(e => e.Label).Distinct().ToList();

    /// <summary>Seed of <see cref="ValidationSample"/>: one constant, so every method, seed and run of a dataset is validated on the same examples.</summary>
    public const ulong ValidationSampleSeed = 20151;

    /// <summary>
    /// The periodic-validation subset: all of Validation when count covers it, else count examples drawn
    /// by a seeded shuffle, kept in file order. Not the first count rows: benchmark files are often
    /// grouped by label or source (the first 200 of SST-5's validation file are 85% positive).
    /// </summary>
    public IReadOnlyList<LabeledExample> ValidationSample(int count)
    {
        if (count >= Validation.Count) return Validation;
        var indices = Enumerable.Range(0, Validation.Count).ToArray();
        new Common.Rng(ValidationSampleSeed).Shuffle<int>(indices);
        return indices.Take(Math.Max(0, count)).Order().Select(i => Validation[i]).ToList();
    }
}
