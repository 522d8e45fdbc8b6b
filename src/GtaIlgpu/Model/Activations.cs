using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

/// <summary>
/// How a pool is carved besides its shape. Adapters: each layer keeps x·Aᵀ (rows, r) of every LoRA module
/// (the B gradient needs it) and the pool one (rows, widest module) scratch for the adapted update.
/// Recompute: only each block's output (the next block's input) is kept per layer; all other per-layer
/// tensors, and their gradients, share one layer's room, and the backward pass recomputes each block's
/// forward into it before taking its gradient (activation checkpointing per block). A forward-only pool
/// carved so needs no recomputation: nothing reads a block's tensors after the next block has run.
/// Logits: false carves no (B,T,V) logits (a prefill that only fills the KV cache computes none).
/// </summary>
public sealed record ActivationOptions(AdapterLayout? Adapters = null, bool Recompute = false, bool Logits = true)
{
    public static readonly ActivationOptions None = new();
}

/// <summary>
/// Every intermediate tensor of one forward pass at a fixed (B, T), carved from ONE buffer allocated
/// once; when <paramref name="withGradients"/> is set, a second buffer of the same structure holds their
/// gradients. Nothing is allocated per step: a trainer keeps one pool per shape it uses.
/// </summary>
public sealed class Activations : IDisposable
{
    public sealed class Layer
    {
        /// <summary>
        /// Qkv is the QKV matmul's output; for Llama-family models the rotary turns its q and k in place, and
        /// with Qwen3's q/k norm QkNormed holds the normalised (then rotated) copy that attention reads.
        /// FcH is GPT-2's c_fc output or the fused [gate | up]; FcGelu is the activation (GELU or SwiGLU).
        /// The Mean buffers exist for LayerNorm only.
        /// </summary>
        public BufferView<float> Ln1, Ln1Mean, Ln1Rstd, Qkv, QkNormed, QkRstd, AttnOut, Att, AttnProj, Residual2,
            Ln2, Ln2Mean, Ln2Rstd, FcH, FcGelu, FcProj, Residual3;

        /// <summary>x·Aᵀ (rows, r) of each LoRA module of the layer, in <see cref="AdapterLayout.Layer"/> order (values pool only).</summary>
        public BufferView<float>[] Lora = [];
    }

    private readonly DeviceBuffer<float> _values;
    private readonly DeviceBuffer<float>? _gradients;

    /// <summary>A pool for this model: its adapters (when it has any) and its recompute choice.</summary>
    public Activations(Transformer model, int batch, int sequence, bool withGradients)
        : this(model.Backend, model.Config, batch, sequence, withGradients, model.ActivationOptions) { }

    public Activations(IBackend backend, ModelConfig config, int batch, int sequence, bool withGradients, ActivationOptions? options = null)
    {
        options ??= ActivationOptions.None;
        Options = options;
        if (batch <= 0 || sequence <= 0) throw new ArgumentException($"activation shape must be positive, got B={batch}, T={sequence}");
        if (sequence > config.MaxSequence)
            throw new ArgumentException($"sequence length {sequence} exceeds the model's maximum of {config.MaxSequence}");
        Batch = batch;
        Sequence = sequence;
        Config = config;
        _values = backend.Allocate<float>(Layout(null, config, options, batch, sequence, false, out _, out _));
        Layout(_values, config, options, batch, sequence, false, out var values, out var layers);
        (Encoded, LnF, LnFMean, LnFRstd, Logits, LogProbs, LoraScratch, _, _) = values;
        Layers = layers;
        if (withGradients)
        {
            _gradients = backend.Allocate<float>(Layout(null, config, options, batch, sequence, true, out _, out _));
            Layout(_gradients, config, options, batch, sequence, true, out var grads, out var gradLayers);
            (DEncoded, DLnF, _, _, _, _, _, DLora, SharedLayerGradients) = grads;
            DLayers = gradLayers;
            // The gradient pool holds one (B,NH,T,T) block, layer 0's, used by every layer as attention scratch.
            AttentionScratch = gradLayers[0].Att;
        }
        else
        {
            DLayers = [];
        }
        TokenCount = batch * sequence;
        _backend = backend;
        _headRows = backend.Allocate<int>(TokenCount);
        // Each row's position for the rotary: t of (b, t). A decode step passes its own positions instead.
        _positions = backend.Allocate<int>(TokenCount);
        var positions = new int[TokenCount];
        for (int i = 0; i < positions.Length; i++) positions[i] = i % sequence;
        backend.Upload(_positions.View, positions);
    }

