using System.Globalization;
using System.Runtime;
using GtaIlgpu.Backends;
using GtaIlgpu.Benchmarking;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;

namespace GtaIlgpu.Benchmarks.GtaStep;

/// <summary>What a GTA step trains: every weight in fp32, or LoRA adapters over a frozen base.</summary>
public enum GtaStepVariant { Full, Lora }

/// <summary>One gta-step measurement's knobs; the trainer's own defaults (GtaSettings) where not given.</summary>
public sealed record GtaStepOptions
{
    public const string TinyShape = "tiny";

    public string Shape { get; init; } = "qwen2.5-0.5b";
    public GtaStepVariant Variant { get; init; } = GtaStepVariant.Lora;
    public int LoraRank { get; init; } = 16;
    /// <summary>0: 2·rank (32 at rank 16), as the trainer reads it.</summary>
    public float LoraAlpha { get; init; }
    public string LoraTargets { get; init; } = string.Join(",", LoraSettings.DefaultTargets);
    /// <summary>Null: bf16 for LoRA, f32 for full fine-tuning (which trains every weight in fp32).</summary>
    public WeightDtype? BaseDtype { get; init; }
    public bool Recompute { get; init; }
    public int MicroBatch { get; init; }
    public int Steps { get; init; } = 3;
    public int Warmup { get; init; } = 1;
    public int Window { get; init; } = 128;
    public int Prompts { get; init; } = 2;
    public int Generations { get; init; } = 4;
    public int MaxCompletion { get; init; } = 16;
    public int Mu { get; init; } = new GtaSettings().Mu;
    public int SftPrompts { get; init; } = new GtaSettings().SftPrompts;

    public static IEnumerable<string> Shapes => [TinyShape, .. KnownShapes.All.Keys];

    public string VariantName => Variant.ToString().ToLowerInvariant();

    /// <summary>The shape at the run's window; "tiny" is the Llama-style model `gta pretrain --arch llama` builds, with GPT-2's vocabulary.</summary>
    public ModelConfig Model(int vocabulary) => Shape.Equals(TinyShape, StringComparison.OrdinalIgnoreCase)
        ? ModelConfig.LlamaTiny(vocabulary, Window)
        : KnownShapes.Get(Shape.ToLowerInvariant()) with { MaxSequence = Window };

    public GtaSettings Settings()
    {
        if (Steps < 1 || Warmup < 0) throw new ArgumentException($"gta-step: --steps must be at least 1 and --warmup at least 0, got {Steps} and {Warmup}");
        if (Window <= MaxCompletion) throw new ArgumentException($"gta-step: --window {Window} leaves no room for a prompt before --max-completion {MaxCompletion}");
        var lora = Variant == GtaStepVariant.Lora;
        var settings = new GtaSettings
        {
            Steps = Warmup + Steps, // the learning-rate schedule covers every step taken
            PromptsPerStep = Prompts, Generations = Generations, MaxCompletionTokens = MaxCompletion, Mu = Mu, SftPrompts = SftPrompts,
            MicroBatch = MicroBatch, Recompute = Recompute,
            LoraRank = lora ? LoraRank : 0, LoraAlpha = lora ? LoraAlpha : 0, LoraTargets = LoraTargets,
            BaseDtype = BaseDtype ?? (lora ? WeightDtype.Bf16 : WeightDtype.F32),
        };
        if (lora && LoraRank < 1) throw new ArgumentException("gta-step: --variant lora needs --lora-rank of at least 1");
        settings.Validate();
        return settings;
    }
}

