using BenchmarkDotNet.Attributes;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Benchmarks;

/// <summary>
/// CpuMatmul throughput in GFLOP/s: forward (2·N·C·OC flops) and backward dinput+dweight
/// (4·N·C·OC; dbias included, its N·OC adds not counted) at square 512³ and 1024³ and at GPT-2
/// small's MLP and attention-projection shapes (B·T = 512 rows). The yardstick in the same table is a
/// naive single-threaded triple loop at 512³. Peak fp32 here is cores × 2 FMA pipes × 8 lanes × 2 flops × clock
/// (see <see cref="GtaIlgpu.Benchmarking.DevicePeaks.CpuPeak"/>), shown in the "of peak" column.
/// Run: dotnet run -c Release --project benchmarks/GtaIlgpu.Benchmarks -- --filter '*CpuMatmul*' --job short
/// </summary>
[Config(typeof(ThroughputConfig))]
[MemoryDiagnoser]
public class CpuMatmulBenchmarks
{
    public enum Op { Forward, Backward, NaiveForward }

    /// <summary>One benchmarked product: which op, at which (N, C, OC).</summary>
    public sealed record MatmulCase(Op Op, int N, int C, int OC) : IWorkCount, IComparable<MatmulCase>, IComparable
    {
        public double? Flops => (Op == Op.Backward ? 4.0 : 2.0) * N * C * OC;
        public double? Bytes => null;
        public override string ToString() => $"{Op} {N}x{C}x{OC}";

        // The summary sorts parameter values: by op, then by size, rather than by name.
        public int CompareTo(MatmulCase? other) => other is null ? 1
            : Op != other.Op ? Op.CompareTo(other.Op) : Flops!.Value.CompareTo(other.Flops!.Value);
        public int CompareTo(object? other) => CompareTo(other as MatmulCase);
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
        SuitePeaks.Register(typeof(CpuMatmulBenchmarks), GtaIlgpu.Benchmarking.DevicePeaks.CpuPeak().Gflops, null);
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