    private readonly DeviceBuffer<int> _positions;

    /// <summary>(B·T) position of every row, t for row b·T + t.</summary>
    public BufferView<int> Positions => _positions.View;

    private readonly IBackend _backend;
    private readonly DeviceBuffer<int> _headRows;

    /// <summary>
    /// How many positions the LM head computes logits for: −1 (the default) for all B·T, else the
    /// first HeadRowCount entries of <see cref="HeadRows"/>. Logits (and their gradient) of the other
    /// positions are then left stale, so every position with a loss target must be listed.
    /// </summary>
    public int HeadRowCount { get; private set; } = -1;

    /// <summary>The positions (flattened b·T + t) whose logits the head computes, when HeadRowCount ≥ 0.</summary>
    public BufferView<int> HeadRows => _headRows.View;

    /// <summary>
    /// Restricts the head to these positions (strictly ascending, inside B·T); an empty list computes no
    /// logits at all (a prefill whose logits nobody reads). The head's results on these rows are the
    /// same bits as a full head's: each logit row and each input-gradient row is its own dot products.
    /// </summary>
    public void SetHeadRows(ReadOnlySpan<int> rows)
    {
        Kernels.OpShapes.RowIndices("head_rows", rows, TokenCount);
        if (rows.Length > 0) _backend.Upload(_headRows.View.Slice(0, rows.Length), rows);
        HeadRowCount = rows.Length;
    }

    /// <summary>Floats of the value pool plus (with gradients) the gradient pool for (B, T): what the memory plan counts.</summary>
    public static long Floats(ModelConfig config, int batch, int sequence, bool withGradients, ActivationOptions? options = null)
    {
        options ??= ActivationOptions.None;
        return Layout(null, config, options, batch, sequence, false, out _, out _) +
            (withGradients ? Layout(null, config, options, batch, sequence, true, out _, out _) : 0);
    }

    /// <summary>Back to logits at every position.</summary>
    public void UseAllHeadRows() => HeadRowCount = -1;

    public ModelConfig Config { get; }
    public ActivationOptions Options { get; }

    /// <summary>Whether the per-layer tensors share one layer's room (see <see cref="ActivationOptions"/>).</summary>
    public bool Recompute => Options.Recompute;
    public int Batch { get; }
    public int Sequence { get; }
    public int TokenCount { get; }

    public BufferView<float> Encoded { get; }
    public Layer[] Layers { get; }
    public BufferView<float> LnF { get; }
    public BufferView<float> LnFMean { get; }
    public BufferView<float> LnFRstd { get; }

    /// <summary>(B,T,V) logits; the fused loss kernel overwrites them with their gradient in place.</summary>
    public BufferView<float> Logits { get; }

    /// <summary>(B,T) log p(target) per position, written by the loss kernel.</summary>
    public BufferView<float> LogProbs { get; }

    public BufferView<float> DEncoded { get; }
    public Layer[] DLayers { get; }
    public BufferView<float> DLnF { get; }
    public BufferView<float> AttentionScratch { get; }

    /// <summary>(rows, widest LoRA module) scratch for the adapter's B·h and its gradient; empty without adapters.</summary>
    public BufferView<float> LoraScratch { get; }

    /// <summary>(rows, r): the gradient of one module's x·Aᵀ, reused by every module; empty without adapters.</summary>
    public BufferView<float> DLora { get; }

    /// <summary>With recompute: the gradient room all layers share (zeroed before each layer's backward); else empty.</summary>
    public BufferView<float> SharedLayerGradients { get; }

    /// <summary>The whole gradient pool, zeroed once at the start of every backward pass.</summary>
    public BufferView<float> GradientPool => _gradients?.View ?? throw new InvalidOperationException("this activation pool was built without gradients");

    public bool HasGradients => _gradients is not null;

