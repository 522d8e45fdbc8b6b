using GtaIlgpu.Cli.Reporting;
using ScottPlot;
using Xunit;

namespace GtaIlgpu.Tests.Cli;

public class LinePlotTests
{
    private static LinePlot.Series Line(string name, params (double X, double Y)[] points) =>
        new(name, points.Select(p => p.X).ToList(), points.Select(p => p.Y).ToList());

    [Fact]
    public void RisingCurvesKeepTheLegendLowerRight()
    {
        var series = new[] { Line("a", (0, 0.0), (40, 0.5), (120, 0.8)), Line("b", (0, 0.05), (120, 0.6)) };
        Assert.Equal(Alignment.LowerRight, LinePlot.LegendCorner(series));
    }

    [Fact]
    public void FallingCurvesMoveTheLegendUp()
    {
        var series = new[] { Line("loss", (0, 8.0), (60, 4.0), (120, 3.0)) };
        Assert.Equal(Alignment.UpperRight, LinePlot.LegendCorner(series));
    }

    [Fact]
    public void AFlatLineAlongTheBottomAndRisingOnesLeaveOnlyTheUpperLeft()
    {
        // The MASSIVE ablation figure: GTA(RL) stays near zero over all steps while the others rise,
        // so both lower corners and the upper right are covered; the sparse points are sampled along
        // their segments, so the rising lines count where they pass, not only at their 4 points.
        var series = new[]
        {
            Line("gate", (0, 0.04), (40, 0.25), (80, 0.59), (120, 0.71)),
            Line("none", (0, 0.04), (40, 0.51), (80, 0.71), (120, 0.80)),
            Line("rl", (0, 0.04), (40, 0.035), (80, 0.005), (120, 0.10)),
        };
        Assert.Equal(Alignment.UpperLeft, LinePlot.LegendCorner(series));
    }

    [Fact]
    public void ASegmentCrossingACornerCountsThereEvenWithBothEndsOutside()
    {
        // From (0.5, 0) to (1, 0.5) of the data's range: neither end is in the lower-right box (outer 40%),
        // the middle of the segment is. A legend there would sit on the line.
        var series = new[] { Line("crossing", (60, 0), (120, 50)), Line("range", (0, 100)) };
        Assert.Equal(Alignment.UpperRight, LinePlot.LegendCorner(series));
    }

    [Fact]
    public void NoPointsOrOnlyNaNFallBackToLowerRight()
    {
        Assert.Equal(Alignment.LowerRight, LinePlot.LegendCorner([]));
        Assert.Equal(Alignment.LowerRight, LinePlot.LegendCorner([Line("nan", (0, double.NaN), (1, double.NaN))]));
    }
}
