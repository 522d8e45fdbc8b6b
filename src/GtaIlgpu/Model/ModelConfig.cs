namespace GtaIlgpu.Model;

/// <summary>The block structure a model follows; its tensors are listed once in <see cref="ModelFamilies"/>.</summary>
public enum ModelFamily
{
    /// <summary>GPT-2: learned positions, LayerNorm with bias, fused QKV with bias, 4·C GELU MLP, tied head.</summary>
    Gpt2,

    /// <summary>Llama 3.x, Qwen2/2.5 and Qwen3: rotary positions, RMSNorm, grouped-query attention, SwiGLU MLP.</summary>
    Llama,
}

/// <summary>
/// Llama 3's <c>rope_scaling</c> of type "llama3" (Hugging Face's <c>_compute_llama3_parameters</c>):
/// long wavelengths are divided by Factor, short ones kept, and the band between interpolated.
/// </summary>
public sealed record RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions)
{
    public const string Llama3Type = "llama3";
}

/// <summary>
/// Shape and math of a decoder-only transformer. The five positional fields are the ones every family
/// has (named as GPT-2's config.json names them); the init-only fields default to GPT-2, so
/// <c>new ModelConfig(L, C, NH, V, T)</c> is the GPT-2 of today. A Llama-family model sets
/// <see cref="Family"/> and the fields its config.json carries.
/// </summary>
public sealed record ModelConfig(int Layers, int Channels, int Heads, int VocabSize, int MaxSequence)
{
    public ModelFamily Family { get; init; } = ModelFamily.Gpt2;

    /// <summary>Hugging Face's model_type, written back on save: gpt2, llama, qwen2 or qwen3.</summary>
    public string ModelType { get; init; } = "gpt2";

    /// <summary>num_key_value_heads; 0 means as many as the query heads (plain multi-head attention).</summary>
    public int KvHeads { get; init; }

    /// <summary>head_dim; 0 means Channels / Heads. Qwen3 sets it apart from C/NH.</summary>
    public int HeadDim { get; init; }

    /// <summary>intermediate_size of the SwiGLU MLP; 0 means GPT-2's 4·C.</summary>
    public int Intermediate { get; init; }

