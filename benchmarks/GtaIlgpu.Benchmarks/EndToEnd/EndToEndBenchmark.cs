using System.Diagnostics;
using System.Globalization;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Benchmarking;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Benchmarks.EndToEnd;

/// <summary>
/// A model configuration measured end to end; the sequence differs between CPU and GPU. Shape, when set,
/// is a Llama-family model (its window replaced by the run's); otherwise the config is GPT-2.
/// </summary>
public sealed record EndToEndConfig(string Name, int Layers, int Channels, int Heads, int Vocab, int CpuSequence, int GpuSequence, int Batch)
{
    public ModelConfig? Shape { get; init; }

    public string Family => Shape?.ModelType ?? "gpt2";

    public ModelConfig Model(int window) => Shape is null ? new ModelConfig(Layers, Channels, Heads, Vocab, window) : Shape with { MaxSequence = window };

    /// <summary>
    /// tiny and small use a vocabulary of 8192, about the compact vocabulary `gta pretrain` builds; gpt2 uses
    /// GPT-2's 50257. llama-tiny is tiny's size as `gta pretrain --arch llama` builds it; qwen2.5-0.5b is
    /// Qwen2.5-0.5B's shape (24 layers, hidden 896, 14 heads over 2 KV heads, SwiGLU 4864, q/k/v biases,
    /// vocabulary 151,936, tied), with random weights.
    /// </summary>
    public static readonly EndToEndConfig[] All =
    [
        new("tiny", 4, 256, 4, 8192, 128, 128, 8),
        new("llama-tiny", 4, 256, 4, 8192, 128, 128, 8) { Shape = ModelConfig.LlamaTiny(8192) },
        new("small", 6, 384, 6, 8192, 256, 256, 8),
        new("gpt2-124M", 12, 768, 12, 50257, 64, 1024, 4),
        new("qwen2.5-0.5b", 24, 896, 14, 151936, 64, 512, 2) { Shape = KnownShapes.Get("qwen2.5-0.5b") },
    ];
}

/// <summary>
/// How the training warm-up ends: a fixed number of steps (<see cref="Fixed"/>; 0 for CI's dry run) or,
/// when null, the <see cref="WarmupRule"/>: until the JIT is quiet and step times are flat.
/// </summary>
public sealed record WarmupPolicy(int? Fixed)
{
    public static WarmupPolicy Auto => new((int?)null);

    /// <summary>"auto" or a non-negative step count.</summary>
    public static WarmupPolicy Parse(string text) =>
        text.Equals("auto", StringComparison.OrdinalIgnoreCase) ? Auto
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int steps) ? new WarmupPolicy(steps)
        : throw new ArgumentException($"e2e: --warmup takes 'auto' or a step count, not '{text}'");
}