    /// <summary>
    /// Carves the pool (or, with a null buffer, just measures it). The gradient pool skips what has no
    /// gradient: layernorm statistics, the logits (their gradient overwrites them in place), the LoRA
    /// x·Aᵀ and the per-layer attention probabilities, keeping only one (B,NH,T,T) block as scratch.
    /// With recompute, every layer's tensors but Residual3 are carved once and shared.
    /// </summary>
    private static long Layout(DeviceBuffer<float>? buffer, ModelConfig config, ActivationOptions options, int B, int T, bool gradients,
        out (BufferView<float> Encoded, BufferView<float> LnF, BufferView<float> LnFMean, BufferView<float> LnFRstd, BufferView<float> Logits,
            BufferView<float> LogProbs, BufferView<float> LoraScratch, BufferView<float> DLora, BufferView<float> Shared) top,
        out Layer[] layers)
    {
        long offset = 0;
        BufferView<float> Take(long length, bool needed = true)
        {
            if (!needed) return default;
            long start = offset;
            offset = ParameterLayout.Align(offset + length);
            return buffer is null ? default : buffer.Slice(start, length);
        }

        int C = config.Channels, NH = config.Heads, V = config.VocabSize;
        long BT = (long)B * T;
        bool layerNorm = config.IsGpt2;
        var adapters = options.Adapters;
        int rank = adapters?.Lora.Rank ?? 0;
        var encoded = Take(BT * C);

        Layer Carve(int l) => new()
        {
            Ln1 = Take(BT * C), Ln1Mean = Take(BT, !gradients && layerNorm), Ln1Rstd = Take(BT, !gradients), Qkv = Take(BT * config.QkvWidth),
            QkNormed = Take(BT * config.QkvWidth, config.QkNorm), QkRstd = Take(BT * (NH + config.KvHeadCount), config.QkNorm && !gradients),
            AttnOut = Take(BT * config.AttentionWidth), Att = Take((long)B * NH * T * T, !gradients || l == 0), AttnProj = Take(BT * C, !gradients), Residual2 = Take(BT * C),
            Ln2 = Take(BT * C), Ln2Mean = Take(BT, !gradients && layerNorm), Ln2Rstd = Take(BT, !gradients), FcH = Take(BT * config.MlpUpWidth),
            FcGelu = Take(BT * config.MlpWidth), FcProj = Take(BT * C, !gradients),
            Lora = gradients || adapters is null ? [] : Enumerable.Range(0, adapters.ModulesPerLayer).Select(_ => Take(BT * rank)).ToArray(),
        };

        layers = new Layer[config.Layers];
        BufferView<float> shared = default;
        if (options.Recompute)
        {
            long sharedStart = offset;
            var room = Carve(0);
            if (buffer is not null) shared = buffer.Slice(sharedStart, offset - sharedStart);
            for (int l = 0; l < config.Layers; l++)
            {
                layers[l] = new Layer
                {
                    Ln1 = room.Ln1, Ln1Mean = room.Ln1Mean, Ln1Rstd = room.Ln1Rstd, Qkv = room.Qkv, QkNormed = room.QkNormed, QkRstd = room.QkRstd,
                    AttnOut = room.AttnOut, Att = room.Att, AttnProj = room.AttnProj, Residual2 = room.Residual2, Ln2 = room.Ln2,
                    Ln2Mean = room.Ln2Mean, Ln2Rstd = room.Ln2Rstd, FcH = room.FcH, FcGelu = room.FcGelu, FcProj = room.FcProj, Lora = room.Lora,
                    Residual3 = Take(BT * C),
                };
            }
        }
        else
        {
            for (int l = 0; l < config.Layers; l++)
            {
                layers[l] = Carve(l);
                layers[l].Residual3 = Take(BT * C);
            }
        }
        var lnf = Take(BT * C);
        var lnfMean = Take(BT, !gradients && layerNorm);
        var lnfRstd = Take(BT, !gradients);
        var logits = Take(BT * V, !gradients && options.Logits);
        var logprobs = Take(BT, !gradients && options.Logits);
        var loraScratch = Take(BT * (adapters?.MaxOut ?? 0), !gradients && adapters is not null);
        var dLora = Take(BT * rank, gradients && adapters is not null);
        top = (encoded, lnf, lnfMean, lnfRstd, logits, logprobs, loraScratch, dLora, gradients ? shared : default);
        return offset;
    }

    public void Dispose()
    {
        _values.Dispose();
        _gradients?.Dispose();
        _headRows.Dispose();
        _positions.Dispose();
    }
}
