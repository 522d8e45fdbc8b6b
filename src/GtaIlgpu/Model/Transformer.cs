using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

/// <summary>
/// A decoder-only transformer of either family in one screen. GPT-2: token + learned position embeddings,
/// pre-LayerNorm blocks of causal multi-head attention (fused QKV with bias) and a 4× GELU MLP, a final
/// LayerNorm, an LM head tied to the token embedding. The Llama family (Llama 3, Qwen2, Qwen3): no
/// position embedding but a rotary turn of q and k, RMSNorm, grouped-query attention (optional q/k/v
/// biases, Qwen3's per-head q/k RMSNorm before the rotary), a SwiGLU MLP, a tied or separate head.
/// The block seam is the same: norm → attention → residual → norm → MLP → residual. Which tensors exist
/// comes from <see cref="ModelFamilies"/>; parameters and their gradients are each ONE flat buffer
/// (<see cref="ParameterLayout"/>). The model knows nothing of training: it runs forward, backward
/// (given dlogits) and single-token decode steps over a KV cache, all through <see cref="IOps"/>.
/// </summary>
public sealed class Transformer : IDisposable
{
    /// <summary>Per-layer views into the flat parameter (or gradient) buffer, by role; absent ones are empty.</summary>
    public sealed class LayerWeights
    {
        public BufferView<float> Ln1W, Ln1B, QkvW, QkvB, QNormW, KNormW, AttnProjW, AttnProjB, Ln2W, Ln2B, FcW, FcB, FcProjW, FcProjB;
    }

    /// <summary>Wpe is empty for rotary families; Head is Wte itself when the head is tied.</summary>
    public sealed class Weights
    {
        public BufferView<float> Wte, Wpe, LnFW, LnFB, Head;
        public LayerWeights[] Layers = [];
    }

