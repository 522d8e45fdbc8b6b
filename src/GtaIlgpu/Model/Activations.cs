using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

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
    }

    private readonly DeviceBuffer<float> _values;
    private readonly DeviceBuffer<float>? _gradients;

    public Activations(IBackend backend, ModelConfig config, int batch, int sequence, bool withGradients)
    {
        if (batch <= 0 || sequence <= 0) throw new ArgumentException($"activation shape must be positive, got B={batch}, T={sequence}");
        if (sequence > config.MaxSequence)
            throw new ArgumentException($"sequence length {sequence} exceeds the model's maximum of {config.MaxSequence}");
        Batch = batch;
        Sequence = sequence;
        Config = config;
        _values = backend.Allocate<float>(Layout(null, config, batch, sequence, false, out _, out _));
        Layout(_values, config, batch, sequence, false, out var values, out var layers);
        (Encoded, LnF, LnFMean, LnFRstd, Logits, LogProbs) = values;
        Layers = layers;
        if (withGradients)
        {
            _gradients = backend.Allocate<float>(Layout(null, config, batch, sequence, true, out _, out _));
            Layout(_gradients, config, batch, sequence, true, out var grads, out var gradLayers);
            (DEncoded, DLnF, _, _, _, _) = grads;
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
    public static long Floats(ModelConfig config, int batch, int sequence, bool withGradients) =>
        Layout(null, config, batch, sequence, false, out _, out _) + (withGradients ? Layout(null, config, batch, sequence, true, out _, out _) : 0);

    /// <summary>Back to logits at every position.</summary>
    public void UseAllHeadRows() => HeadRowCount = -1;

    public ModelConfig Config { get; }
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

    /// <summary>The whole gradient pool, zeroed once at the start of every backward pass.</summary>
    public BufferView<float> GradientPool => _gradients?.View ?? throw new InvalidOperationException("this activation pool was built without gradients");

    public bool HasGradients => _gradients is not null;

    /// <summary>
    /// Carves the pool (or, with a null buffer, just measures it). The gradient pool skips what has no
    /// gradient: layernorm statistics, the logits (their gradient overwrites them in place) and the
    /// per-layer attention probabilities, keeping only one (B,NH,T,T) block as scratch.
    /// </summary>
    private static long Layout(DeviceBuffer<float>? buffer, ModelConfig config, int B, int T, bool gradients,
        out (BufferView<float>, BufferView<float>, BufferView<float>, BufferView<float>, BufferView<float>, BufferView<float>) top,
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
        var encoded = Take(BT * C);
        layers = new Layer[config.Layers];
        for (int l = 0; l < config.Layers; l++)
        {
            layers[l] = new Layer
            {
                Ln1 = Take(BT * C), Ln1Mean = Take(BT, !gradients && layerNorm), Ln1Rstd = Take(BT, !gradients), Qkv = Take(BT * config.QkvWidth),
                QkNormed = Take(BT * config.QkvWidth, config.QkNorm), QkRstd = Take(BT * (NH + config.KvHeadCount), config.QkNorm && !gradients),
                AttnOut = Take(BT * config.AttentionWidth), Att = Take((long)B * NH * T * T, !gradients || l == 0), AttnProj = Take(BT * C, !gradients), Residual2 = Take(BT * C),
                Ln2 = Take(BT * C), Ln2Mean = Take(BT, !gradients && layerNorm), Ln2Rstd = Take(BT, !gradients), FcH = Take(BT * config.MlpUpWidth),
                FcGelu = Take(BT * config.MlpWidth), FcProj = Take(BT * C, !gradients), Residual3 = Take(BT * C),
            };
        }
        var lnf = Take(BT * C);
        var lnfMean = Take(BT, !gradients && layerNorm);
        var lnfRstd = Take(BT, !gradients);
        var logits = Take(BT * V, !gradients);
        var logprobs = Take(BT, !gradients);
        top = (encoded, lnf, lnfMean, lnfRstd, logits, logprobs);
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
