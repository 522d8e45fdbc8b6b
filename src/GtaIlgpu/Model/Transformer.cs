using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

/// <summary>How the frozen base of a LoRA model is stored: fp32, or bfloat16 widened to fp32 as the matmuls load it.</summary>
public enum WeightDtype { F32, Bf16 }

/// <summary>
/// What a model trains and how it keeps its weights and activations. Without <see cref="Lora"/> every
/// weight trains (fp32, with a gradient of the same flat layout). With it the base is frozen, has no
/// gradient, and may be kept in bf16 (<see cref="BaseDtype"/>: its matmul weights and embeddings; norms
/// and biases stay fp32); only the adapters train. <see cref="Recompute"/>: activation pools keep one
/// tensor per block and the backward pass recomputes each block's forward (see <see cref="ActivationOptions"/>).
/// </summary>
public sealed record ModelOptions(LoraSettings? Lora = null, WeightDtype BaseDtype = WeightDtype.F32, bool Recompute = false)
{
    public static readonly ModelOptions Full = new();

    public void Validate()
    {
        Lora?.Validate();
        if (BaseDtype == WeightDtype.Bf16 && Lora is null)
            throw new ArgumentException("--base-dtype bf16 keeps a FROZEN base in bf16; full fine-tuning trains every weight in fp32 (add --lora-rank)");
    }
}

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
/// With LoRA (<see cref="ModelOptions"/>) each adapted Linear adds scale·(x·Aᵀ)·Bᵀ to its columns of the
/// fused matmul; the trainable region is then the flat adapter buffer (<see cref="TrainableParameters"/>)
/// and the frozen weights get no gradient. A forward without adapters is the base model itself (GRPO's
/// KL reference costs no second copy).
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

    /// <summary>The bf16 base's matmul weights and embeddings (the fp32 views of these are then empty).</summary>
    public sealed class Bf16Weights
    {
        public BufferView<ushort> Wte, Wpe, Head;
        public BufferView<ushort>[] QkvW = [], AttnProjW = [], FcW = [], FcProjW = [];
    }

    /// <summary>One adapted module's A (r, In) and B (Out, r) in the adapter buffer, and their gradients.</summary>
    public readonly record struct AdapterViews(AdapterModule Module, BufferView<float> A, BufferView<float> B, BufferView<float> DA, BufferView<float> DB);

    private readonly IOps _ops;
    private readonly DeviceBuffer<float>? _invFreq;

    private readonly DeviceBuffer<float>? _parameters, _gradients, _base32Rest, _adapters, _adapterGradients, _frozenNormSink;
    private readonly DeviceBuffer<ushort>? _base16;
    private readonly AdapterViews[][] _adapterViews = [];

    public Transformer(IBackend backend, ModelConfig config, ModelOptions? options = null)
    {
        config.Validate();
        options ??= ModelOptions.Full;
        options.Validate();
        Backend = backend;
        Config = config;
        Options = options;
        _ops = backend.Ops;
        Layout = new ParameterLayout(config);
        long decay = Layout.DecayLength, total = Layout.TotalLength;
        if (options.BaseDtype == WeightDtype.Bf16)
        {
            // Matmul weights and embeddings (the decayed region) in bf16; norms and biases stay fp32.
            _base16 = backend.Allocate<ushort>(decay);
            _base32Rest = backend.Allocate<float>(total - decay);
            W = Views(p => p.Offset >= decay ? _base32Rest.Slice(p.Offset - decay, p.Length) : default);
            W16 = Views16(_base16);
        }
        else
        {
            _parameters = backend.Allocate<float>(total);
            W = Views(p => _parameters.Slice(p.Offset, p.Length));
        }
        if (options.Lora is { } lora)
        {
            AdapterLayout = new AdapterLayout(config, lora);
            _adapters = backend.Allocate<float>(AdapterLayout.TotalLength);
            _adapterGradients = backend.Allocate<float>(AdapterLayout.TotalLength);
            // The frozen norms' backward still sums a weight gradient over rows; it lands in this small
            // sink nobody reads (the widest norm: C, or LayerNorm's weight | bias), not in a gradient buffer.
            int sink = 2 * Math.Max(config.Channels, config.HeadSize);
            _frozenNormSink = backend.Allocate<float>(sink);
            var s = _frozenNormSink.View;
            BufferView<float> Sink(TensorRole role, (long Offset, long Length) g) => role switch
            {
                TensorRole.AttentionNormWeight or TensorRole.MlpNormWeight or TensorRole.FinalNormWeight or TensorRole.QueryNorm => s.Slice(0, g.Length),
                TensorRole.AttentionNormBias or TensorRole.MlpNormBias or TensorRole.FinalNormBias or TensorRole.KeyNorm => s.Slice(sink / 2, g.Length),
                _ => default,
            };
            G = Views(Sink);
            _adapterViews = new AdapterViews[config.Layers][];
            for (int l = 0; l < config.Layers; l++)
            {
                _adapterViews[l] = AdapterLayout.Layer(l).Select(m => new AdapterViews(m,
                    _adapters.Slice(m.AOffset, m.ALength), _adapters.Slice(m.BOffset, m.BLength),
                    _adapterGradients.Slice(m.AOffset, m.ALength), _adapterGradients.Slice(m.BOffset, m.BLength))).ToArray();
            }
        }
        else
        {
            _gradients = backend.Allocate<float>(total);
            G = Views(p => _gradients.Slice(p.Offset, p.Length));
        }
        ActivationOptions = new ActivationOptions(AdapterLayout, options.Recompute);
        if (!config.IsGpt2) _invFreq = backend.AllocateFrom<float>(RotaryFrequencies.Compute(config));
    }

    public IBackend Backend { get; }
    public ModelConfig Config { get; }
    public ModelOptions Options { get; }
    public ParameterLayout Layout { get; }

    /// <summary>The LoRA adapters' layout; null for full fine-tuning.</summary>
    public AdapterLayout? AdapterLayout { get; }

    public bool HasAdapters => AdapterLayout is not null;

    /// <summary>How this model's activation pools are carved (its adapters, recomputation).</summary>
    public ActivationOptions ActivationOptions { get; }

    /// <summary>The fp32 flat weights (<see cref="ParameterLayout"/>); a bf16 base has none (see <see cref="UploadBaseWeights"/>).</summary>
    public DeviceBuffer<float> Parameters => _parameters ??
        throw new InvalidOperationException("this model keeps its frozen base in bf16: use UploadBaseWeights / DownloadBaseWeights");

    /// <summary>The full model's flat gradient; a LoRA model has none (its frozen base takes no gradient): see <see cref="TrainableGradients"/>.</summary>
    public DeviceBuffer<float> Gradients => _gradients ??
        throw new InvalidOperationException("a LoRA model has no gradient for its frozen base: use TrainableGradients");

    /// <summary>The flat adapter buffer (<see cref="AdapterLayout"/>); null without LoRA.</summary>
    public DeviceBuffer<float>? Adapters => _adapters;

    /// <summary>What the optimizer updates: the whole flat buffer, or the adapters.</summary>
    public BufferView<float> TrainableParameters => _adapters?.View ?? Parameters.View;

    /// <summary>The gradient of <see cref="TrainableParameters"/>, same layout.</summary>
    public BufferView<float> TrainableGradients => _adapterGradients?.View ?? Gradients.View;

    /// <summary>Length of the trainable region's leading part that takes weight decay (all of it for adapters).</summary>
    public long TrainableDecayLength => AdapterLayout?.TotalLength ?? Layout.DecayLength;

    public long TrainableLength => AdapterLayout?.TotalLength ?? Layout.TotalLength;

    /// <summary>Names and layout of the trainable region, for checkpoints of optimizer moments.</summary>
    public IEnumerable<(string Name, int[] Shape, long Offset)> TrainableTensors => AdapterLayout is { } a
        ? a.Modules.SelectMany(m => new[] { (m.AName, new[] { m.Rank, m.In }, m.AOffset), (m.BName, new[] { m.Out, m.Rank }, m.BOffset) })
        : Layout.Tensors.Select(t => (t.Name, t.Shape, t.Offset));

    public Weights W { get; }
    public Weights G { get; }

    /// <summary>The bf16 base's weights; null for an fp32 base.</summary>
    public Bf16Weights? W16 { get; }

    /// <summary>The family's initialisation (GPT-2: std 0.02, residual projections 0.02/√(2·layers); Llama: 0.02, norms 1), from a seed; a LoRA model's adapters start at PEFT's (B = 0).</summary>
    public void InitializeWeights(ulong seed)
    {
        UploadBaseWeights(Layout.Initialize(seed));
        if (AdapterLayout is { } a) Backend.Upload(_adapters!.View, a.Initialize(AdapterLayout.Seed(seed)));
    }

    /// <summary>
    /// A model of the same shape on the same backend with other options (LoRA, a bf16 base, recomputation)
    /// whose base weights are this model's (narrowed to bf16 if asked); adapters start at PEFT's
    /// initialisation from the seed, so the new model computes exactly what this one does.
    /// </summary>
    public Transformer WithOptions(ModelOptions options, ulong adapterSeed)
    {
        var model = new Transformer(Backend, Config, options);
        try
        {
            // Tensor by tensor: a 3B base is more floats than one host array holds.
            var scratch = Common.HostArrays.Allocate<float>(Layout.Tensors.Max(t => t.Length), "one tensor of the base");
            foreach (var t in Layout.Tensors)
            {
                var values = scratch.AsSpan(0, (int)t.Length);
                DownloadBaseTensor(t, values);
                model.UploadBaseTensor(t, values);
            }
            if (model.AdapterLayout is { } a) model.UploadAdapters(a.Initialize(adapterSeed));
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Sets the base weights from a flat fp32 array (<see cref="ParameterLayout"/>), narrowed to bf16 (round to nearest
    /// even) for a bf16 base. For small models: a 3–4B model does not fit one array; use <see cref="UploadBaseTensor"/>.
    /// </summary>
    public void UploadBaseWeights(ReadOnlySpan<float> values)
    {
        if (values.Length != Layout.TotalLength) throw new ArgumentException($"base weights: {values.Length} floats for a layout of {Layout.TotalLength}");
        Common.HostArrays.Check(values.Length, "UploadBaseWeights (the whole model; upload it tensor by tensor with UploadBaseTensor)");
        foreach (var t in Layout.Tensors) UploadBaseTensor(t, values.Slice((int)t.Offset, (int)t.Length));
    }

    /// <summary>
    /// The base weights as a flat fp32 array (a bf16 base widened exactly; the padding between tensors zero). For small
    /// models: a 3–4B model does not fit one array; use <see cref="DownloadBaseTensor"/>.
    /// </summary>
    public float[] DownloadBaseWeights()
    {
        var values = Common.HostArrays.Allocate<float>(Layout.TotalLength, "DownloadBaseWeights (the whole model; download it tensor by tensor with DownloadBaseTensor)");
        foreach (var t in Layout.Tensors) DownloadBaseTensor(t, values.AsSpan((int)t.Offset, (int)t.Length));
        return values;
    }

    /// <summary>Sets one base tensor of <see cref="Layout"/> from fp32 values, narrowed to bf16 (round to nearest even) where the base keeps it in bf16.</summary>
    public void UploadBaseTensor(ParameterTensor tensor, ReadOnlySpan<float> values)
    {
        var (view, view16) = BaseViews(tensor, values.Length);
        if (view16.Buffer is null)
        {
            Backend.Upload(view, values);
            return;
        }
        // Narrowed a bounded chunk at a time: a 389M-value embedding needs no second tensor-sized buffer.
        var narrow = new ushort[Math.Min(values.Length, Common.HostArrays.ChunkLength)];
        for (int start = 0; start < values.Length; start += narrow.Length)
        {
            int n = Math.Min(narrow.Length, values.Length - start);
            Common.BFloat16.Narrow(values.Slice(start, n), narrow.AsSpan(0, n));
            Backend.Upload(view16.Slice(start, n), narrow.AsSpan(0, n));
        }
    }

    /// <summary>One base tensor of <see cref="Layout"/> as fp32 values (a bf16 one widened exactly).</summary>
    public void DownloadBaseTensor(ParameterTensor tensor, Span<float> destination)
    {
        var (view, view16) = BaseViews(tensor, destination.Length);
        if (view16.Buffer is null)
        {
            Backend.Download(view, destination);
            return;
        }
        var stored = new ushort[Math.Min(destination.Length, Common.HostArrays.ChunkLength)];
        for (int start = 0; start < destination.Length; start += stored.Length)
        {
            int n = Math.Min(stored.Length, destination.Length - start);
            Backend.Download(view16.Slice(start, n), stored.AsSpan(0, n));
            Common.BFloat16.Widen(stored.AsSpan(0, n), destination.Slice(start, n));
        }
    }

    /// <summary>Where a tensor of this model's layout lives: its fp32 view, or (the decayed region of a bf16 base) its bf16 one.</summary>
    private (BufferView<float> View, BufferView<ushort> View16) BaseViews(ParameterTensor tensor, int length)
    {
        var own = Layout[tensor.Name];
        if (own.Offset != tensor.Offset || own.Length != tensor.Length)
            throw new ArgumentException($"{tensor.Name}: not a tensor of this model's layout (offset {tensor.Offset}, {tensor.Length} values; here {own.Offset}, {own.Length})");
        if (length != tensor.Length) throw new ArgumentException($"{tensor.Name}: {length} floats for a tensor of {tensor.Length}");
        if (_parameters is not null) return (_parameters.Slice(tensor.Offset, tensor.Length), default);
        long decay = Layout.DecayLength;
        return tensor.Offset < decay
            ? (default, _base16!.Slice(tensor.Offset, tensor.Length))
            : (_base32Rest!.Slice(tensor.Offset - decay, tensor.Length), default);
    }

    /// <summary>Sets the adapters from a flat array in <see cref="AdapterLayout"/>'s layout.</summary>
    public void UploadAdapters(ReadOnlySpan<float> values)
    {
        var a = AdapterLayout ?? throw new InvalidOperationException("this model has no LoRA adapters");
        if (values.Length != a.TotalLength) throw new ArgumentException($"adapters: {values.Length} floats for a layout of {a.TotalLength}");
        Backend.Upload(_adapters!.View, values);
    }

    public float[] DownloadAdapters() => Backend.ToArray((_adapters ?? throw new InvalidOperationException("this model has no LoRA adapters")).View);

    /// <summary>Zeroes the trainable gradient (the whole model's, or the adapters').</summary>
    public void ZeroGradients() => _ops.Fill(TrainableGradients, 0f);

    private Weights Views(Func<(long Offset, long Length), BufferView<float>> view) => Views((_, g) => view(g));

    private Weights Views(Func<TensorRole, (long Offset, long Length), BufferView<float>> view)
    {
        BufferView<float> V(TensorRole role, int layer = -1) =>
            Layout.Group(role, layer) is { } g ? view(role, g) : default;

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

    private Bf16Weights Views16(DeviceBuffer<ushort> buffer)
    {
        BufferView<ushort> V(TensorRole role, int layer = -1) =>
            Layout.Group(role, layer) is { } g ? buffer.Slice(g.Offset, g.Length) : default;
        var layers = Enumerable.Range(0, Config.Layers);
        var wte = V(TensorRole.TokenEmbedding);
        return new Bf16Weights
        {
            Wte = wte, Wpe = V(TensorRole.PositionEmbedding), Head = Config.TiedEmbeddings ? wte : V(TensorRole.LmHead),
            QkvW = layers.Select(l => V(TensorRole.QkvWeight, l)).ToArray(), AttnProjW = layers.Select(l => V(TensorRole.OutputWeight, l)).ToArray(),
            FcW = layers.Select(l => V(TensorRole.UpWeight, l)).ToArray(), FcProjW = layers.Select(l => V(TensorRole.DownWeight, l)).ToArray(),
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
    /// A Linear of the block: output (N, OC) = input·Wᵀ + b with W fp32 or bf16, plus, when adapters are on,
    /// each LoRA module's scale·(input·Aᵀ)·Bᵀ on its columns (x·Aᵀ is kept in the module's slot of acts).
    /// </summary>
    private void LinearForward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<ushort> weight16,
        BufferView<float> bias, int N, int C, int OC, Activations acts, Activations.Layer a, int layer, TensorRole role, bool adapters)
    {
        if (weight16.IsEmpty) _ops.MatmulForward(output, input, weight, bias, N, C, OC);
        else _ops.MatmulForwardBf16(output, input, weight16, bias, N, C, OC);
        if (!adapters || AdapterLayout is null) return;
        var modules = _adapterViews[layer];
        for (int i = 0; i < modules.Length; i++)
        {
            var m = modules[i].Module;
            if (m.Role != role) continue;
            var h = a.Lora[i].Slice(0, (long)N * m.Rank);
            var delta = acts.LoraScratch.Slice(0, (long)N * m.Out);
            _ops.MatmulForward(h, input, modules[i].A, default, N, m.In, m.Rank);
            _ops.MatmulForward(delta, h, modules[i].B, default, N, m.Rank, m.Out);
            _ops.AddColumns(output, OC, m.Column, delta, m.Out, N, AdapterLayout.Lora.Scale);
        }
    }

    /// <summary>
    /// The backward of <see cref="LinearForward"/>: dinput += doutput·W (+ each adapter's path), and the
    /// trainable weights' gradients: W's and b's when the base trains, else the adapters' A and B.
    /// </summary>
    private void LinearBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput,
        BufferView<float> input, BufferView<float> weight, BufferView<ushort> weight16, int N, int C, int OC, Activations acts, Activations.Layer a, int layer, TensorRole role)
    {
        if (weight16.IsEmpty) _ops.MatmulBackward(dinput, dweight, dbias, doutput, input, weight, N, C, OC);
        else _ops.MatmulBackwardInputBf16(dinput, doutput, weight16, N, C, OC);
        if (AdapterLayout is null) return;
        var modules = _adapterViews[layer];
        for (int i = 0; i < modules.Length; i++)
        {
            var m = modules[i].Module;
            if (m.Role != role) continue;
            var h = a.Lora[i].Slice(0, (long)N * m.Rank);
            var dDelta = acts.LoraScratch.Slice(0, (long)N * m.Out);
            var dh = acts.DLora.Slice(0, (long)N * m.Rank);
            // delta = scale·(h·Bᵀ) on the module's columns: its gradient is scale times those columns of doutput.
            _ops.TakeColumns(dDelta, doutput, OC, m.Column, m.Out, N, AdapterLayout.Lora.Scale);
            _ops.Fill(dh, 0f);
            _ops.MatmulBackward(dh, modules[i].DB, default, dDelta, h, modules[i].B, N, m.Rank, m.Out);
            _ops.MatmulBackward(dinput, modules[i].DA, default, dh, input, modules[i].A, N, m.In, m.Rank);
        }
    }

    /// <summary>
    /// Forward pass over tokens (B,T) into acts.Logits (B,T,V). When kvCache is given, each layer's
    /// keys and values are also stored in it (prefill for incremental decoding).
    /// </summary>
    /// <param name="adapters">False runs the frozen base alone (a LoRA model's KL reference); ignored without adapters.</param>
    public void Forward(Activations acts, BufferView<int> tokens, KvCache? kvCache = null, bool adapters = true)
    {
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels;
        if (tokens.Length < B * T) throw new ArgumentException($"forward: tokens hold {tokens.Length} ids but B·T = {B * T}");
        if (kvCache is not null && (kvCache.Batch < B || kvCache.MaxSequence < T))
            throw new ArgumentException($"forward: KV cache of (B={kvCache.Batch}, T={kvCache.MaxSequence}) is too small for ({B}, {T})");
        CheckPool(acts);
        Encode(acts.Encoded, tokens, default, B, T);
        var residual = acts.Encoded;
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, acts.Positions, decode: false, adapters);
        Head(acts, residual, B * T);
    }

    private void CheckPool(Activations acts)
    {
        if (AdapterLayout is not null && acts.Options.Adapters != AdapterLayout)
            throw new ArgumentException("this model has LoRA adapters: build its activation pools with new Activations(model, …)");
    }

    /// <summary>The embedding (fp32 or bf16), over (B, T) or, with positions, one decode token per sequence.</summary>
    private void Encode(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, int B, int T)
    {
        int C = Config.Channels;
        bool decode = !positions.IsEmpty;
        if (W16 is { } w16)
        {
            if (decode) _ops.EncoderDecodeForwardBf16(output, tokens, positions, w16.Wte, w16.Wpe, B, C);
            else _ops.EncoderForwardBf16(output, tokens, w16.Wte, w16.Wpe, B, T, C);
        }
        else if (decode) _ops.EncoderDecodeForward(output, tokens, positions, W.Wte, W.Wpe, B, C);
        else _ops.EncoderForward(output, tokens, W.Wte, W.Wpe, B, T, C);
    }

    /// <summary>
    /// One transformer block over acts' rows. Training and prefill attend causally over the sequence
    /// (prefill also stores keys and values in the cache); a decode step (T = 1) attends over the cache
    /// instead. positions hold each row's absolute position (the rotary's angle). Everything else is the
    /// same code for both.
    /// </summary>
    private BufferView<float> Block(int l, Activations acts, BufferView<float> residual, KvCache? kvCache, BufferView<int> positions, bool decode, bool adapters)
    {
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, rows = B * T;
        int NH = Config.Heads, NKV = Config.KvHeadCount, hs = Config.HeadSize;
        var w = W.Layers[l];
        var a = acts.Layers[l];
        var w16 = W16;
        NormForward(a.Ln1, a.Ln1Mean, a.Ln1Rstd, residual, w.Ln1W, w.Ln1B, rows);
        LinearForward(a.Qkv, a.Ln1, w.QkvW, w16?.QkvW[l] ?? default, w.QkvB, rows, C, Config.QkvWidth, acts, a, l, TensorRole.QkvWeight, adapters);
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
        LinearForward(a.AttnProj, a.AttnOut, w.AttnProjW, w16?.AttnProjW[l] ?? default, w.AttnProjB, rows, Config.AttentionWidth, C, acts, a, l, TensorRole.OutputWeight, adapters);
        _ops.Add(a.Residual2, residual, a.AttnProj, rows * C);
        NormForward(a.Ln2, a.Ln2Mean, a.Ln2Rstd, a.Residual2, w.Ln2W, w.Ln2B, rows);
        int hidden = Config.MlpWidth;
        LinearForward(a.FcH, a.Ln2, w.FcW, w16?.FcW[l] ?? default, w.FcB, rows, C, Config.MlpUpWidth, acts, a, l, TensorRole.UpWeight, adapters);
        if (Config.IsGpt2) _ops.GeluForward(a.FcGelu, a.FcH, rows * hidden);
        else _ops.SwiGluForward(a.FcGelu, a.FcH, rows, hidden);
        LinearForward(a.FcProj, a.FcGelu, w.FcProjW, w16?.FcProjW[l] ?? default, w.FcProjB, rows, hidden, C, acts, a, l, TensorRole.DownWeight, adapters);
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
            HeadMatmul(acts.Logits, acts.LnF, rows);
            return;
        }
        if (R == 0) return;
        var (input, logits) = HeadScratch(R);
        _ops.GatherRows(input, acts.LnF, acts.HeadRows, R, C);
        HeadMatmul(logits, input, R);
        _ops.ScatterRows(acts.Logits, logits, acts.HeadRows, R, V);
    }

    private void HeadMatmul(BufferView<float> logits, BufferView<float> input, int rows)
    {
        if (W16 is { } w16) _ops.MatmulForwardBf16(logits, input, w16.Head, default, rows, Config.Channels, Config.VocabSize);
        else _ops.MatmulForward(logits, input, W.Head, default, rows, Config.Channels, Config.VocabSize);
    }

    /// <summary>dinput += dlogits·Head (the head's input gradient; its weight gradient, when it trains, is taken apart).</summary>
    private void HeadInputBackward(BufferView<float> dinput, BufferView<float> dlogits, BufferView<float> input, int rows)
    {
        if (W16 is { } w16) _ops.MatmulBackwardInputBf16(dinput, dlogits, w16.Head, rows, Config.Channels, Config.VocabSize);
        else _ops.MatmulBackward(dinput, default, default, dlogits, input, W.Head, rows, Config.Channels, Config.VocabSize);
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
        CheckPool(acts);
        int B = acts.Batch, T = acts.Sequence, C = Config.Channels, V = Config.VocabSize;
        int NH = Config.Heads, NKV = Config.KvHeadCount, hs = Config.HeadSize, hidden = Config.MlpWidth;
        int BT = B * T;
        _ops.Fill(acts.GradientPool, 0f);
        int last = Config.Layers - 1;
        var finalResidual = acts.Layers[last].Residual3;
        var dFinalResidual = acts.DLayers[last].Residual3;
        bool headTrains = !G.Head.IsEmpty;
        if (acts.HeadRowCount < 0)
        {
            if (headTrains) _ops.MatmulBackward(acts.DLnF, G.Head, default, acts.Logits, acts.LnF, W.Head, BT, C, V);
            else HeadInputBackward(acts.DLnF, acts.Logits, acts.LnF, BT);
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
                HeadInputBackward(dInput, dLogits, acts.LnF, R);
                _ops.ScatterRows(acts.DLnF, dInput, acts.HeadRows, R, C);
            }
            if (headTrains) _ops.MatmulBackward(default, G.Head, default, acts.Logits, acts.LnF, W.Head, BT, C, V);
        }
        NormBackward(dFinalResidual, G.LnFW, G.LnFB, acts.DLnF, finalResidual, W.LnFW, acts.LnFMean, acts.LnFRstd, BT);
        var w16 = W16;
        for (int l = last; l >= 0; l--)
        {
            var w = W.Layers[l];
            var g = G.Layers[l];
            var a = acts.Layers[l];
            var d = acts.DLayers[l];
            var residual = l == 0 ? acts.Encoded : acts.Layers[l - 1].Residual3;
            var dResidual = l == 0 ? acts.DEncoded : acts.DLayers[l - 1].Residual3;
            if (acts.Recompute && l != last)
            {
                // The shared room holds the last block computed: recompute this one's forward into it (the
                // same ops on the same inputs, so the same bits), and clear the shared gradient room.
                Block(l, acts, residual, null, acts.Positions, decode: false, adapters: true);
                _ops.Fill(acts.SharedLayerGradients, 0f);
            }
            // residual3 = residual2 + fcproj: the gradient of fcproj is dresidual3 itself.
            _ops.Accumulate(d.Residual2, d.Residual3);
            LinearBackward(d.FcGelu, g.FcProjW, g.FcProjB, d.Residual3, a.FcGelu, w.FcProjW, w16?.FcProjW[l] ?? default, BT, hidden, C, acts, a, l, TensorRole.DownWeight);
            if (Config.IsGpt2) _ops.GeluBackward(d.FcH, a.FcH, d.FcGelu, BT * hidden);
            else _ops.SwiGluBackward(d.FcH, d.FcGelu, a.FcH, BT, hidden);
            LinearBackward(d.Ln2, g.FcW, g.FcB, d.FcH, a.Ln2, w.FcW, w16?.FcW[l] ?? default, BT, C, Config.MlpUpWidth, acts, a, l, TensorRole.UpWeight);
            NormBackward(d.Residual2, g.Ln2W, g.Ln2B, d.Ln2, a.Residual2, w.Ln2W, a.Ln2Mean, a.Ln2Rstd, BT);
            // residual2 = residual + attnproj: likewise.
            _ops.Accumulate(dResidual, d.Residual2);
            LinearBackward(d.AttnOut, g.AttnProjW, g.AttnProjB, d.Residual2, a.AttnOut, w.AttnProjW, w16?.AttnProjW[l] ?? default, BT, Config.AttentionWidth, C, acts, a, l, TensorRole.OutputWeight);
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
            LinearBackward(d.Ln1, g.QkvW, g.QkvB, d.Qkv, a.Ln1, w.QkvW, w16?.QkvW[l] ?? default, BT, C, Config.QkvWidth, acts, a, l, TensorRole.QkvWeight);
            NormBackward(dResidual, g.Ln1W, g.Ln1B, d.Ln1, residual, w.Ln1W, a.Ln1Mean, a.Ln1Rstd, BT);
        }
        if (!G.Wte.IsEmpty) _ops.EncoderBackward(G.Wte, G.Wpe, acts.DEncoded, tokens, B, T, C);
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
        CheckPool(acts);
        Encode(acts.Encoded, tokens, positions, B, 1);
        var residual = acts.Encoded;
        for (int l = 0; l < Config.Layers; l++) residual = Block(l, acts, residual, kvCache, positions, decode: true, adapters: true);
        Head(acts, residual, B);
    }

    public void Dispose()
    {
        _parameters?.Dispose();
        _gradients?.Dispose();
        _base16?.Dispose();
        _base32Rest?.Dispose();
        _adapters?.Dispose();
        _adapterGradients?.Dispose();
        _frozenNormSink?.Dispose();
        _headScratch?.Dispose();
        _invFreq?.Dispose();
    }
}

