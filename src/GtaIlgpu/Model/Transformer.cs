using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

/// <summary>
/// GPT-2 in one screen: token + learned position embeddings, pre-LayerNorm blocks of causal multi-head
/// attention (fused QKV with bias, output projection with bias) and a 4× GELU MLP, a final LayerNorm,
/// and an LM head tied to the token embedding. Parameters and their gradients are each ONE flat buffer
/// (see <see cref="ParameterLayout"/>). The model knows nothing of training: it runs forward, backward
/// (given dlogits) and single-token decode steps over a KV cache, all through <see cref="IOps"/>.
/// </summary>
public sealed class Transformer : IDisposable
{
    /// <summary>Per-layer views into the flat parameter (or gradient) buffer.</summary>
    public sealed class LayerWeights
    {
        public BufferView<float> Ln1W, Ln1B, QkvW, QkvB, AttnProjW, AttnProjB, Ln2W, Ln2B, FcW, FcB, FcProjW, FcProjB;
    }

    public sealed class Weights
    {
        public BufferView<float> Wte, Wpe, LnFW, LnFB;
        public LayerWeights[] Layers = [];
    }

    private readonly IOps _ops;

    public Transformer(IBackend backend, ModelConfig config)
    {
        config.Validate();
        Backend = backend;
        Config = config;
        _ops = backend.Ops;
        Layout = new ParameterLayout(config);
        Parameters = backend.Allocate<float>(Layout.TotalLength);
        Gradients = backend.Allocate<float>(Layout.TotalLength);
        W = Views(Parameters);
        G = Views(Gradients);
    }

    public IBackend Backend { get; }
    public ModelConfig Config { get; }
    public ParameterLayout Layout { get; }
    public DeviceBuffer<float> Parameters { get; }
    public DeviceBuffer<float> Gradients { get; }
    public Weights W { get; }
    public Weights G { get; }

    /// <summary>GPT-2 initialisation (std 0.02; residual projections 0.02/√(2·layers)), from a seed.</summary>
    public void InitializeWeights(ulong seed) => Backend.Upload(Parameters.View, Layout.Initialize(seed));

    public void ZeroGradients() => _ops.Fill(Gradients.View, 0f);

