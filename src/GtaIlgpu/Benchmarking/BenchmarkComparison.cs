namespace GtaIlgpu.Benchmarking;

/// <summary>One benchmark present in both files.</summary>
/// <param name="Ratio">new / base value.</param>
/// <param name="Change">Relative change in the "better" direction: +0.1 = 10% better, −0.1 = 10% worse.</param>
public sealed record ComparedFigure(string Name, string Unit, string Better, double Base, double New, double Ratio, double Change, bool Regressed);

/// <summary>
/// Two results files matched by benchmark name. A benchmark regresses when it is worse than the base
/// by more than the threshold, in its own direction: a throughput below base·(1−threshold), a time
/// above base·(1+threshold).
/// </summary>
public sealed record BenchmarkComparison(IReadOnlyList<ComparedFigure> Matched, IReadOnlyList<string> Missing, IReadOnlyList<string> Added, double Threshold)
{
    public bool HasRegression => Matched.Any(m => m.Regressed);

    public static BenchmarkComparison Compare(BenchmarkRun baseline, BenchmarkRun current, double threshold)
    {
        if (!double.IsFinite(threshold) || threshold < 0 || threshold >= 1)
            throw new ArgumentException($"threshold must be in [0, 1), got {threshold}");
        var now = current.Results.ToDictionary(f => f.Name, StringComparer.Ordinal);
        var matched = new List<ComparedFigure>();
        var missing = new List<string>();
        foreach (var b in baseline.Results)
        {
            if (!now.Remove(b.Name, out var n)) { missing.Add(b.Name); continue; }
            if (n.Better != b.Better || n.Unit != b.Unit)
                throw new InvalidDataException($"benchmark '{b.Name}' is measured in {b.Unit} ({b.Better} is better) in the base but in {n.Unit} ({n.Better} is better) in the new file");
            double ratio = b.Value > 0 ? n.Value / b.Value : n.Value > 0 ? double.PositiveInfinity : 1;
            // For "lower is better", a time that doubles is a 50% loss of speed: compare reciprocals.
            double change = b.Better == BenchmarkFigure.Higher ? ratio - 1 : (ratio > 0 ? 1 / ratio - 1 : double.PositiveInfinity);
            bool regressed = b.Better == BenchmarkFigure.Higher
                ? n.Value < b.Value * (1 - threshold)
                : n.Value > b.Value * (1 + threshold);
            matched.Add(new ComparedFigure(b.Name, b.Unit, b.Better, b.Value, n.Value, ratio, change, regressed));
        }
        var added = current.Results.Where(f => now.ContainsKey(f.Name)).Select(f => f.Name).ToList();
        return new BenchmarkComparison(matched, missing, added, threshold);
    }
}