/// <summary>Keys and values of every layer for B sequences of up to MaxSequence tokens: (L, B, maxT, 2·NKV·hs), NKV·hs = C for GPT-2.</summary>
public sealed class KvCache : IDisposable
{
    private readonly DeviceBuffer<float> _buffer;
    private readonly long _layerLength, _rowLength, _firstRow;
    private readonly bool _owner;

    public KvCache(IBackend backend, ModelConfig config, int batch, int maxSequence)
    {
        if (maxSequence > config.MaxSequence)
            throw new ArgumentException($"KV cache length {maxSequence} exceeds the model's maximum sequence {config.MaxSequence}");
        Batch = batch;
        MaxSequence = maxSequence;
        _layerLength = Floats(config, batch, maxSequence) / config.Layers;
        _rowLength = _layerLength / batch;
        _buffer = backend.Allocate<float>(_layerLength * config.Layers);
        _owner = true;
    }

    private KvCache(KvCache whole, int first, int count)
    {
        _buffer = whole._buffer;
        _layerLength = whole._layerLength;
        _rowLength = whole._rowLength;
        _firstRow = whole._firstRow + first;
        Batch = count;
        MaxSequence = whole.MaxSequence;
    }

    public int Batch { get; }
    public int MaxSequence { get; }

    /// <summary>Floats the cache holds over all layers (the memory plan's count).</summary>
    public static long Floats(ModelConfig config, int batch, int maxSequence) =>
        (long)config.Layers * batch * maxSequence * 2 * config.KvHeadCount * config.HeadSize;

    public BufferView<float> Layer(int layer) => _buffer.Slice(layer * _layerLength + _firstRow * _rowLength, Batch * _rowLength);

    /// <summary>
    /// Sequences [first, first + count) as a cache of their own (the same memory): a prefill of a few rows at a
    /// time fills the rows a batched decode then reads.
    /// </summary>
    public KvCache Rows(int first, int count)
    {
        if (first < 0 || count <= 0 || first + count > Batch)
            throw new ArgumentOutOfRangeException(nameof(first), $"rows [{first}, {first + count}) of a cache of {Batch} sequences");
        return new KvCache(this, first, count);
    }

    public void Dispose()
    {
        if (_owner) _buffer.Dispose();
    }
}
