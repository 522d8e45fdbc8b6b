namespace GtaIlgpu.Model;

/// <summary>One named tensor inside the flat parameter buffer.</summary>
public sealed record ParameterTensor(string Name, int[] Shape, long Offset, bool Decay, float InitStd, float InitConstant)
{
    public long Length => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Where every parameter lives in ONE flat buffer (the same offsets serve the gradient and both AdamW
/// moments). Offsets are 256-byte aligned. Tensors that take weight decay (matmul weights and the
/// embeddings) come first, the rest (biases, layernorm) after, so AdamW is two flat launches.
/// Names follow the Hugging Face GPT-2 checkpoint; weights are stored (out, in) like nn.Linear.
/// </summary>
public sealed class ParameterLayout
{
    public const int AlignmentFloats = 64; // 256 bytes

    private readonly Dictionary<string, ParameterTensor> _byName;

    public ParameterLayout(ModelConfig config)
    {
        config.Validate();
        Config = config;
        int C = config.Channels, V = config.VocabSize, L = config.Layers;
        float std = 0.02f;
        // GPT-2: residual projections are scaled by 1/sqrt(2·layers) so the residual stream's variance does not grow with depth.
        float residualStd = (float)(0.02 / Math.Sqrt(2.0 * L));
        var specs = new List<(string Name, int[] Shape, bool Decay, float Std, float Constant)>
        {
            ("wte.weight", [V, C], true, std, 0),
            ("wpe.weight", [config.MaxSequence, C], true, std, 0),
        };
        for (int l = 0; l < L; l++)
        {
            string p = $"h.{l}.";
            specs.Add((p + "attn.c_attn.weight", [3 * C, C], true, std, 0));
            specs.Add((p + "attn.c_proj.weight", [C, C], true, residualStd, 0));
            specs.Add((p + "mlp.c_fc.weight", [4 * C, C], true, std, 0));
            specs.Add((p + "mlp.c_proj.weight", [C, 4 * C], true, residualStd, 0));
        }
        for (int l = 0; l < L; l++)
        {
            string p = $"h.{l}.";
            specs.Add((p + "ln_1.weight", [C], false, 0, 1));
            specs.Add((p + "ln_1.bias", [C], false, 0, 0));
            specs.Add((p + "attn.c_attn.bias", [3 * C], false, 0, 0));
            specs.Add((p + "attn.c_proj.bias", [C], false, 0, 0));
            specs.Add((p + "ln_2.weight", [C], false, 0, 1));
            specs.Add((p + "ln_2.bias", [C], false, 0, 0));
            specs.Add((p + "mlp.c_fc.bias", [4 * C], false, 0, 0));
            specs.Add((p + "mlp.c_proj.bias", [C], false, 0, 0));
        }
        specs.Add(("ln_f.weight", [C], false, 0, 1));
        specs.Add(("ln_f.bias", [C], false, 0, 0));

        var tensors = new List<ParameterTensor>();
        long offset = 0;
        bool decayRegion = true;
        foreach (var s in specs)
        {
            if (decayRegion && !s.Decay)
            {
                DecayLength = offset;
                decayRegion = false;
            }
            var tensor = new ParameterTensor(s.Name, s.Shape, offset, s.Decay, s.Std, s.Constant);
            tensors.Add(tensor);
            offset = Align(offset + tensor.Length);
        }
        TotalLength = offset;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name);
    }

    public ModelConfig Config { get; }
    public IReadOnlyList<ParameterTensor> Tensors { get; }

    /// <summary>Length of the leading region whose tensors take weight decay.</summary>
    public long DecayLength { get; }

    /// <summary>Length of the whole flat buffer, padding included.</summary>
    public long TotalLength { get; }

    /// <summary>Number of real parameters (padding excluded).</summary>
    public long ParameterCount => Tensors.Sum(t => t.Length);

    public ParameterTensor this[string name] =>
        _byName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"no parameter named '{name}'");

    public static long Align(long offset) => (offset + AlignmentFloats - 1) / AlignmentFloats * AlignmentFloats;

    /// <summary>GPT-2 initialisation into a host array of <see cref="TotalLength"/> floats.</summary>
    public float[] Initialize(ulong seed)
    {
        var values = new float[TotalLength];
        var rng = new Common.Rng(seed);
        foreach (var t in Tensors)
        {
            var span = values.AsSpan((int)t.Offset, (int)t.Length);
            if (t.InitStd > 0)
                for (int i = 0; i < span.Length; i++) span[i] = (float)(rng.NextNormal() * t.InitStd);
            else
                span.Fill(t.InitConstant);
        }
        return values;
    }
}
