using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GtaIlgpu.Benchmarks;

/// <summary>
/// A benchmark parameter that knows the work of one invocation: floating-point operations for
/// compute-bound ops (matmul, attention), or bytes read plus written for memory-bound ones (null otherwise).
/// </summary>
public interface IWorkCount
{
    double? Flops { get; }
    double? Bytes { get; }
}

/// <summary>
/// A parameter that can name its yardstick: another case of the same suite, measured in the same run,
/// whose throughput this one is read against (a plain copy for memory-bound ops, cuBLAS for matmul).
/// </summary>
public interface IYardstickCase
{
    string Key { get; }
    string? YardstickKey { get; }
}

/// <summary>
/// Device peaks per suite, registered by each suite's setup (runs are in-process, so the columns see
/// them when the summary is printed). GFLOP/s for compute-bound rows, GB/s for memory-bound ones.
/// </summary>
public static class SuitePeaks
{
    private static readonly ConcurrentDictionary<Type, (double? Gflops, double? GBps)> Peaks = new();

    public static void Register(Type suite, double? gflops, double? gbps) => Peaks[suite] = (gflops, gbps);

    public static (double? Gflops, double? GBps) For(Type suite) => Peaks.TryGetValue(suite, out var p) ? p : (null, null);
}

/// <summary>How one benchmark row converts into throughput: its work, its time, its yardstick and peak.</summary>
public static class Throughput
{
    public enum Metric { None, Gflops, GBps }

    public static T? Parameter<T>(BenchmarkCase benchmarkCase) where T : class
    {
        foreach (var parameter in benchmarkCase.Parameters.Items)
            if (parameter.Value is T value) return value;
        return null;
    }

    /// <summary>GFLOP/s when the case counts flops, else GB/s when it counts bytes (both per ns = per second·1e-9).</summary>
    public static (double? Value, Metric Metric) Of(Summary summary, BenchmarkCase benchmarkCase)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        var work = Parameter<IWorkCount>(benchmarkCase);
        if (work?.Flops is double flops) return (meanNs is > 0 ? flops / meanNs.Value : null, Metric.Gflops);
        if (work?.Bytes is double bytes) return (meanNs is > 0 ? bytes / meanNs.Value : null, Metric.GBps);
        return (null, Metric.None);
    }

    public static double? FractionOfPeak(Summary summary, BenchmarkCase benchmarkCase)
    {
        var (value, metric) = Of(summary, benchmarkCase);
        var (gflops, gbps) = SuitePeaks.For(benchmarkCase.Descriptor.Type);
        double? peak = metric == Metric.Gflops ? gflops : metric == Metric.GBps ? gbps : null;
        return value is double v && peak is > 0 ? v / peak.Value : null;
    }

    /// <summary>This row's throughput over its yardstick's, both from the same summary (same run).</summary>
    public static (double? Fraction, string? Yardstick) FractionOfYardstick(Summary summary, BenchmarkCase benchmarkCase)
    {
        if (Parameter<IYardstickCase>(benchmarkCase) is not { YardstickKey: { } key }) return (null, null);
        var (value, metric) = Of(summary, benchmarkCase);
        foreach (var other in summary.BenchmarksCases)
        {
            if (other.Descriptor.Type != benchmarkCase.Descriptor.Type || Parameter<IYardstickCase>(other)?.Key != key) continue;
            var (reference, referenceMetric) = Of(summary, other);
            if (value is double v && reference is > 0 && referenceMetric == metric) return (v / reference.Value, key);
        }
        return (null, key);
    }
}

public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(new ThroughputColumn(Throughput.Metric.Gflops), new ThroughputColumn(Throughput.Metric.GBps),
            new FractionOfPeakColumn(), new FractionOfYardstickColumn());
        WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(64));
    }
}

/// <summary>Shared plumbing of our custom columns: numeric, always shown, custom category.</summary>
public abstract class CustomColumn : IColumn
{
    public abstract string Id { get; }
    public abstract string ColumnName { get; }
    public abstract string Legend { get; }
    public abstract int PriorityInCategory { get; }
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);
    public abstract string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style);

    protected static string Format(double? value, string format) =>
        value is double v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}

/// <summary>GFLOP/s (flops from the case over the mean time) or GB/s (bytes read + written over the mean time).</summary>
public sealed class ThroughputColumn(Throughput.Metric metric) : CustomColumn
{
    public override string Id => $"Throughput{metric}";
    public override string ColumnName => metric == Throughput.Metric.Gflops ? "GFLOP/s" : "GB/s";
    public override int PriorityInCategory => metric == Throughput.Metric.Gflops ? 0 : 1;
    public override string Legend => metric == Throughput.Metric.Gflops
        ? "Billions of floating-point operations per second (flops counted by the case, over the mean time)"
        : "Gigabytes per second read plus written (bytes counted by the case, over the mean time)";

    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var (value, m) = Throughput.Of(summary, benchmarkCase);
        return m == metric ? Format(value, "F1") : "-";
    }
}

public sealed class FractionOfPeakColumn : CustomColumn
{
    public override string Id => "FractionOfPeak";
    public override string ColumnName => "of peak";
    public override int PriorityInCategory => 2;
    public override string Legend => "Fraction of the device's fp32 peak (GFLOP/s rows) or memory bandwidth (GB/s rows, GPU only), where known";
    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        Format(Throughput.FractionOfPeak(summary, benchmarkCase), "P1");
}

public sealed class FractionOfYardstickColumn : CustomColumn
{
    public override string Id => "FractionOfYardstick";
    public override string ColumnName => "of yardstick";
    public override int PriorityInCategory => 3;
    public override string Legend => "Throughput over the yardstick's in the same run (Copy rows for memory-bound ops; cuBLAS rows for matmul on CUDA)";
    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        Format(Throughput.FractionOfYardstick(summary, benchmarkCase).Fraction, "P1");
}
