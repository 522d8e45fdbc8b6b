using System.Globalization;

namespace GtaIlgpu.Model;

/// <summary>
/// LoRA (Hu et al. 2021) as PEFT's <c>LoraConfig</c> sets it: rank r, alpha (the update is scaled by
/// alpha / r, PEFT's default without rsLoRA) and the target modules by short name. Llama family: q, k, v,
/// o, gate, up, down (q_proj … down_proj). GPT-2: its c_attn is ONE module holding q, k and v, so q, k
/// and v are taken together (or named qkv); o is attn.c_proj, up mlp.c_fc, down mlp.c_proj.
/// </summary>
public sealed record LoraSettings(int Rank, float Alpha, IReadOnlyList<string> Targets)
{
    public static readonly string[] DefaultTargets = ["q", "k", "v", "o"];
    public static readonly string[] LlamaTargets = ["q", "k", "v", "o", "gate", "up", "down"];
    public static readonly string[] Gpt2Targets = ["qkv", "o", "up", "down"];

    public float Scale => Alpha / Rank;

    /// <summary>A comma-separated list ("q,k,v,o") into short names, refusing unknown and repeated ones.</summary>
    public static IReadOnlyList<string> ParseTargets(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new ArgumentException("--lora-targets: name at least one module (q, k, v, o, gate, up, down)");
        foreach (var n in names)
            if (!LlamaTargets.Contains(n) && n != "qkv")
                throw new ArgumentException($"--lora-targets: unknown module '{n}' (expected q, k, v, o, gate, up, down, or qkv for GPT-2)");
        if (names.Distinct().Count() != names.Length) throw new ArgumentException($"--lora-targets: '{text}' names a module twice");
        return names;
    }

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"--lora-rank must be positive, got {Rank}");
        if (!(Alpha > 0) || !float.IsFinite(Alpha)) throw new ArgumentException($"--lora-alpha must be positive, got {Alpha.ToString(CultureInfo.InvariantCulture)}");
        if (Targets.Count == 0) throw new ArgumentException("LoRA needs at least one target module");
    }
}

/// <summary>
/// One adapted Linear of one layer: where its rows sit in the model's fused matmul (q, k and v are the
/// row blocks of the [q | k | v] matmul, gate and up of [gate | up]) and the adapter tensors A (r, In)
/// and B (Out, r) in the flat adapter buffer. The layer's output columns [Column, Column + Out) of a
/// matmul of width GroupWidth receive scale·(x·Aᵀ)·Bᵀ.
/// </summary>
public sealed record AdapterModule(string Target, string Module, int Layer, TensorRole Role, int Column, int Out, int In, int GroupWidth, long AOffset, long BOffset, int Rank)
{
    public long ALength => (long)Rank * In;
    public long BLength => (long)Out * Rank;

    /// <summary>The tensors' names: the module path as the model's checkpoint names it, then lora_A/lora_B (PEFT's spelling).</summary>
    public string AName => Module + ".lora_A.weight";
    public string BName => Module + ".lora_B.weight";
}

/// <summary>
/// Where every LoRA tensor lives in ONE flat buffer (the same offsets serve its gradient and both AdamW
/// moments), layer by layer, modules in block order (q, k, v, o, gate, up, down), A before B, each
/// 256-byte aligned. Every adapter tensor is a matmul weight, so all of it takes weight decay as
/// transformers' Trainer decays every non-bias, non-norm parameter.
/// </summary>
public sealed class AdapterLayout
{
    private static readonly string[] LlamaModules = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    public AdapterLayout(ModelConfig config, LoraSettings lora)
    {
        config.Validate();
        lora.Validate();
        Config = config;
        Lora = lora;
        var modules = new List<AdapterModule>();
        var targets = Resolve(config, lora.Targets);
        long offset = 0;
        for (int l = 0; l < config.Layers; l++)
        {
            foreach (var t in targets)
            {
                var (module, role, column, outWidth, inWidth, group) = Shape(config, t, l);
                long a = offset;
                offset = ParameterLayout.Align(a + (long)lora.Rank * inWidth);
                long b = offset;
                offset = ParameterLayout.Align(b + (long)outWidth * lora.Rank);
                modules.Add(new AdapterModule(t, module, l, role, column, outWidth, inWidth, group, a, b, lora.Rank));
            }
        }
        Modules = modules;
        TotalLength = offset;
        ResolvedTargets = targets;
    }

    public ModelConfig Config { get; }
    public LoraSettings Lora { get; }

    /// <summary>Mixed into a run's seed for the adapters' initialisation, so A is not drawn from the base's stream.</summary>
    public static ulong Seed(ulong runSeed) => runSeed ^ 0x4C6F5241UL; // "LoRA"

