namespace GtaIlgpu.Data;

/// <summary>One classification example; Source names where it came from (file:line, or a corpus name).</summary>
public sealed record LabeledExample(string Text, string Label, string Source);

/// <summary>Train, validation and test lists of one dataset.</summary>
public sealed record DatasetSplits(string Name, IReadOnlyList<LabeledExample> Train, IReadOnlyList<LabeledExample> Validation, IReadOnlyList<LabeledExample> Test)
{
    /// <summary>Labels in order of first appearance in the training split (stable across runs).</summary>
    public IReadOnlyList<string> Labels => Train.Select(e => e.Label).Distinct().ToList();
}