/// <summary>What one gta-step run measured; times in seconds, memory in bytes.</summary>
public sealed record GtaStepResult(
    string Device, GtaStepOptions Options, GtaSettings Settings, ModelConfig Config, string Dataset, int TrainExamples, int TokenizerVocabulary,
    long Parameters, long Trainable, MemoryPlan Plan,
    IReadOnlyList<GtaStepMetrics> WarmupSteps, IReadOnlyList<GtaStepMetrics> Steps, double JitSecondsWhileMeasuring,
    long BuildPeakBytes, long ResidentAfterBuildBytes, bool PeakReset, long PeakBytes, long ResidentBytes)
{
    public double StepSeconds => Median(Steps.Select(s => s.Seconds));
    public double TokensPerSecond => Median(Steps.Select(s => s.TokensPerSecond));

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>
/// The time and memory of REAL GTA steps (<see cref="GtaTrainer.Step"/>: rollouts, rewards, advantages, μ
/// updates with the RL and SFT losses and the gradient constraint) on a model of a known shape with random
/// weights, for full fine-tuning or LoRA. The data is the default dataset, the prompts GPT-2's BPE with the
/// tags as text, as a pretrained base is prompted; the trainer cuts prompts to the window less the
/// completion. Warm-up steps are not timed. Memory: the process's resident peak, reset after the model is
/// built (its initialisation holds fp32 copies of every weight for a moment) so that it covers the trainer
/// and its steps, next to the trainer's own plan (<see cref="GtaTrainer.PlanMemory"/>). One variant per
/// process: a peak RSS is the process's.
/// </summary>
public static class GtaStepBenchmark
{
    /// <summary>As `gta train` names the default dataset's task.</summary>
    private const string Task = "sentiment of a product, movie or restaurant review";

    public static GtaStepResult Measure(IBackend backend, GtaStepOptions options, Action<string> log)
    {
        var settings = options.Settings();
        var tokenizer = Gpt2Files.Load();
        var data = DatasetLoader.LoadSplits(null);
        var format = new PromptFormat(tokenizer, Task, data.Labels, new PromptOptions(TagMode.Text));
        var config = options.Model(tokenizer.VocabularySize);
        if (config.VocabSize < tokenizer.VocabularySize)
            throw new ArgumentException($"gta-step: shape {options.Shape} has a vocabulary of {config.VocabSize}, fewer than GPT-2's {tokenizer.VocabularySize} ids");
        var plan = GtaTrainer.PlanMemory(config, settings);
        log($"  {options.Shape} {options.VariantName} ({Describe(settings)}): plan {plan.Summary()}");
        GtaTrainer.EnsureFits(plan, settings, backend);

        using var model = new Transformer(backend, config, settings.ModelOptions);
        model.InitializeWeights(1337);
        long parameters = model.Layout.ParameterCount, trainable = model.AdapterLayout?.ParameterCount ?? parameters;
        log(string.Create(CultureInfo.InvariantCulture, $"  {trainable:N0} trainable of {parameters:N0} parameters"));

        // The initialisation's temporaries are garbage now; collect them (large objects too) before the peak restarts.
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        long buildPeak = ProcessMemory.PeakResidentBytes(), afterBuild = ProcessMemory.ResidentBytes();
        bool reset = ProcessMemory.TryResetPeak();

        var warmup = new List<GtaStepMetrics>();
        var measured = new List<GtaStepMetrics>();
        double jit = 0;
        using (var trainer = new GtaTrainer(model, format, data.Train, settings))
        {
            for (int i = 0; i < options.Warmup + options.Steps; i++)
            {
                bool warming = i < options.Warmup;
                var jitBefore = WarmupRule.JitTime();
                var step = trainer.Step();
                double stepJit = (WarmupRule.JitTime() - jitBefore).TotalSeconds;
                (warming ? warmup : measured).Add(step);
                if (!warming) jit += stepJit;
                string label = warming ? $"warm-up step {i + 1}/{options.Warmup}" : $"step {measured.Count}/{options.Steps}";
                log(string.Create(CultureInfo.InvariantCulture,
                    $"  {label}: {step.Seconds:F2} s, {step.TokensPerSecond:F1} tok/s, reward {step.Reward:F2}, completions {step.CompletionsMeanLength:F1} tokens, "
                    + $"JIT {stepJit * 1e3:F0} ms, RSS {Mib(ProcessMemory.ResidentBytes()):F0} MiB"));
            }
        }
        return new GtaStepResult(backend.Name, options, settings, config, data.Name, data.Train.Count, tokenizer.VocabularySize, parameters, trainable, plan,
            warmup, measured, jit, buildPeak, afterBuild, reset, ProcessMemory.PeakResidentBytes(), ProcessMemory.ResidentBytes());
    }

    public static double Mib(long bytes) => bytes / (double)(1 << 20);

    public static string RowPrefix(GtaStepResult r) => $"gta-step/{r.Device}/{r.Options.Shape}/{r.Options.VariantName}";

    /// <summary>The results file's name: gta-step-SHAPE-VARIANT.</summary>
    public static string FileName(GtaStepOptions o) => $"gta-step-{o.Shape}-{o.VariantName}";

    /// <summary>The variant in words: "full fine-tuning (fp32)" or "LoRA r 16, alpha 32 on q,k,v,o, bf16 base", plus recomputation and micro-batches.</summary>
    public static string Describe(GtaSettings s)
    {
        string what = s.ModelOptions.Lora is { } lora
            ? string.Create(CultureInfo.InvariantCulture, $"LoRA r {lora.Rank}, alpha {lora.Alpha} on {string.Join(",", lora.Targets)}, {s.BaseDtype.ToString().ToLowerInvariant()} base")
            : "full fine-tuning (fp32)";
        if (s.Recompute) what += ", recompute";
        if (s.MicroBatch > 0) what += $", micro-batches of {s.MicroBatch}";
        return what;
    }

    public static string Summary(GtaStepResult r) => string.Create(CultureInfo.InvariantCulture,
        $"{r.Device,-4} {r.Options.Shape} {r.Options.VariantName} ({Describe(r.Settings)}): step {r.StepSeconds:F2} s (median of {r.Steps.Count}), "
        + $"{r.TokensPerSecond:F1} tok/s, peak RSS {Mib(r.PeakBytes):F0} MiB (plan {Mib(r.Plan.TotalBytes):F0} MiB), "
        + $"trainable {r.Trainable:N0} of {r.Parameters:N0} ({(double)r.Trainable / r.Parameters:P2})");

    public static IEnumerable<BenchmarkFigure> Figures(GtaStepResult r)
    {
        var s = r.Settings;
        yield return new BenchmarkFigure
        {
            Name = $"{RowPrefix(r)}/step", Unit = "s", Value = r.StepSeconds, Better = BenchmarkFigure.Lower, TimeNs = r.StepSeconds * 1e9,
            Note = string.Create(CultureInfo.InvariantCulture,
                $"{Describe(s)}; P={s.PromptsPerStep} G={s.Generations} μ={s.Mu} SFT {Math.Max(s.PromptsPerStep, s.SftPrompts)} rows, window {r.Config.MaxSequence}, "
                + $"completions ≤ {s.MaxCompletionTokens}; median of {r.Steps.Count} after {r.WarmupSteps.Count} warm-up; {r.TokensPerSecond:F1} tok/s; "
                + $"JIT {r.JitSecondsWhileMeasuring * 1e3:F0} ms while measured"),
            SamplesNs = r.Steps.Select(m => m.Seconds * 1e9).ToList(),
            WarmupNs = r.WarmupSteps.Select(m => m.Seconds * 1e9).ToList(),
        };
        yield return new BenchmarkFigure
        {
            Name = $"{RowPrefix(r)}/peak-rss", Unit = "MiB", Value = Mib(r.PeakBytes), Better = BenchmarkFigure.Lower,
            Note = string.Create(CultureInfo.InvariantCulture,
                $"{PeakScope(r)}; plan {Mib(r.Plan.TotalBytes):F0} MiB; RSS at the end {Mib(r.ResidentBytes):F0} MiB"),
        };
    }

    private static string PeakScope(GtaStepResult r) => r.PeakReset
        ? string.Create(CultureInfo.InvariantCulture,
            $"{ProcessMemory.PeakSource} from the trainer's construction to the last step (reset after the model was built: {Mib(r.ResidentAfterBuildBytes):F0} MiB resident, {Mib(r.BuildPeakBytes):F0} MiB peak while building)")
        : $"{ProcessMemory.PeakSource} of the whole process, model building included (the peak could not be reset)";

    /// <summary>The results file's configuration: the run's knobs, the plan item by item, every step's time.</summary>
    public static Dictionary<string, string> Configuration(GtaStepResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = r.Settings;
        var c = r.Config;
        var configuration = new Dictionary<string, string>
        {
            ["device"] = r.Device,
            ["shape"] = $"{r.Options.Shape}, random weights: {c.Describe(r.Parameters)}",
            ["variant"] = $"{r.Options.VariantName}: {Describe(s)}",
            ["parameters"] = string.Create(inv, $"{r.Trainable:N0} trainable of {r.Parameters:N0} ({(double)r.Trainable / r.Parameters:P2})"),
            ["step"] = string.Create(inv,
                $"GtaTrainer.Step: P={s.PromptsPerStep} prompts × G={s.Generations} completions (≤ {s.MaxCompletionTokens} tokens, temperature {s.Temperature}), μ={s.Mu} updates, "
                + $"SFT {Math.Max(s.PromptsPerStep, s.SftPrompts)} rows{(s.FreshSftPerUpdate ? " fresh per update" : "")}, β={s.Beta}, constraint {s.Constraint}, window {c.MaxSequence}"),
            ["data"] = string.Create(inv, $"{r.Dataset} ({r.TrainExamples} training examples); GPT-2 BPE ({r.TokenizerVocabulary} ids), tags as text"),
            ["steps"] = string.Create(inv, $"{r.WarmupSteps.Count} warm-up + {r.Steps.Count} measured (median)"),
            ["step seconds"] = string.Create(inv,
                $"warm-up {string.Join(", ", r.WarmupSteps.Select(m => m.Seconds.ToString("F2", inv)))}; measured {string.Join(", ", r.Steps.Select(m => m.Seconds.ToString("F2", inv)))}"),
            ["tokens/s"] = string.Create(inv,
                $"{string.Join(", ", r.Steps.Select(m => m.TokensPerSecond.ToString("F1", inv)))} (GtaStepMetrics.tokens_per_second: generated plus RL-trained tokens per second)"),
            ["peak RSS"] = string.Create(inv, $"{Mib(r.PeakBytes):F0} MiB: {PeakScope(r)}"),
            ["RSS at the end"] = string.Create(inv, $"{Mib(r.ResidentBytes):F0} MiB"),
            ["memory plan"] = string.Create(inv, $"{Mib(r.Plan.TotalBytes):F0} MiB (GtaTrainer.PlanMemory)"),
        };
        foreach (var item in r.Plan.Items)
        {
            string key = $"plan: {item.Name}";
            for (int n = 2; configuration.ContainsKey(key); n++) key = $"plan: {item.Name} ({n})";
            configuration[key] = string.Create(inv, $"{Mib(item.Bytes):F1} MiB ({item.Detail})");
        }
        return configuration;
    }
}
