namespace GtaIlgpu.Model;

/// <summary>One named tensor inside the flat parameter buffer, with its family spec's role.</summary>
public sealed record ParameterTensor(string Name, int[] Shape, long Offset, bool Decay, float InitStd, float InitConstant, TensorRole Role = TensorRole.TokenEmbedding, int Layer = -1, bool Trainable = true)
{
    public long Length => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Where every parameter lives in ONE flat buffer (the same offsets serve the gradient and both AdamW
/// moments), laid out from the family's tensor list (<see cref="ModelFamilies"/>). Offsets are 256-byte
/// aligned, except that tensors sharing a role in a layer (q/k/v, gate/up and their biases) are packed
/// back to back so each group is one fused view. Tensors that take weight decay (matmul weights and the
/// embeddings) come first, the rest (biases, norms) after, so AdamW is two flat launches.
/// Names are the Hugging Face checkpoint's; weights are stored (out, in) like nn.Linear.
/// </summary>
public sealed class ParameterLayout
{
    public const int AlignmentFloats = 64; // 256 bytes

    private readonly Dictionary<string, ParameterTensor> _byName;
    private readonly Dictionary<(TensorRole, int), (long Offset, long Length)> _groups = [];

    public ParameterLayout(ModelConfig config)
    {
        config.Validate();
        Config = config;
        var tensors = new List<ParameterTensor>();
        long offset = 0;
        bool decayRegion = true;
        TensorSpec? previous = null;
        foreach (var s in ModelFamilies.Tensors(config))
        {
            if (decayRegion && !s.Decay)
            {
                offset = Align(offset);
                DecayLength = offset;
                decayRegion = false;
            }
            else if (previous is not null && (previous.Role != s.Role || previous.Layer != s.Layer))
            {
                offset = Align(offset);
            }
            var tensor = new ParameterTensor(s.Name, s.Shape, offset, s.Decay, s.InitStd, s.InitConstant, s.Role, s.Layer, s.Trainable);
            tensors.Add(tensor);
            var key = (s.Role, s.Layer);
            _groups[key] = _groups.TryGetValue(key, out var g) ? (g.Offset, offset + tensor.Length - g.Offset) : (offset, tensor.Length);
            offset += tensor.Length;
            previous = s;
        }
        TotalLength = Align(offset);
        if (decayRegion) DecayLength = TotalLength;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name);
    }

    /// <summary>The fused region of a role in a layer (−1 outside the blocks), or null when the family has no such tensor.</summary>
    public (long Offset, long Length)? Group(TensorRole role, int layer = -1) => _groups.TryGetValue((role, layer), out var g) ? g : null;

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

    /// <summary>The family's initialisation into a host array of <see cref="TotalLength"/> floats.</summary>
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