    /// <summary>The targets in block order, GPT-2's q/k/v folded into qkv.</summary>
    public IReadOnlyList<string> ResolvedTargets { get; }

    public IReadOnlyList<AdapterModule> Modules { get; }

    /// <summary>Length of the flat adapter buffer, padding included; all of it takes weight decay.</summary>
    public long TotalLength { get; }

    /// <summary>Number of real adapter parameters (padding excluded).</summary>
    public long ParameterCount => Modules.Sum(m => m.ALength + m.BLength);

    /// <summary>The adapted modules of one layer, in block order.</summary>
    public IEnumerable<AdapterModule> Layer(int layer) => Modules.Where(m => m.Layer == layer);

    /// <summary>The widest module output, the size of the per-row scratch of the adapted forward.</summary>
    public int MaxOut => Modules.Count == 0 ? 0 : Modules.Max(m => m.Out);

    /// <summary>Modules per layer (every layer adapts the same ones).</summary>
    public int ModulesPerLayer => ResolvedTargets.Count;

    /// <summary>
    /// PEFT's initialisation (init_lora_weights=True): A as nn.Linear's kaiming_uniform(a=√5), i.e.
    /// uniform in ±1/√In, and B zero, so the adapted model starts exactly at the base.
    /// </summary>
    public float[] Initialize(ulong seed)
    {
        var values = new float[TotalLength];
        var rng = new Common.Rng(seed);
        foreach (var m in Modules)
        {
            float bound = 1f / MathF.Sqrt(m.In);
            var a = values.AsSpan((int)m.AOffset, (int)m.ALength);
            for (int i = 0; i < a.Length; i++) a[i] = (float)((2 * rng.NextDouble() - 1) * bound);
        }
        return values;
    }

    private static IReadOnlyList<string> Resolve(ModelConfig config, IReadOnlyList<string> targets)
    {
        if (!config.IsGpt2)
        {
            if (targets.Contains("qkv")) throw new ArgumentException("--lora-targets: qkv names GPT-2's fused c_attn; a Llama-family model takes q, k and v apart");
            return LoraSettings.LlamaTargets.Where(targets.Contains).ToArray();
        }
        int qkv = targets.Count(t => t is "q" or "k" or "v");
        if (qkv is 1 or 2)
            throw new ArgumentException("--lora-targets: GPT-2's attn.c_attn is one module holding q, k and v: target all three (or qkv)");
        foreach (var t in targets)
            if (t is "gate") throw new ArgumentException("--lora-targets: GPT-2 has no gate projection (its MLP is c_fc = up, c_proj = down)");
        bool hasQkv = qkv == 3 || targets.Contains("qkv");
        if (qkv == 3 && targets.Contains("qkv")) throw new ArgumentException("--lora-targets: qkv and q, k, v name the same GPT-2 module");
        return LoraSettings.Gpt2Targets.Where(t => t == "qkv" ? hasQkv : targets.Contains(t)).ToArray();
    }

    private static (string Module, TensorRole Role, int Column, int Out, int In, int Group) Shape(ModelConfig c, string target, int l)
    {
        int C = c.Channels, q = c.AttentionWidth, kv = c.KvHeadCount * c.HeadSize, I = c.MlpWidth;
        if (c.IsGpt2)
        {
            string p = $"h.{l}.";
            return target switch
            {
                "qkv" => (p + "attn.c_attn", TensorRole.QkvWeight, 0, 3 * C, C, 3 * C),
                "o" => (p + "attn.c_proj", TensorRole.OutputWeight, 0, C, C, C),
                "up" => (p + "mlp.c_fc", TensorRole.UpWeight, 0, 4 * C, C, 4 * C),
                "down" => (p + "mlp.c_proj", TensorRole.DownWeight, 0, C, 4 * C, C),
                _ => throw new ArgumentException($"GPT-2 has no module '{target}'"),
            };
        }
        string m = $"model.layers.{l}." + LlamaModules[Array.IndexOf(LoraSettings.LlamaTargets, target)];
        return target switch
        {
            "q" => (m, TensorRole.QkvWeight, 0, q, C, c.QkvWidth),
            "k" => (m, TensorRole.QkvWeight, q, kv, C, c.QkvWidth),
            "v" => (m, TensorRole.QkvWeight, q + kv, kv, C, c.QkvWidth),
            "o" => (m, TensorRole.OutputWeight, 0, C, q, C),
            "gate" => (m, TensorRole.UpWeight, 0, I, C, 2 * I),
            "up" => (m, TensorRole.UpWeight, I, I, C, 2 * I),
            "down" => (m, TensorRole.DownWeight, 0, C, I, C),
            _ => throw new ArgumentException($"unknown LoRA target '{target}'"),
        };
    }
}
