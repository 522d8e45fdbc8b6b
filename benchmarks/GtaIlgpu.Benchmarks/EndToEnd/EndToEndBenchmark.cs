using System.Diagnostics;
using System.Globalization;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Benchmarking;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Benchmarks.EndToEnd;

/// <summary>A model configuration measured end to end; the sequence differs between CPU and GPU.</summary>
public sealed record EndToEndConfig(string Name, int Layers, int Channels, int Heads, int Vocab, int CpuSequence, int GpuSequence, int Batch)
{
    /// <summary>tiny and small use a vocabulary of 8192, about the compact vocabulary `gta pretrain` builds; gpt2 uses GPT-2's 50257.</summary>
    public static readonly EndToEndConfig[] All =
    [
        new("tiny", 4, 256, 4, 8192, 128, 128, 8),
        new("small", 6, 384, 6, 8192, 256, 256, 8),
        new("gpt2-124M", 12, 768, 12, 50257, 64, 1024, 4),
    ];
}

/// <summary>What one (device, config) measured.</summary>
public sealed record EndToEndResult(string Device, EndToEndConfig Config, int Sequence, double TrainStepSeconds, double TrainTokensPerSecond,
    double TrainFlopsPerToken, double GenerateSeconds, int GeneratedTokens, double GenerateTokensPerSecond, double GenerateFlops, double? PeakGflops)
{
    public double? TrainMfu => PeakGflops is > 0 ? TrainTokensPerSecond * TrainFlopsPerToken / (PeakGflops.Value * 1e9) : null;
    public double? GenerateMfu => PeakGflops is > 0 ? GenerateFlops / GenerateSeconds / (PeakGflops.Value * 1e9) : null;
}

/// <summary>
/// Training-step and rollout throughput on synthetic tokens (throughput does not depend on the text).
/// Training: the real <see cref="LanguageModelTrainer"/> step (forward, fused loss, backward, AdamW),
/// warm-up steps first, then the median of the measured steps. Rollout: <see cref="Generator"/> with
/// B prompts of 8 tokens, prefill plus decode steps with temperature-1 sampling, timed as a whole after a
/// short warm-up generation. Model FLOPs use the PaLM/nanoGPT convention: 6·N + 12·L·C·T per trained
/// token and 2·N + 4·L·C·context per generated (or prefilled) token, N = GptConfig.MatmulParameters.
/// </summary>
public static class EndToEndBenchmark
{
    public const int PromptLength = 8;

    public static EndToEndResult Measure(IBackend backend, EndToEndConfig e, int steps, int warmupSteps, int newTokens, double? peakGflops, Action<string> log)
    {
        bool gpu = backend is IlgpuBackend { Kind: not IlgpuDeviceKind.Cpu };
        int T = gpu ? e.GpuSequence : e.CpuSequence;
        int generationWindow = Math.Max(T, PromptLength + newTokens);
        var config = new GptConfig(e.Layers, e.Channels, e.Heads, e.Vocab, generationWindow);
        using var model = new Gpt(backend, config);
        model.InitializeWeights(1337);

        var rng = new Rng(42);
        var stream = new int[Math.Max(64 * 1024, 4 * e.Batch * (T + 1))];
        for (int i = 0; i < stream.Length; i++) stream[i] = rng.NextInt(e.Vocab);

        // ---- training ----
        var settings = new PretrainSettings { Batch = e.Batch, Sequence = T, Steps = warmupSteps + steps, LearningRate = 1e-4f, WarmupSteps = 1 };
        var stepSeconds = new List<double>();
        using (var trainer = new LanguageModelTrainer(model, stream, settings))
        {
            for (int s = 0; s < warmupSteps + steps; s++)
            {
                var report = trainer.Step();
                if (s >= warmupSteps) stepSeconds.Add(report.Seconds);
                log($"  {e.Name} train step {s + 1}/{warmupSteps + steps}: {report.Seconds * 1e3:F0} ms, loss {report.Loss:F3}{(s < warmupSteps ? " (warm-up)" : "")}");
            }
        }
        double stepTime = Median(stepSeconds);
        long N = config.MatmulParameters;
        double trainFlopsPerToken = 6.0 * N + 12.0 * e.Layers * e.Channels * T;

        // ---- rollout ----
        using var generator = new Generator(model, e.Batch, generationWindow);
        var prompts = Enumerable.Range(0, e.Batch).Select(_ => Enumerable.Range(0, PromptLength).Select(_ => rng.NextInt(e.Vocab)).ToArray()).ToArray();
        var sampling = new SamplingSettings(Temperature: 1f);
        generator.Generate(prompts, Math.Min(4, newTokens), sampling, new Rng(7)); // warm-up: kernels, pools
        backend.Synchronize();
        long start = Stopwatch.GetTimestamp();
        var completions = generator.Generate(prompts, newTokens, sampling, new Rng(8));
        backend.Synchronize();
        double generateSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int generated = completions.Sum(c => c.Length);
        // Token at position p attends over p+1 cached rows; prefill covers positions 0..P-2, decode the rest.
        double generateFlops = 0;
        for (int b = 0; b < e.Batch; b++)
            for (int p = 0; p < PromptLength - 1 + completions[b].Length; p++)
                generateFlops += 2.0 * N + 4.0 * e.Layers * e.Channels * (p + 1);
        log($"  {e.Name} rollout: {generated} tokens in {generateSeconds:F2} s");

        return new EndToEndResult(backend.Name, e, T, stepTime, e.Batch * T / stepTime, trainFlopsPerToken,
            generateSeconds, generated, generated / generateSeconds, generateFlops, peakGflops);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static IEnumerable<BenchmarkFigure> Figures(EndToEndResult r)
    {
        string prefix = $"e2e/{r.Device}/{r.Config.Name}";
        yield return new BenchmarkFigure
        {
            Name = $"{prefix}/train", Unit = "tokens/s", Value = r.TrainTokensPerSecond, Better = BenchmarkFigure.Higher,
            FractionOfPeak = r.TrainMfu, TimeNs = r.TrainStepSeconds * 1e9,
            Note = string.Create(CultureInfo.InvariantCulture, $"B={r.Config.Batch} T={r.Sequence}; of peak = MFU at {r.TrainFlopsPerToken / 1e6:F0} MFLOP/token"),
        };
        yield return new BenchmarkFigure
        {
            Name = $"{prefix}/rollout", Unit = "tokens/s", Value = r.GenerateTokensPerSecond, Better = BenchmarkFigure.Higher,
            FractionOfPeak = r.GenerateMfu, TimeNs = r.GenerateSeconds * 1e9,
            Note = $"B={r.Config.Batch}, prompt {PromptLength}, {r.GeneratedTokens / r.Config.Batch} new tokens per row; of peak = MFU",
        };
    }
}
