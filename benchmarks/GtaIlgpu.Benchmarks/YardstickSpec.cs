using System.Text.Json;
using GtaIlgpu.Benchmarks.EndToEnd;
using GtaIlgpu.Benchmarks.Ops;
using GtaIlgpu.Common;

namespace GtaIlgpu.Benchmarks;

/// <summary>
/// What the PyTorch yardstick (scripts/torch_yardstick.py) must time so that its figures sit next to
/// ours: every matmul shape of the op suites and every end-to-end configuration, each with the name
/// of our results row it is read against. Written by `GtaIlgpu.Benchmarks yardstick-spec`, so the
/// shapes are defined once, here in the benchmarks, and never again in Python.
/// </summary>
public static class YardstickSpec
{
    public sealed record MatmulShape(string Device, string Shape, string Detail, int M, int K, int OC, string ForwardRow, string BackwardRow);

    public sealed record TrainConfig(string Device, string Config, int Layers, int Channels, int Heads, int Vocab, int Batch, int Sequence,
        double FlopsPerToken, string Row);

    public sealed record Spec(int Schema, string Matmul, string Train, List<MatmulShape> MatmulShapes, List<TrainConfig> TrainConfigs);

    /// <summary>The matmul rows of the CPU and CUDA suites and the end-to-end configurations on both devices.</summary>
    public static Spec Build()
    {
        var matmuls = new List<MatmulShape>();
        foreach (var (suite, device, shapes) in new[]
        {
            (typeof(CpuOpsBenchmarks), "cpu", CpuOpsBenchmarks.Shapes),
            (typeof(CudaOpsBenchmarks), "cuda", CudaOpsBenchmarks.Shapes),
        })
        {
            foreach (var forward in shapes.SelectMany(s => OpCases.For(s, withCublas: false)).Where(c => c.Op == OpKind.MatmulForward))
            {
                var backward = forward with { Op = OpKind.MatmulBackward };
                matmuls.Add(new MatmulShape(device, forward.Shape.Name, forward.Detail, forward.M, forward.K, forward.OC,
                    OpsBenchmarkBase.RowName(suite, forward), OpsBenchmarkBase.RowName(suite, backward)));
            }
        }
        var trains = new List<TrainConfig>();
        foreach (string device in new[] { "cpu", "cuda" })
        {
            // The torch yardstick's training step is a hand-written GPT-2: the Llama-family configs have none.
            foreach (var e in EndToEndConfig.All.Where(e => e.Shape is null))
            {
                int sequence = device == "cpu" ? e.CpuSequence : e.GpuSequence;
                trains.Add(new TrainConfig(device, e.Name, e.Layers, e.Channels, e.Heads, e.Vocab, e.Batch, sequence,
                    EndToEndBenchmark.TrainFlopsPerToken(e, sequence), EndToEndBenchmark.TrainRowName(device, e)));
            }
        }
        return new Spec(1,
            "forward: output (M,OC) = input (M,K) · weight (OC,K)ᵀ (+ bias); backward: dinput += doutput · weight and dweight += doutputᵀ · input; flops 2·M·K·OC forward, twice that backward",
            "a GPT-2 training step (forward, mean cross-entropy over every position, backward, global-norm clipping at 1, AdamW β 0.9/0.95, ε 1e-8, weight decay 0.1), fp32, on random tokens; flopsPerToken as in our MFU",
            matmuls, trains);
    }

    /// <summary>Writes DIR/yardstick-spec.json atomically; returns its path.</summary>
    public static string Save(string folder)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "yardstick-spec.json");
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };
        AtomicFile.WriteText(path, JsonSerializer.Serialize(Build(), options) + "\n");
        return path;
    }
}