    private readonly IOps _ops;
    private readonly DeviceBuffer<float>? _invFreq;

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
        if (!config.IsGpt2) _invFreq = backend.AllocateFrom<float>(RotaryFrequencies.Compute(config));
    }

    public IBackend Backend { get; }
    public ModelConfig Config { get; }
    public ParameterLayout Layout { get; }
    public DeviceBuffer<float> Parameters { get; }
    public DeviceBuffer<float> Gradients { get; }
    public Weights W { get; }
    public Weights G { get; }

    /// <summary>The family's initialisation (GPT-2: std 0.02, residual projections 0.02/√(2·layers); Llama: 0.02, norms 1), from a seed.</summary>
    public void InitializeWeights(ulong seed) => Backend.Upload(Parameters.View, Layout.Initialize(seed));

    public void ZeroGradients() => _ops.Fill(Gradients.View, 0f);

    private Weights Views(DeviceBuffer<float> buffer)
    {
        BufferView<float> V(TensorRole role, int layer = -1) =>
            Layout.Group(role, layer) is { } g ? buffer.Slice(g.Offset, g.Length) : default;

        var layers = new LayerWeights[Config.Layers];
        for (int l = 0; l < layers.Length; l++)
        {
            layers[l] = new LayerWeights
            {
                Ln1W = V(TensorRole.AttentionNormWeight, l), Ln1B = V(TensorRole.AttentionNormBias, l),
                QkvW = V(TensorRole.QkvWeight, l), QkvB = V(TensorRole.QkvBias, l),
                QNormW = V(TensorRole.QueryNorm, l), KNormW = V(TensorRole.KeyNorm, l),
                AttnProjW = V(TensorRole.OutputWeight, l), AttnProjB = V(TensorRole.OutputBias, l),
                Ln2W = V(TensorRole.MlpNormWeight, l), Ln2B = V(TensorRole.MlpNormBias, l),
                FcW = V(TensorRole.UpWeight, l), FcB = V(TensorRole.UpBias, l),
                FcProjW = V(TensorRole.DownWeight, l), FcProjB = V(TensorRole.DownBias, l),
            };
        }
        var wte = V(TensorRole.TokenEmbedding);
        var head = Config.TiedEmbeddings ? wte : V(TensorRole.LmHead);
        return new Weights
        {
            Wte = wte, Wpe = V(TensorRole.PositionEmbedding), LnFW = V(TensorRole.FinalNormWeight), LnFB = V(TensorRole.FinalNormBias),
            Head = head, Layers = layers,
        };
    }

    // ---- the family's choices at the seams --------------------------------------------------------------

    private void NormForward(BufferView<float> output, BufferView<float> mean, BufferView<float> rstd, BufferView<float> input,
        BufferView<float> weight, BufferView<float> bias, int rows)
    {
        if (Config.IsGpt2) _ops.LayerNormForward(output, mean, rstd, input, weight, bias, rows, Config.Channels);
        else _ops.RmsNormForward(output, rstd, input, weight, rows, Config.Channels, Config.NormEps);
    }

    private void NormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput,
        BufferView<float> input, BufferView<float> weight, BufferView<float> mean, BufferView<float> rstd, int rows)
    {
        if (Config.IsGpt2) _ops.LayerNormBackward(dinput, dweight, dbias, doutput, input, weight, mean, rstd, rows, Config.Channels);
        else _ops.RmsNormBackward(dinput, dweight, doutput, input, weight, rstd, rows, Config.Channels);
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
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, acts.Positions, decode: false);
        Head(acts, residual, B * T);
    }

    /// <summary>
    /// One transformer block over acts' rows. Training and prefill attend causally over the sequence
    /// (prefill also stores keys and values in the cache); a decode step (T = 1) attends over the cache
    /// instead. positions hold each row's absolute position (the rotary's angle). Everything else is the
    /// same code for both.
    /// </summary>
    private BufferView<float> Block(int l, Activations acts, BufferView<float> residual, KvCache? kvCache, BufferView<int> positions, bool decode)
    {
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, rows = B * T;
        int NH = Config.Heads, NKV = Config.KvHeadCount, hs = Config.HeadSize;
        var w = W.Layers[l];
        var a = acts.Layers[l];
        NormForward(a.Ln1, a.Ln1Mean, a.Ln1Rstd, residual, w.Ln1W, w.Ln1B, rows);
        _ops.MatmulForward(a.Qkv, a.Ln1, w.QkvW, w.QkvB, rows, C, Config.QkvWidth);
        var qkv = a.Qkv;
        if (!Config.IsGpt2)
        {
            // Qwen3 normalises each q and k head, then (every Llama-family model) the rotary turns them.
            if (Config.QkNorm)
            {
                _ops.QkNormForward(a.QkNormed, a.QkRstd, a.Qkv, w.QNormW, w.KNormW, rows, NH, NKV, hs, Config.NormEps);
                qkv = a.QkNormed;
            }
            _ops.RotaryForward(qkv, positions, _invFreq!.View, rows, NH, NKV, hs);
        }
        if (decode)
        {
            _ops.AttentionDecode(a.AttnOut, kvCache!.Layer(l), qkv, positions, B, NH, NKV, hs, kvCache.MaxSequence);
        }
        else
        {
            if (kvCache is not null) _ops.KvCacheStore(kvCache.Layer(l), qkv, B, T, NH, NKV, hs, kvCache.MaxSequence);
            _ops.AttentionForward(a.AttnOut, a.Att, qkv, B, T, NH, NKV, hs);
        }
        _ops.MatmulForward(a.AttnProj, a.AttnOut, w.AttnProjW, w.AttnProjB, rows, Config.AttentionWidth, C);
        _ops.Add(a.Residual2, residual, a.AttnProj, rows * C);
        NormForward(a.Ln2, a.Ln2Mean, a.Ln2Rstd, a.Residual2, w.Ln2W, w.Ln2B, rows);
        int hidden = Config.MlpWidth;
        _ops.MatmulForward(a.FcH, a.Ln2, w.FcW, w.FcB, rows, C, Config.MlpUpWidth);
        if (Config.IsGpt2) _ops.GeluForward(a.FcGelu, a.FcH, rows * hidden);
        else _ops.SwiGluForward(a.FcGelu, a.FcH, rows, hidden);
        _ops.MatmulForward(a.FcProj, a.FcGelu, w.FcProjW, w.FcProjB, rows, hidden, C);
        _ops.Add(a.Residual3, a.Residual2, a.FcProj, rows * C);
        return a.Residual3;
    }

    /// <summary>
    /// Final norm and the LM head (tied or not): logits (rows, V), or only the rows acts.HeadRows names
    /// (gathered, multiplied compactly, scattered back): in a GTA batch most positions are prompt with
    /// no target, and the head is about half of the model's FLOPs per position.
    /// </summary>
    private void Head(Activations acts, BufferView<float> residual, int rows)
    {
        int C = Config.Channels, V = Config.VocabSize;
        NormForward(acts.LnF, acts.LnFMean, acts.LnFRstd, residual, W.LnFW, W.LnFB, rows);
        int R = acts.HeadRowCount;
        if (R < 0)
        {
            _ops.MatmulForward(acts.Logits, acts.LnF, W.Head, default, rows, C, V);
            return;
        }
        if (R == 0) return;
        var (input, logits) = HeadScratch(R);
        _ops.GatherRows(input, acts.LnF, acts.HeadRows, R, C);
        _ops.MatmulForward(logits, input, W.Head, default, R, C, V);
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
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, V = Config.VocabSize;
        int NH = Config.Heads, NKV = Config.KvHeadCount, hs = Config.HeadSize, hidden = Config.MlpWidth;
        int BT = B * T;
        _ops.Fill(acts.GradientPool, 0f);
        int last = Config.Layers - 1;
        var finalResidual = acts.Layers[last].Residual3;
        var dFinalResidual = acts.DLayers[last].Residual3;
        if (acts.HeadRowCount < 0)
        {
            _ops.MatmulBackward(acts.DLnF, G.Head, default, acts.Logits, acts.LnF, W.Head, BT, C, V);
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
                _ops.MatmulBackward(dInput, default, default, dLogits, acts.LnF, W.Head, R, C, V);
                _ops.ScatterRows(acts.DLnF, dInput, acts.HeadRows, R, C);
            }
            _ops.MatmulBackward(default, G.Head, default, acts.Logits, acts.LnF, W.Head, BT, C, V);
        }
        NormBackward(dFinalResidual, G.LnFW, G.LnFB, acts.DLnF, finalResidual, W.LnFW, acts.LnFMean, acts.LnFRstd, BT);
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
            _ops.MatmulBackward(d.FcGelu, g.FcProjW, g.FcProjB, d.Residual3, a.FcGelu, w.FcProjW, BT, hidden, C);
            if (Config.IsGpt2) _ops.GeluBackward(d.FcH, a.FcH, d.FcGelu, BT * hidden);
            else _ops.SwiGluBackward(d.FcH, d.FcGelu, a.FcH, BT, hidden);
            _ops.MatmulBackward(d.Ln2, g.FcW, g.FcB, d.FcH, a.Ln2, w.FcW, BT, C, Config.MlpUpWidth);
            NormBackward(d.Residual2, g.Ln2W, g.Ln2B, d.Ln2, a.Residual2, w.Ln2W, a.Ln2Mean, a.Ln2Rstd, BT);
            // residual2 = residual + attnproj: likewise.
            _ops.Accumulate(dResidual, d.Residual2);
            _ops.MatmulBackward(d.AttnOut, g.AttnProjW, g.AttnProjB, d.Residual2, a.AttnOut, w.AttnProjW, BT, Config.AttentionWidth, C);
            // Attention read the rotated (and, for Qwen3, normalised) q and k: its gradient is taken back
            // through the rotary (a rotation by −θ) and the q/k norm to the QKV matmul's output.
            var qkv = Config.QkNorm ? a.QkNormed : a.Qkv;
            var dQkv = Config.QkNorm ? d.QkNormed : d.Qkv;
            _ops.AttentionBackward(dQkv, acts.AttentionScratch, d.AttnOut, qkv, a.Att, B, T, NH, NKV, hs);
            if (!Config.IsGpt2)
            {
                _ops.RotaryBackward(dQkv, acts.Positions, _invFreq!.View, BT, NH, NKV, hs);
                if (Config.QkNorm)
                    _ops.QkNormBackward(d.Qkv, g.QNormW, g.KNormW, d.QkNormed, a.Qkv, w.QNormW, w.KNormW, a.QkRstd, BT, NH, NKV, hs);
            }
            _ops.MatmulBackward(d.Ln1, g.QkvW, g.QkvB, d.Qkv, a.Ln1, w.QkvW, BT, C, Config.QkvWidth);
            NormBackward(dResidual, g.Ln1W, g.Ln1B, d.Ln1, residual, w.Ln1W, a.Ln1Mean, a.Ln1Rstd, BT);
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
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, positions, decode: true);
        Head(acts, residual, B);
    }

    public void Dispose()
    {
        Parameters.Dispose();
        Gradients.Dispose();
        _headScratch?.Dispose();
        _invFreq?.Dispose();
    }
}

/// <summary>Keys and values of every layer for B sequences of up to MaxSequence tokens: (L, B, maxT, 2·NKV·hs), NKV·hs = C for GPT-2.</summary>
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
        _layerLength = Floats(config, batch, maxSequence) / config.Layers;
        _buffer = backend.Allocate<float>(_layerLength * config.Layers);
    }

    public int Batch { get; }
    public int MaxSequence { get; }

    /// <summary>Floats the cache holds over all layers (the memory plan's count).</summary>
    public static long Floats(ModelConfig config, int batch, int maxSequence) =>
        (long)config.Layers * batch * maxSequence * 2 * config.KvHeadCount * config.HeadSize;

    public BufferView<float> Layer(int layer) => _buffer.Slice(layer * _layerLength, _layerLength);

    public void Dispose() => _buffer.Dispose();
}