    /// <summary>rms_norm_eps (Llama family); GPT-2's LayerNorm uses 1e-5.</summary>
    public float NormEps { get; init; } = 1e-5f;

    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }

    /// <summary>Biases on q, k and v: Llama's and Qwen3's attention_bias, always on in Qwen2.</summary>
    public bool AttentionBias { get; init; }

    /// <summary>A bias on o_proj: Llama's and Qwen3's attention_bias covers it too, Qwen2 never has one.</summary>
    public bool OutputBias { get; init; }

    /// <summary>mlp_bias: biases on gate, up and down.</summary>
    public bool MlpBias { get; init; }

    /// <summary>Qwen3: RMSNorm of every q and k head (over head_dim) before the rotary.</summary>
    public bool QkNorm { get; init; }

    /// <summary>tie_word_embeddings: the LM head is the token embedding.</summary>
    public bool TiedEmbeddings { get; init; } = true;

    public bool IsGpt2 => Family == ModelFamily.Gpt2;
    public int KvHeadCount => KvHeads > 0 ? KvHeads : Heads;
    public int HeadSize => HeadDim > 0 ? HeadDim : Channels / Heads;

    /// <summary>Width of the attention's output (NH·hs), the input of the output projection.</summary>
    public int AttentionWidth => Heads * HeadSize;

    /// <summary>Width of a fused [q | k | v] row: (NH + 2·NKV)·hs.</summary>
    public int QkvWidth => (Heads + 2 * KvHeadCount) * HeadSize;

    /// <summary>The MLP's hidden width: 4·C for GPT-2, intermediate_size for SwiGLU.</summary>
    public int MlpWidth => Intermediate > 0 ? Intermediate : 4 * Channels;

    /// <summary>Rows of the MLP's first matmul: GPT-2's c_fc (4·C), or gate and up fused (2·I).</summary>
    public int MlpUpWidth => IsGpt2 ? MlpWidth : 2 * MlpWidth;

    public void Validate()
    {
        if (Layers <= 0) throw new ArgumentException($"model layers must be positive, got {Layers}");
        if (Channels <= 0) throw new ArgumentException($"model channels must be positive, got {Channels}");
        if (VocabSize <= 1) throw new ArgumentException($"vocabulary size must be at least 2, got {VocabSize}");
        if (MaxSequence <= 0) throw new ArgumentException($"maximum sequence must be positive, got {MaxSequence}");
        if (Heads <= 0) throw new ArgumentException($"attention heads must be positive, got {Heads}");
        if (IsGpt2)
        {
            if (Channels % Heads != 0)
                throw new ArgumentException($"model channels ({Channels}) must be a positive multiple of heads ({Heads})");
            if (KvHeads != 0 && KvHeads != Heads || HeadDim != 0 && HeadDim != Channels / Heads || Intermediate != 0 && Intermediate != 4 * Channels || !TiedEmbeddings)
                throw new ArgumentException("GPT-2 has plain multi-head attention, head size C/NH, a 4·C MLP and a tied head");
            return;
        }
        if (HeadDim == 0 && Channels % Heads != 0)
            throw new ArgumentException($"hidden_size ({Channels}) is not a multiple of num_attention_heads ({Heads}) and no head_dim is given");
        if (HeadDim < 0) throw new ArgumentException($"head_dim must be positive, got {HeadDim}");
        if (HeadSize % 2 != 0) throw new ArgumentException($"the rotary embedding needs an even head size, got {HeadSize}");
        if (KvHeads < 0 || Heads % KvHeadCount != 0)
            throw new ArgumentException($"num_attention_heads ({Heads}) must be a multiple of num_key_value_heads ({KvHeadCount})");
        if (Intermediate <= 0) throw new ArgumentException($"intermediate_size must be positive, got {Intermediate}");
        if (!(NormEps > 0)) throw new ArgumentException($"rms_norm_eps must be positive, got {NormEps}");
        if (!(RopeTheta > 0)) throw new ArgumentException($"rope_theta must be positive, got {RopeTheta}");
        if (RopeScaling is { } s && (!(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositions <= 0))
            throw new ArgumentException($"rope_scaling: factor, low_freq_factor < high_freq_factor and original_max_position_embeddings must be positive, got {s}");
    }

    /// <summary>Parameters a forward token touches in matmuls, for FLOP estimates (6·N per trained token).</summary>
    public long MatmulParameters =>
        (long)Layers * ((long)QkvWidth * Channels + (long)AttentionWidth * Channels + (long)MlpUpWidth * Channels + (long)MlpWidth * Channels)
        + (long)VocabSize * Channels;

    /// <summary>Attention FLOPs per trained token besides the matmul weights: QKᵀ and att·V forward and backward over a window of T.</summary>
    public double AttentionFlopsPerToken(int sequence) => 12.0 * Layers * AttentionWidth * sequence;

    public static ModelConfig Tiny(int vocab, int maxSequence = 128) => new(4, 256, 4, vocab, maxSequence);

    /// <summary>A small Llama-style model of the size of <see cref="Tiny"/> (4 layers, 256 channels, 4 heads): see <see cref="FromScratch"/>.</summary>
    public static ModelConfig LlamaTiny(int vocab, int maxSequence = 128) => FromScratch("llama", 4, 256, 4, vocab, maxSequence);

    /// <summary>The architectures a model trained from scratch can take (`--arch`).</summary>
    public static readonly string[] Architectures = ["gpt2", "llama"];

    /// <summary>
    /// A model to train from scratch. "gpt2" is GPT-2 of the given size; "llama" is a Llama-style model of
    /// the same width: half as many KV heads as query heads (grouped-query attention; all of them when
    /// the heads are odd), a SwiGLU MLP of about 8·C/3 rounded up to a multiple of 16 (Llama's choice, so
    /// its MLP costs what GPT-2's 4·C GELU MLP costs), RMSNorm with eps 1e-5, rope_theta 10,000, a tied head.
    /// </summary>
    public static ModelConfig FromScratch(string arch, int layers, int channels, int heads, int vocab, int maxSequence) => arch switch
    {
        "gpt2" => new ModelConfig(layers, channels, heads, vocab, maxSequence),
        "llama" => new ModelConfig(layers, channels, heads, vocab, maxSequence)
        {
            Family = ModelFamily.Llama, ModelType = "llama", KvHeads = heads % 2 == 0 ? heads / 2 : heads,
            Intermediate = (8 * channels / 3 + 15) / 16 * 16, NormEps = 1e-5f, RopeTheta = 10000.0, TiedEmbeddings = true,
        },
        _ => throw new ArgumentException($"--arch {arch}: expected one of {string.Join(", ", Architectures)}"),
    };

    /// <summary>One line for start-up logs: family, shape and parameter count.</summary>
    public string Describe(long parameters) => IsGpt2
        ? $"gpt2: {Layers} layers, {Channels} channels, {Heads} heads, window {MaxSequence}, vocabulary {VocabSize}, {parameters / 1e6:F2}M parameters"
        : $"{ModelType} (Llama family): {Layers} layers, hidden {Channels}, {Heads} query / {KvHeadCount} KV heads of {HeadSize}, " +
          $"MLP {MlpWidth}, window {MaxSequence}, vocabulary {VocabSize}, {(TiedEmbeddings ? "tied" : "untied")} head" +
          $"{(QkNorm ? ", q/k norm" : "")}{(AttentionBias ? ", q/k/v bias" : "")}, {parameters / 1e6:F2}M parameters";
}
