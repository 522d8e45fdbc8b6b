namespace GtaIlgpu.Cli.Reporting;

/// <summary>Line charts of metrics against step, written as PNG (ScottPlot, headless) atomically.</summary>
public static class LinePlot
{
    public sealed record Series(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

    public static void Save(string path, string title, string yLabel, IEnumerable<Series> series)
    {
        var plot = new ScottPlot.Plot();
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
        plot.ShowLegend();
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
}