/// <summary>What one (device, config) measured; step times in seconds, in order.</summary>
public sealed record EndToEndResult(string Device, EndToEndConfig Config, int Sequence, IReadOnlyList<double> WarmupStepSeconds, string WarmupNote,
    IReadOnlyList<double> StepSeconds, double JitSecondsWhileMeasuring, double TrainFlopsPerToken,
    double GenerateSeconds, int GeneratedTokens, double JitSecondsWhileGenerating, double GenerateFlops, double? PeakGflops)
{
    /// <summary>The median measured step.</summary>
    public double TrainStepSeconds => Median(StepSeconds);
    public double TrainTokensPerSecond => Config.Batch * Sequence / TrainStepSeconds;
    public double GenerateTokensPerSecond => GeneratedTokens / GenerateSeconds;
    public double? TrainMfu => PeakGflops is > 0 ? TrainTokensPerSecond * TrainFlopsPerToken / (PeakGflops.Value * 1e9) : null;
    public double? GenerateMfu => PeakGflops is > 0 ? GenerateFlops / GenerateSeconds / (PeakGflops.Value * 1e9) : null;

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>
/// Training-step and rollout throughput on synthetic tokens (throughput does not depend on the text).
/// Training: the real <see cref="LanguageModelTrainer"/> step (forward, fused loss, backward, AdamW),
/// warm-up steps until the JIT has settled (<see cref="WarmupPolicy"/>), then the median of the measured
/// steps; every step's time is kept for the results file. Rollout: <see cref="Generator"/> with B prompts
/// of 8 tokens, prefill plus decode steps with temperature-1 sampling, timed as a whole after an equal
/// warm-up generation (repeated until the JIT is quiet). Model FLOPs use the PaLM/nanoGPT convention: 6·N + 12·L·(NH·hs)·T per trained
/// token and 2·N + 4·L·C·context per generated (or prefilled) token, N = ModelConfig.MatmulParameters.
/// </summary>
public static class EndToEndBenchmark
{
    public const int PromptLength = 8;

    public static EndToEndResult Measure(IBackend backend, EndToEndConfig e, int steps, WarmupPolicy warmup, int newTokens, double? peakGflops, Action<string> log)
    {
        bool gpu = backend is IlgpuBackend { Kind: not IlgpuDeviceKind.Cpu };
        int T = gpu ? e.GpuSequence : e.CpuSequence;
        int generationWindow = Math.Max(T, PromptLength + newTokens);
        var config = e.Model(generationWindow);
        using var model = new Transformer(backend, config);
        model.InitializeWeights(1337);

        var rng = new Rng(42);
        var stream = new int[Math.Max(64 * 1024, 4 * e.Batch * (T + 1))];
        for (int i = 0; i < stream.Length; i++) stream[i] = rng.NextInt(e.Vocab);

        // ---- training ----
        // The trainer's schedule must cover every step we may take; with an automatic warm-up that is the cap.
        var rule = warmup.Fixed is null ? new WarmupRule() : null;
        int maxWarmup = warmup.Fixed ?? rule!.Cap;
        var settings = new PretrainSettings { Batch = e.Batch, Sequence = T, Steps = maxWarmup + steps, LearningRate = 1e-4f, WarmupSteps = 1 };
        var warmupSeconds = new List<double>();
        var stepSeconds = new List<double>();
        double jitWhileMeasuring = 0;
        using (var trainer = new LanguageModelTrainer(model, stream, settings))
        {
            // One step with the time the JIT spent compiling meanwhile (on any thread: tier-ups run in the background).
            (double Seconds, double Jit) Step(string label)
            {
                var jitBefore = WarmupRule.JitTime();
                var report = trainer.Step();
                double jit = (WarmupRule.JitTime() - jitBefore).TotalSeconds;
                log($"  {e.Name} {label}: {report.Seconds * 1e3:F0} ms, loss {report.Loss:F3}, JIT {jit * 1e3:F1} ms");
                return (report.Seconds, jit);
            }
            // One loop for warm-up and measurement: with a second loop the first measured step showed hundreds
            // of ms of JIT even after 40 warm-up steps (likely on-stack replacement compiling the new loop).
            while (stepSeconds.Count < steps)
            {
                bool warming = rule is null ? warmupSeconds.Count < maxWarmup : !rule.Done;
                var (seconds, jit) = Step(warming ? $"warm-up step {warmupSeconds.Count + 1}" : $"train step {stepSeconds.Count + 1}/{steps}");
                if (warming)
                {
                    warmupSeconds.Add(seconds);
                    rule?.Add(seconds, jit);
                }
                else
                {
                    stepSeconds.Add(seconds);
                    jitWhileMeasuring += jit;
                }
            }
        }
        string warmupNote = rule?.Describe() ?? $"{warmupSeconds.Count} fixed warm-up steps";
        log($"  {e.Name} warm-up: {warmupNote}");
        long N = config.MatmulParameters;
        double trainFlopsPerToken = TrainFlopsPerToken(e, T);

        // ---- rollout ----
        using var generator = new Generator(model, e.Batch, generationWindow);
        var prompts = Enumerable.Range(0, e.Batch).Select(_ => Enumerable.Range(0, PromptLength).Select(_ => rng.NextInt(e.Vocab)).ToArray()).ToArray();
        var sampling = new SamplingSettings(Temperature: 1f);
        // Warm-up: the same generation as the timed one (kernels, pools, and the JIT's tier-up of the decode
        // loop), repeated until one runs with the JIT compiling for at most 1% of its time (at most 8): a
        // rollout takes a tenth of a second on the small configs, and background tier-up of the ops a
        // model family adds otherwise lands in the timed generation.
        for (int round = 0; round < 8; round++)
        {
            var jitBefore = WarmupRule.JitTime();
            long begin = Stopwatch.GetTimestamp();
            generator.Generate(prompts, newTokens, sampling, new Rng(7));
            backend.Synchronize();
            double seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
            if ((WarmupRule.JitTime() - jitBefore).TotalSeconds <= 0.01 * seconds) break;
        }
        var jitBeforeGenerating = WarmupRule.JitTime();
        long start = Stopwatch.GetTimestamp();
        var completions = generator.Generate(prompts, newTokens, sampling, new Rng(8));
        backend.Synchronize();
        double generateSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double jitWhileGenerating = (WarmupRule.JitTime() - jitBeforeGenerating).TotalSeconds;
        int generated = completions.Sum(c => c.Length);
        // Token at position p attends over p+1 cached rows; prefill covers positions 0..P-2, decode the rest.
        double generateFlops = 0;
        for (int b = 0; b < e.Batch; b++)
            for (int p = 0; p < PromptLength - 1 + completions[b].Length; p++)
                generateFlops += 2.0 * N + 4.0 * e.Layers * config.AttentionWidth * (p + 1);
        log($"  {e.Name} rollout: {generated} tokens in {generateSeconds:F2} s, JIT {jitWhileGenerating * 1e3:F1} ms");

        return new EndToEndResult(backend.Name, e, T, warmupSeconds, warmupNote, stepSeconds, jitWhileMeasuring, trainFlopsPerToken,
            generateSeconds, generated, jitWhileGenerating, generateFlops, peakGflops);
    }

    /// <summary>Model FLOPs per trained token: 6·N + 12·L·(NH·hs)·T, N = ModelConfig.MatmulParameters (which does not depend on the window).</summary>
    public static double TrainFlopsPerToken(EndToEndConfig e, int sequence)
    {
        var config = e.Model(sequence);
        return 6.0 * config.MatmulParameters + config.AttentionFlopsPerToken(sequence);
    }

    /// <summary>The results row of a training measurement, e.g. e2e/cuda/gpt2-124M/train.</summary>
    public static string TrainRowName(string device, EndToEndConfig e) => $"e2e/{device}/{e.Name}/train";

    public static IEnumerable<BenchmarkFigure> Figures(EndToEndResult r)
    {
        string prefix = $"e2e/{r.Device}/{r.Config.Name}";
        yield return new BenchmarkFigure
        {
            Name = TrainRowName(r.Device, r.Config), Unit = "tokens/s", Value = r.TrainTokensPerSecond, Better = BenchmarkFigure.Higher,
            FractionOfPeak = r.TrainMfu, TimeNs = r.TrainStepSeconds * 1e9,
            Note = string.Create(CultureInfo.InvariantCulture,
                $"B={r.Config.Batch} T={r.Sequence}; of peak = MFU at {r.TrainFlopsPerToken / 1e6:F0} MFLOP/token; {r.WarmupNote}; median of {r.StepSeconds.Count} steps, spread {WarmupRule.Spread(r.StepSeconds.ToList()):P0}, JIT {r.JitSecondsWhileMeasuring * 1e3:F1} ms while measured"),
            SamplesNs = r.StepSeconds.Select(s => s * 1e9).ToList(),
            WarmupNs = r.WarmupStepSeconds.Select(s => s * 1e9).ToList(),
        };
        yield return new BenchmarkFigure
        {
            Name = $"{prefix}/rollout", Unit = "tokens/s", Value = r.GenerateTokensPerSecond, Better = BenchmarkFigure.Higher,
            FractionOfPeak = r.GenerateMfu, TimeNs = r.GenerateSeconds * 1e9,
            Note = string.Create(CultureInfo.InvariantCulture, $"B={r.Config.Batch}, prompt {PromptLength}, {r.GeneratedTokens / r.Config.Batch} new tokens per row; of peak = MFU; after equal warm-up generations until the JIT is quiet; JIT {r.JitSecondsWhileGenerating * 1e3:F1} ms while timed"),
        };
    }
}
