using System.Globalization;
using System.Text;

namespace GtaIlgpu.Model;

/// <summary>
/// What a run will hold on its device, counted from the same layouts that allocate it (the flat parameter
/// buffer, <see cref="Activations.Floats"/>, <see cref="KvCache.Floats"/>), so the estimate is the
/// allocation. Built before anything is allocated; <see cref="EnsureFits"/> refuses a run that does not
/// fit with what it needs and what the device has.
/// </summary>
public sealed class MemoryPlan
{
    public sealed record Item(string Name, long Bytes, string Detail);

    private readonly List<Item> _items = [];

    public MemoryPlan(ModelConfig config, ModelOptions? options = null)
    {
        config.Validate();
        options ??= ModelOptions.Full;
        options.Validate();
        Config = config;
        Options = options;
        var layout = new ParameterLayout(config);
        ParameterFloats = layout.TotalLength;
        DecayFloats = layout.DecayLength;
        Adapters = options.Lora is { } lora ? new AdapterLayout(config, lora) : null;
        TrainableFloats = Adapters?.TotalLength ?? ParameterFloats;
        ActivationOptions = new ActivationOptions(Adapters, options.Recompute);
    }

    public ModelConfig Config { get; }
    public ModelOptions Options { get; }
    public AdapterLayout? Adapters { get; }
    public ActivationOptions ActivationOptions { get; }
    public long ParameterFloats { get; }
    private long DecayFloats { get; }

    /// <summary>Floats of what trains: the whole flat buffer, or the adapters.</summary>
    public long TrainableFloats { get; }
    public IReadOnlyList<Item> Items => _items;
    public long TotalBytes => _items.Sum(i => i.Bytes);

    public MemoryPlan Add(string name, long floats, string detail) => AddBytes(name, 4 * floats, detail);

    public MemoryPlan AddBytes(string name, long bytes, string detail)
    {
        _items.Add(new Item(name, bytes, detail));
        return this;
    }

    /// <summary>The base weights (fp32, or bf16 matmul weights and embeddings with fp32 norms and biases), and a LoRA model's adapters.</summary>
    public MemoryPlan Weights()
    {
        if (Options.BaseDtype == WeightDtype.Bf16)
            AddBytes("weights", 2 * DecayFloats + 4 * (ParameterFloats - DecayFloats), "frozen base: bf16 matmul weights and embeddings, fp32 norms and biases");
        else Add("weights", ParameterFloats, Adapters is null ? "fp32, flat buffer" : "frozen base, fp32");
        if (Adapters is { } a)
            Add("LoRA adapters", a.TotalLength, $"r = {a.Lora.Rank} on {string.Join(", ", a.ResolvedTargets)}: {a.ParameterCount / 1e6:F2}M parameters, fp32");
        return this;
    }

    /// <summary>The trainable region's gradient (a LoRA model's frozen norms also write a 2·C-float sink).</summary>
    public MemoryPlan Gradients() => Adapters is null
        ? Add("gradients", ParameterFloats, "fp32")
        : Add("gradients", TrainableFloats + 2L * Math.Max(Config.Channels, Config.HeadSize), "of the adapters only: the frozen base has none");

    public MemoryPlan AdamMoments() => Add("AdamW moments", 2 * TrainableFloats, Adapters is null ? "m and v, fp32" : "m and v of the adapters only");

    /// <summary>GRPO's KL reference: a frozen copy of the weights, or nothing with LoRA (the base without adapters is the reference).</summary>
    public MemoryPlan FrozenReference() => Adapters is null
        ? Add("KL reference", ParameterFloats, "a frozen copy of the weights")
        : this;

    public MemoryPlan SecondGradient() => Add("GTA RL gradient", TrainableFloats, "the gradient constraint's second buffer");

    public MemoryPlan Activations(int rows, int sequence, bool withGradients, string what) =>
        Add(what, Model.Activations.Floats(Config, rows, sequence, withGradients, ActivationOptions),
            $"{rows} × {sequence} tokens{(withGradients ? ", with gradients" : "")}{(ActivationOptions.Recompute && withGradients ? ", one block's kept (recompute)" : "")}");

    /// <summary>Rollouts: the KV cache, one decode step's activations, and the prefill pool (prefillRows sequences at a time).</summary>
    /// <param name="what">The decoder's name: its KV cache and prefill pool are listed as "&lt;what&gt;: KV cache" and "&lt;what&gt;: prefill"; null for the plain names.</param>
    public MemoryPlan Cache(int rows, int sequence, int prefillRows = 0, string? what = null)
    {
        int prefill = Generator.PrefillRowsFor(rows, prefillRows), cached = Generator.CacheRows(rows, prefillRows);
        Add(what is null ? "KV cache" : $"{what}: KV cache", KvCache.Floats(Config, cached, sequence) + Model.Activations.Floats(Config, rows, 1, false, ActivationOptions),
            $"{cached} sequences{(cached > rows ? $" ({rows} rounded up to whole prefill chunks)" : "")} × {sequence} positions × {Config.KvHeadCount} KV heads (and one decode step's activations)");
        return Add(what is null ? "prefill activations" : $"{what}: prefill", Model.Activations.Floats(Config, prefill, sequence, false, Generator.PrefillOptions(ActivationOptions)),
            $"{prefill} of {rows} prompts at a time, one block's kept, no logits");
    }

    /// <summary>Full training: weights, gradients, AdamW, and one activation pool with gradients.</summary>
    public static MemoryPlan ForPretraining(ModelConfig config, int batch, int sequence) =>
        new MemoryPlan(config).Weights().Gradients().AdamMoments().Activations(batch, sequence, true, "activations");

    /// <summary>Scoring or generation: the weights, one forward pool, and a KV cache when decoding.</summary>
    public static MemoryPlan ForInference(ModelConfig config, int rows, int sequence, bool decoding, ModelOptions? options = null)
    {
        var plan = new MemoryPlan(config, options).Weights().Activations(rows, sequence, false, "activations");
        return decoding ? plan.Cache(rows, sequence) : plan;
    }

    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
    };

    /// <summary>One line: the total and its parts.</summary>
    public string Summary() =>
        $"{Format(TotalBytes)} ({string.Join(", ", _items.Select(i => $"{i.Name} {Format(i.Bytes)}"))})";

    /// <summary>A table, one row per item, for the README and long start-up reports.</summary>
    public string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| item | size | what |").AppendLine("|---|---:|---|");
        foreach (var i in _items) sb.AppendLine(CultureInfo.InvariantCulture, $"| {i.Name} | {Format(i.Bytes)} | {i.Detail} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"| **total** | **{Format(TotalBytes)}** | |");
        return sb.ToString();
    }

    /// <summary>Throws when the plan exceeds the device's memory, naming what it needs and what the device has.</summary>
    /// <param name="suggestion">What would fit instead (e.g. "--lora-rank 16 --base-dtype bf16 fits in 61.2 GiB"); null gives the generic advice.</param>
    public void EnsureFits(long deviceBytes, string device, string? suggestion = null)
    {
        if (deviceBytes <= 0 || TotalBytes <= deviceBytes) return;
        var largest = _items.OrderByDescending(i => i.Bytes).Take(3).Select(i => $"{i.Name} {Format(i.Bytes)}");
        throw new InsufficientMemoryException(
            $"the run needs {Format(TotalBytes)} but {device} has {Format(deviceBytes)} (largest: {string.Join(", ", largest)}); " +
            (suggestion ?? "use a smaller batch, fewer completions per prompt or a shorter window"));
    }
}
