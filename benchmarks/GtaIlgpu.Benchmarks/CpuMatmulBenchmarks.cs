using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Benchmarks;

/// <summary>
/// CpuMatmul throughput in GFLOP/s: forward (2·N·C·OC flops) and backward dinput+dweight
/// (4·N·C·OC; dbias included, its N·OC adds not counted) at square 512³ and 1024³ and at GPT-2
/// small's MLP and attention-projection shapes (B·T = 512 rows). The yardstick in the same table is a
/// naive single-threaded triple loop at 512³. Peak fp32 here is cores × 2 FMA pipes × 8 lanes × 2 flops × clock.
/// Run: dotnet run -c Release --project benchmarks/GtaIlgpu.Benchmarks -- --filter '*CpuMatmul*' --job short --inProcess
/// </summary>
[Config(typeof(GFlopsConfig))]
[MemoryDiagnoser]
public class CpuMatmulBenchmarks
{
    public enum Op { Forward, Backward, NaiveForward }

    /// <summary>One benchmarked product: which op, at which (N, C, OC).</summary>
    public sealed record MatmulCase(Op Op, int N, int C, int OC) : IFlopCount
    {
        public double Flops => (Op == Op.Backward ? 4.0 : 2.0) * N * C * OC;
        public override string ToString() => $"{Op} {N}x{C}x{OC}";
    }

    public static IEnumerable<MatmulCase> Cases()
    {
        yield return new MatmulCase(Op.NaiveForward, 512, 512, 512);
        foreach (var op in new[] { Op.Forward, Op.Backward })
        {
            yield return new MatmulCase(op, 512, 512, 512);
            yield return new MatmulCase(op, 1024, 1024, 1024);
            yield return new MatmulCase(op, 512, 768, 3072);  // GPT-2 small MLP up-projection (c_fc)
            yield return new MatmulCase(op, 512, 768, 2304);  // GPT-2 small attention qkv (c_attn)
        }
    }

    [ParamsSource(nameof(Cases))]
    public MatmulCase Case { get; set; } = new(Op.Forward, 1, 1, 1);

    private float[] _input = [], _weight = [], _bias = [], _output = [];
    private float[] _dinput = [], _dweight = [], _dbias = [];

    [GlobalSetup]
    public void Setup()
    {
        var (n, c, oc) = (Case.N, Case.C, Case.OC);
        var rng = new Random(42);
        float[] Fill(int length)
        {
            var x = new float[length];
            for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            return x;
        }
        _input = Fill(n * c);
        _weight = Fill(oc * c);
        _bias = Fill(oc);
        _output = Fill(n * oc); // doubles as doutput for Backward
        _dinput = new float[n * c];
        _dweight = new float[oc * c];
        _dbias = new float[oc];
    }

    [Benchmark]
    public void Matmul()
    {
        var (n, c, oc) = (Case.N, Case.C, Case.OC);
        switch (Case.Op)
        {
            case Op.Forward:
                CpuMatmul.Forward(_output, _input, _weight, _bias, n, c, oc);
                break;
            case Op.Backward:
                CpuMatmul.Backward(_dinput, _dweight, _dbias, _output, _input, _weight, n, c, oc);
                break;
            case Op.NaiveForward:
                NaiveForward(_output, _input, _weight, _bias, n, c, oc);
                break;
        }
    }

    /// <summary>The textbook loop (llm.c's matmul_forward_naive): one thread, one dot product per output.</summary>
    private static void NaiveForward(float[] output, float[] input, float[] weight, float[] bias, int N, int C, int OC)
    {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++)
            {
                float sum = bias[o];
                for (int c = 0; c < C; c++) sum += input[n * C + c] * weight[o * C + c];
                output[n * OC + o] = sum;
            }
    }
}

/// <summary>A benchmark parameter that knows how many floating-point operations one invocation performs.</summary>
public interface IFlopCount
{
    double Flops { get; }
}

public sealed class GFlopsConfig : ManualConfig
{
    public GFlopsConfig()
    {
        AddColumn(new GFlopsColumn());
        WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared));
        WithSummaryStyle(SummaryStyle.Default.WithMaxParameterColumnWidth(40));
    }
}

/// <summary>GFLOP/s = the flop count of the case's <see cref="IFlopCount"/> parameter / the mean time.</summary>
public sealed class GFlopsColumn : IColumn
{
    public string Id => nameof(GFlopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Billions of floating-point operations per second (flops from the case, over the mean time)";

    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        double? flops = null;
        foreach (var parameter in benchmarkCase.Parameters.Items)
            if (parameter.Value is IFlopCount count) flops = count.Flops;
        if (meanNs is not > 0 || flops is null) return "NA";
        return (flops.Value / meanNs.Value).ToString("F1", System.Globalization.CultureInfo.InvariantCulture); // flops per ns = GFLOP/s
    }
}