    private Weights Views(DeviceBuffer<float> buffer)
    {
        BufferView<float> V(string name)
        {
            var t = Layout[name];
            return buffer.Slice(t.Offset, t.Length);
        }

        var layers = new LayerWeights[Config.Layers];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"h.{l}.";
            layers[l] = new LayerWeights
            {
                Ln1W = V(p + "ln_1.weight"), Ln1B = V(p + "ln_1.bias"),
                QkvW = V(p + "attn.c_attn.weight"), QkvB = V(p + "attn.c_attn.bias"),
                AttnProjW = V(p + "attn.c_proj.weight"), AttnProjB = V(p + "attn.c_proj.bias"),
                Ln2W = V(p + "ln_2.weight"), Ln2B = V(p + "ln_2.bias"),
                FcW = V(p + "mlp.c_fc.weight"), FcB = V(p + "mlp.c_fc.bias"),
                FcProjW = V(p + "mlp.c_proj.weight"), FcProjB = V(p + "mlp.c_proj.bias"),
            };
        }
        return new Weights { Wte = V("wte.weight"), Wpe = V("wpe.weight"), LnFW = V("ln_f.weight"), LnFB = V("ln_f.bias"), Layers = layers };
    }

    /// <summary>
    /// Forward pass over tokens (B,T) into acts.Logits (B,T,V). When kvCache is given, each layer's
    /// keys and values are also stored in it (prefill for incremental decoding).
    /// </summary>
    public void Forward(Activations acts, BufferView<int> tokens, KvCache? kvCache = null)
    {
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels;
        if (tokens.Length < B * T) throw new ArgumentException($"forward: tokens hold {tokens.Length} ids but B·T = {B * T}");
        if (kvCache is not null && (kvCache.Batch < B || kvCache.MaxSequence < T))
            throw new ArgumentException($"forward: KV cache of (B={kvCache.Batch}, T={kvCache.MaxSequence}) is too small for ({B}, {T})");
        _ops.EncoderForward(acts.Encoded, tokens, W.Wte, W.Wpe, B, T, C);
        var residual = acts.Encoded;
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, default);
        Head(acts, residual, B * T);
    }

    /// <summary>
    /// One transformer block over acts' rows. Training and prefill attend causally over the sequence
    /// (prefill also stores keys and values in the cache); a decode step (T = 1 with positions) attends
    /// over the cache instead. Everything else is the same code for both.
    /// </summary>
    private BufferView<float> Block(int l, Activations acts, BufferView<float> residual, KvCache? kvCache, BufferView<int> positions)
    {
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, NH = Config.Heads, rows = B * T;
        bool decode = !positions.IsEmpty;
        var w = W.Layers[l];
        var a = acts.Layers[l];
        _ops.LayerNormForward(a.Ln1, a.Ln1Mean, a.Ln1Rstd, residual, w.Ln1W, w.Ln1B, rows, C);
        _ops.MatmulForward(a.Qkv, a.Ln1, w.QkvW, w.QkvB, rows, C, 3 * C);
        if (decode)
        {
            _ops.AttentionDecode(a.AttnOut, kvCache!.Layer(l), a.Qkv, positions, B, C, NH, kvCache.MaxSequence);
        }
        else
        {
            if (kvCache is not null) _ops.KvCacheStore(kvCache.Layer(l), a.Qkv, B, T, C, kvCache.MaxSequence);
            _ops.AttentionForward(a.AttnOut, a.Att, a.Qkv, B, T, C, NH);
        }
        _ops.MatmulForward(a.AttnProj, a.AttnOut, w.AttnProjW, w.AttnProjB, rows, C, C);
        _ops.Add(a.Residual2, residual, a.AttnProj, rows * C);
        _ops.LayerNormForward(a.Ln2, a.Ln2Mean, a.Ln2Rstd, a.Residual2, w.Ln2W, w.Ln2B, rows, C);
        _ops.MatmulForward(a.FcH, a.Ln2, w.FcW, w.FcB, rows, C, 4 * C);
        _ops.GeluForward(a.FcGelu, a.FcH, rows * 4 * C);
        _ops.MatmulForward(a.FcProj, a.FcGelu, w.FcProjW, w.FcProjB, rows, 4 * C, C);
        _ops.Add(a.Residual3, a.Residual2, a.FcProj, rows * C);
        return a.Residual3;
    }

    /// <summary>
    /// Final layernorm and the tied LM head: logits (rows, V), or only the rows acts.HeadRows names
    /// (gathered, multiplied compactly, scattered back): in a GTA batch most positions are prompt with
    /// no target, and the head is about half of the model's FLOPs per position.
    /// </summary>
    private void Head(Activations acts, BufferView<float> residual, int rows)
    {
        int C = Config.Channels, V = Config.VocabSize;
        _ops.LayerNormForward(acts.LnF, acts.LnFMean, acts.LnFRstd, residual, W.LnFW, W.LnFB, rows, C);
        int R = acts.HeadRowCount;
        if (R < 0)
        {
            _ops.MatmulForward(acts.Logits, acts.LnF, W.Wte, default, rows, C, V);
            return;
        }
        if (R == 0) return;
        var (input, logits) = HeadScratch(R);
        _ops.GatherRows(input, acts.LnF, acts.HeadRows, R, C);
        _ops.MatmulForward(logits, input, W.Wte, default, R, C, V);
        _ops.ScatterRows(acts.Logits, logits, acts.HeadRows, R, V);
    }

    private DeviceBuffer<float>? _headScratch;

    /// <summary>Compact (R,C) and (R,V) views for the selected-rows head; the buffer only grows (in steps of 64 rows).</summary>
    private (BufferView<float> Input, BufferView<float> Logits) HeadScratch(int R)
    {
        int C = Config.Channels, V = Config.VocabSize;
        long needed = (long)R * (C + V);
        if (_headScratch is null || _headScratch.Length < needed)
        {
            _headScratch?.Dispose();
            _headScratch = Backend.Allocate<float>((long)((R + 63) / 64 * 64) * (C + V));
        }
        var view = _headScratch.View;
        return (view.Slice(0, (long)R * C), view.Slice((long)R * C, (long)R * V));
    }

    /// <summary>
    /// Backward pass. Expects acts.Logits to hold dlogits (written in place by the fused loss kernel)
    /// and the other activations from the matching <see cref="Forward"/>. ACCUMULATES into the parameter
    /// gradients (call <see cref="ZeroGradients"/> first for a fresh step).
    /// </summary>
    public void Backward(Activations acts, BufferView<int> tokens)
    {
        if (!acts.HasGradients) throw new InvalidOperationException("backward needs an activation pool built with gradients");
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, NH = Config.Heads, V = Config.VocabSize;
        int BT = B * T;
        _ops.Fill(acts.GradientPool, 0f);
        int last = Config.Layers - 1;
        var finalResidual = acts.Layers[last].Residual3;
        var dFinalResidual = acts.DLayers[last].Residual3;
        if (acts.HeadRowCount < 0)
        {
            _ops.MatmulBackward(acts.DLnF, G.Wte, default, acts.Logits, acts.LnF, W.Wte, BT, C, V);
        }
        else
        {
            // dLnF only on the head's rows (the others stay zero), from the compact dlogits; dWte over
            // every row as before, where the loss kernel left zeros, so its summation order is unchanged.
            int R = acts.HeadRowCount;
            if (R > 0)
            {
                var (dInput, dLogits) = HeadScratch(R);
                _ops.GatherRows(dLogits, acts.Logits, acts.HeadRows, R, V);
                _ops.Fill(dInput, 0f);
                // Without dweight the input is never read: LnF only satisfies the shape check.
                _ops.MatmulBackward(dInput, default, default, dLogits, acts.LnF, W.Wte, R, C, V);
                _ops.ScatterRows(acts.DLnF, dInput, acts.HeadRows, R, C);
            }
            _ops.MatmulBackward(default, G.Wte, default, acts.Logits, acts.LnF, W.Wte, BT, C, V);
        }
        _ops.LayerNormBackward(dFinalResidual, G.LnFW, G.LnFB, acts.DLnF, finalResidual, W.LnFW, acts.LnFMean, acts.LnFRstd, BT, C);
        for (int l = last; l >= 0; l--)
        {
            var w = W.Layers[l];
            var g = G.Layers[l];
            var a = acts.Layers[l];
            var d = acts.DLayers[l];
            var residual = l == 0 ? acts.Encoded : acts.Layers[l - 1].Residual3;
            var dResidual = l == 0 ? acts.DEncoded : acts.DLayers[l - 1].Residual3;
            // residual3 = residual2 + fcproj: the gradient of fcproj is dresidual3 itself.
            _ops.Accumulate(d.Residual2, d.Residual3);
            _ops.MatmulBackward(d.FcGelu, g.FcProjW, g.FcProjB, d.Residual3, a.FcGelu, w.FcProjW, BT, 4 * C, C);
            _ops.GeluBackward(d.FcH, a.FcH, d.FcGelu, BT * 4 * C);
            _ops.MatmulBackward(d.Ln2, g.FcW, g.FcB, d.FcH, a.Ln2, w.FcW, BT, C, 4 * C);
            _ops.LayerNormBackward(d.Residual2, g.Ln2W, g.Ln2B, d.Ln2, a.Residual2, w.Ln2W, a.Ln2Mean, a.Ln2Rstd, BT, C);
            // residual2 = residual + attnproj: likewise.
            _ops.Accumulate(dResidual, d.Residual2);
            _ops.MatmulBackward(d.AttnOut, g.AttnProjW, g.AttnProjB, d.Residual2, a.AttnOut, w.AttnProjW, BT, C, C);
            _ops.AttentionBackward(d.Qkv, acts.AttentionScratch, d.AttnOut, a.Qkv, a.Att, B, T, C, NH);
            _ops.MatmulBackward(d.Ln1, g.QkvW, g.QkvB, d.Qkv, a.Ln1, w.QkvW, BT, C, 3 * C);
            _ops.LayerNormBackward(dResidual, g.Ln1W, g.Ln1B, d.Ln1, residual, w.Ln1W, a.Ln1Mean, a.Ln1Rstd, BT, C);
        }
        _ops.EncoderBackward(G.Wte, G.Wpe, acts.DEncoded, tokens, B, T, C);
    }

    /// <summary>
    /// One incremental decoding step: token[b] at positions[b] for each sequence, attending over the
    /// cache (which receives this token's keys and values). acts must be a pool of shape (B, 1);
    /// the next-token logits land in acts.Logits (B,V).
    /// </summary>
    public void DecodeStep(Activations acts, KvCache kvCache, BufferView<int> tokens, BufferView<int> positions)
    {
        if (acts.Sequence != 1) throw new ArgumentException("decode step needs an activation pool with T = 1");
        int B = acts.Batch;
        if (kvCache.Batch < B) throw new ArgumentException($"decode step: KV cache holds {kvCache.Batch} sequences, batch is {B}");
        if (positions.Length < B) throw new ArgumentException($"decode step: {positions.Length} positions for a batch of {B}");
        _ops.EncoderDecodeForward(acts.Encoded, tokens, positions, W.Wte, W.Wpe, B, Config.Channels);
        var residual = acts.Encoded;
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, positions);
        Head(acts, residual, B);
    }

    public void Dispose()
    {
        Parameters.Dispose();
        Gradients.Dispose();
        _headScratch?.Dispose();
    }
}

/// <summary>Keys and values of every layer for B sequences of up to MaxSequence tokens: (L, B, maxT, 2C).</summary>
public sealed class KvCache : IDisposable
{
    private readonly DeviceBuffer<float> _buffer;
    private readonly long _layerLength;

    public KvCache(IBackend backend, ModelConfig config, int batch, int maxSequence)
    {
        if (maxSequence > config.MaxSequence)
            throw new ArgumentException($"KV cache length {maxSequence} exceeds the model's maximum sequence {config.MaxSequence}");
        Batch = batch;
        MaxSequence = maxSequence;
        _layerLength = (long)batch * maxSequence * 2 * config.Channels;
        _buffer = backend.Allocate<float>(_layerLength * config.Layers);
    }

    public int Batch { get; }
    public int MaxSequence { get; }

    public BufferView<float> Layer(int layer) => _buffer.Slice(layer * _layerLength, _layerLength);

    public void Dispose() => _buffer.Dispose();
}
