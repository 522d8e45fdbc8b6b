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

    public MemoryPlan(ModelConfig config)
    {
        config.Validate();
        Config = config;
        ParameterFloats = new ParameterLayout(config).TotalLength;
    }

    public ModelConfig Config { get; }
    public long ParameterFloats { get; }
    public IReadOnlyList<Item> Items => _items;
    public long TotalBytes => _items.Sum(i => i.Bytes);

    public MemoryPlan Add(string name, long floats, string detail)
    {
        _items.Add(new Item(name, 4 * floats, detail));
        return this;
    }

    public MemoryPlan Weights() => Add("weights", ParameterFloats, "fp32, flat buffer");
    public MemoryPlan Gradients() => Add("gradients", ParameterFloats, "fp32");
    public MemoryPlan AdamMoments() => Add("AdamW moments", 2 * ParameterFloats, "m and v, fp32");
    public MemoryPlan FrozenReference() => Add("KL reference", ParameterFloats, "a frozen copy of the weights");
    public MemoryPlan SecondGradient() => Add("GTA RL gradient", ParameterFloats, "the gradient constraint's second buffer");

    public MemoryPlan Activations(int rows, int sequence, bool withGradients, string what) =>
        Add(what, Model.Activations.Floats(Config, rows, sequence, withGradients),
            $"{rows} × {sequence} tokens{(withGradients ? ", with gradients" : "")}");

    public MemoryPlan Cache(int rows, int sequence) =>
        Add("KV cache", KvCache.Floats(Config, rows, sequence) + Model.Activations.Floats(Config, rows, 1, false),
            $"{rows} sequences × {sequence} positions × {Config.KvHeadCount} KV heads (and one decode step's activations)");

    /// <summary>Full training: weights, gradients, AdamW, and one activation pool with gradients.</summary>
    public static MemoryPlan ForPretraining(ModelConfig config, int batch, int sequence) =>
        new MemoryPlan(config).Weights().Gradients().AdamMoments().Activations(batch, sequence, true, "activations");

    /// <summary>Scoring or generation: the weights, one forward pool, and a KV cache when decoding.</summary>
    public static MemoryPlan ForInference(ModelConfig config, int rows, int sequence, bool decoding)
    {
        var plan = new MemoryPlan(config).Weights().Activations(rows, sequence, false, "activations");
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
    public void EnsureFits(long deviceBytes, string device)
    {
        if (deviceBytes <= 0 || TotalBytes <= deviceBytes) return;
        var largest = _items.OrderByDescending(i => i.Bytes).Take(3).Select(i => $"{i.Name} {Format(i.Bytes)}");
        throw new InsufficientMemoryException(
            $"the run needs {Format(TotalBytes)} but {device} has {Format(deviceBytes)} (largest: {string.Join(", ", largest)}); " +
            "use a smaller batch, fewer completions per prompt or a shorter window");
    }
}
