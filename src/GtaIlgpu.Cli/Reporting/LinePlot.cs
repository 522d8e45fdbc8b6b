namespace GtaIlgpu.Cli.Reporting;

/// <summary>Line charts of metrics against step, written as PNG (ScottPlot, headless) atomically.</summary>
public static class LinePlot
{
    public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

    public static void Save(string path, string title, string yLabel, IEnumerable<Series> series)
    {
        var plot = new ScottPlot.Plot();
        series = series.ToList();
        foreach (var s in series)
        {
            if (s.X.Count == 0) continue;
            var line = plot.Add.Scatter(s.X.ToArray(), s.Y.ToArray());
            line.LegendText = s.Name;
            line.LineWidth = 2;
            line.MarkerSize = s.X.Count <= 30 ? 5 : 0;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(yLabel);
        plot.ShowLegend(LegendCorner(series));
        string temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.png");
        try
        {
            plot.SavePng(temporary, 900, 520);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>
    /// The corner where the legend hides the least of the lines: the one whose box (the outer 40% of
    /// each axis, in the data's range) holds the fewest points along the lines — the segments are
    /// sampled too, since validation curves have only a few points. Ties go to the first of lower
    /// right, upper right, lower left, upper left.
    /// </summary>
    public static ScottPlot.Alignment LegendCorner(IEnumerable<Series> series)
    {
        var points = new List<(double X, double Y)>();
        foreach (var s in series)
            for (int i = 0; i < s.X.Count; i++)
            {
                points.Add((s.X[i], s.Y[i]));
                if (i + 1 < s.X.Count)
                    for (int k = 1; k < SamplesPerSegment; k++)
                    {
                        double t = k / (double)SamplesPerSegment;
                        points.Add((s.X[i] + t * (s.X[i + 1] - s.X[i]), s.Y[i] + t * (s.Y[i + 1] - s.Y[i])));
                    }
            }
        var finite = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList();
        if (finite.Count == 0) return ScottPlot.Alignment.LowerRight;
        double xMin = finite.Min(p => p.X), xSpan = Math.Max(finite.Max(p => p.X) - xMin, 1e-12);
        double yMin = finite.Min(p => p.Y), ySpan = Math.Max(finite.Max(p => p.Y) - yMin, 1e-12);
        (ScottPlot.Alignment Corner, bool Right, bool Upper)[] corners =
        [
            (ScottPlot.Alignment.LowerRight, true, false), (ScottPlot.Alignment.UpperRight, true, true),
            (ScottPlot.Alignment.LowerLeft, false, false), (ScottPlot.Alignment.UpperLeft, false, true),
        ];
        var best = corners[0];
        int fewest = int.MaxValue;
        foreach (var corner in corners)
        {
            int count = finite.Count(p =>
            {
                double x = (p.X - xMin) / xSpan, y = (p.Y - yMin) / ySpan;
                return (corner.Right ? x >= 1 - CornerShare : x <= CornerShare) && (corner.Upper ? y >= 1 - CornerShare : y <= CornerShare);
            });
            if (count < fewest) (best, fewest) = (corner, count);
        }
        return best.Corner;
    }

    private const int SamplesPerSegment = 16;
    private const double CornerShare = 0.4;
}
