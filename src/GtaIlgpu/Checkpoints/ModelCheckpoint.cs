using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Fills <paramref name="destination"/> with one parameter's values in <see cref="ParameterLayout"/>'s convention
/// (weights (out, in)): a model's <see cref="Transformer.DownloadBaseTensor"/>, a checkpoint's tensor, a merge.
/// </summary>
public delegate void ParameterSource(ParameterTensor tensor, Span<float> destination);

/// <summary>Takes one parameter's values in <see cref="ParameterLayout"/>'s convention, e.g. a model's <see cref="Transformer.UploadBaseTensor"/>.</summary>
public delegate void ParameterSink(ParameterTensor tensor, ReadOnlySpan<float> values);

/// <summary>A model read from a folder, with the tokenizer found next to it (null when there is none).</summary>
public sealed class LoadedModel(Transformer model, ITextTokenizer? tokenizer, string folder) : IDisposable
{
    public Transformer Model { get; } = model;
    public ITextTokenizer? Tokenizer { get; } = tokenizer;
    public string Folder { get; } = folder;

    public ITextTokenizer RequireTokenizer() => Tokenizer ??
        throw new InvalidDataException($"{Folder}: no tokenizer found (expected {CompactVocabulary.FileName}, {Gpt2BpeTokenizer.VocabFile} and {Gpt2BpeTokenizer.MergesFile}, {HuggingFaceBpeTokenizer.TokenizerJsonFile}, or {TiktokenFileTokenizer.OriginalFile})");

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// A model as a folder in the Hugging Face layout of its model_type: config.json (<see cref="HuggingFaceConfig"/>),
/// the weights under their Hugging Face names (<see cref="HuggingFaceWeights"/>: model.safetensors or shards with an
/// index), and the tokenizer's files (our compact vocabulary, or GPT-2's vocab.json + merges.txt). GPT-2 stores its
/// attention and MLP weights as Conv1D, i.e. (in, out), the transpose of our (out, in): those are transposed on the
/// way out and back on the way in; Llama-family Linear weights are (out, in) as we store them. Every file is written
/// atomically. Weights travel tensor by tensor (<see cref="ParameterSource"/>, <see cref="ParameterSink"/>): a 3–4B
/// model has more values than one array holds, and no host buffer here holds more than one tensor.
/// </summary>
public static class ModelCheckpoint
{
    public const string ModelFile = "model.safetensors";
    public const string ConfigFile = "config.json";
    public const string VocabularyFile = CompactVocabulary.FileName;

    /// <summary>Hugging Face sometimes saves the GPT-2 body under this prefix (GPT2LMHeadModel's state dict).</summary>
    public const string BodyPrefix = "transformer.";

    public static bool IsConv1D(string name) =>
        name.EndsWith(".attn.c_attn.weight", StringComparison.Ordinal) || name.EndsWith(".attn.c_proj.weight", StringComparison.Ordinal) ||
        name.EndsWith(".mlp.c_fc.weight", StringComparison.Ordinal) || name.EndsWith(".mlp.c_proj.weight", StringComparison.Ordinal);

    /// <summary>Buffers that GPT-2 checkpoints carry but that are not parameters (the causal mask).</summary>
    private static bool IsBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    /// <summary>
    /// Writes the model as a Hugging Face folder of its model_type: config.json, the weights under their HF names in
    /// F32 (model.safetensors, or shards with an index above maxShardBytes, see <see cref="HuggingFaceWeights.Write"/>),
    /// and the tokenizer.
    /// </summary>
    public static void Save(string folder, Transformer model, ITextTokenizer? tokenizer, IReadOnlyDictionary<string, string>? metadata = null, long maxShardBytes = HuggingFaceWeights.DefaultMaxShardBytes) =>
        Save(folder, model.Config, model.DownloadBaseTensor, tokenizer, metadata, maxShardBytes);

    /// <summary>The same from any source of the config's tensors (a merged model is written without a device), each read as the writer reaches it.</summary>
    public static void Save(string folder, ModelConfig config, ParameterSource weights, ITextTokenizer? tokenizer, IReadOnlyDictionary<string, string>? metadata = null, long maxShardBytes = HuggingFaceWeights.DefaultMaxShardBytes)
    {
        var layout = new ParameterLayout(config);
        string json = ConfigJson(config, tokenizer); // refuses a model its model_type cannot express, before anything is written
        Directory.CreateDirectory(folder);
        HuggingFaceWeights.Write(folder, SaveOrder(config, ExportTensors(layout, weights)), metadata, maxShardBytes);
        AtomicFile.WriteText(Path.Combine(folder, ConfigFile), json);
        tokenizer?.Save(folder);
    }

    public static string ConfigJson(ModelConfig c, ITextTokenizer? tokenizer) => HuggingFaceConfig.ToJson(c, tokenizer);

    /// <summary>
    /// Llama-family tensors in the order of transformers' state_dict (module registration: embed_tokens, then per
    /// layer q/k/v/o (weight, bias), q_norm, k_norm, gate/up/down, the two norms; model.norm; lm_head), which is the
    /// order save_pretrained packs shards in. GPT-2 keeps the layout's order.
    /// </summary>
    private static List<SafeTensorsWriter.Tensor> SaveOrder(ModelConfig config, List<SafeTensorsWriter.Tensor> tensors)
    {
        if (config.IsGpt2) return tensors;
        string[] inLayer =
        [
            "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
            "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.o_proj.weight", "self_attn.o_proj.bias",
            "self_attn.q_norm.weight", "self_attn.k_norm.weight", "mlp.gate_proj.weight", "mlp.gate_proj.bias",
            "mlp.up_proj.weight", "mlp.up_proj.bias", "mlp.down_proj.weight", "mlp.down_proj.bias",
            "input_layernorm.weight", "post_attention_layernorm.weight",
        ];
        (int, int) Key(string name)
        {
            if (name == "model.embed_tokens.weight") return (-1, 0);
            if (name == "model.norm.weight") return (int.MaxValue, 0);
            if (name == "lm_head.weight") return (int.MaxValue, 1);
            var parts = name.Split('.', 4); // model . layers . N . rest
            return (int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), Array.IndexOf(inLayer, parts[3]));
        }
        return tensors.OrderBy(t => Key(t.Name)).ToList();
    }

    /// <summary>
    /// Loads a model folder (ours, or a Hugging Face GPT-2 one) onto a backend. A run folder whose final
    /// model is not written yet loads its latest training checkpoint.
    /// </summary>
    /// <param name="window">
    /// A rotary model's working window (activations and KV caches are sized by it): its
    /// max_position_embeddings, often 32k or more, is lowered to this. A learned-position model keeps its own.
    /// </param>
    /// <param name="tokenizer">The folder's tokenizer when the caller has already read it (a large one takes a while to parse).</param>
    /// <param name="options">
    /// The model's options (LoRA, a bf16 base, recomputation). A PEFT adapter folder (adapter_config.json) loads its
    /// base (base_model_name_or_path, relative to the adapter folder when it is a relative path, or
    /// <paramref name="baseFolder"/>) with the adapter's LoRA settings and values.
    /// </param>
    public static LoadedModel Load(string folder, IBackend backend, int? window = null, ITextTokenizer? tokenizer = null, ModelOptions? options = null, string? baseFolder = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder not found: {folder}");
        if (!HuggingFaceWeights.ExistIn(folder) && PeftAdapter.ExistsIn(folder)) return LoadAdapted(folder, backend, window, tokenizer, options, baseFolder);
        if (!HuggingFaceWeights.ExistIn(folder) && TrainingCheckpoint.Latest(folder) is { } latest)
            folder = latest;
        var config = ReadConfig(Path.Combine(folder, ConfigFile));
        if (window is int w && !config.IsGpt2 && w < config.MaxSequence) config = config with { MaxSequence = w };
        tokenizer ??= LoadTokenizer(folder);
        if (tokenizer is not null && tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabularySize} tokens but the model's vocab_size is {config.VocabSize}");
        // Refuse before allocating: a 3B model on a small device should say so, not fail inside an allocation.
        new MemoryPlan(config, options).Weights().EnsureFits(backend.MemoryBytes, backend.Name);
        var model = new Transformer(backend, config, options);
        try
        {
            using (var reader = HuggingFaceWeights.Open(folder))
                ReadModelTensors(reader, model.Layout, model.UploadBaseTensor);
            if (model.AdapterLayout is { } a) model.UploadAdapters(a.Initialize(AdapterLayout.Seed(0)));
            return new LoadedModel(model, tokenizer, folder);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The base a PEFT adapter folder names (or the one given), with the adapters on it.</summary>
    private static LoadedModel LoadAdapted(string folder, IBackend backend, int? window, ITextTokenizer? tokenizer, ModelOptions? options, string? baseFolder)
    {
        string resolved = PeftAdapter.ResolveBase(folder, baseFolder);
        var config = ReadConfig(Path.Combine(resolved, ConfigFile));
        var adapter = PeftAdapter.Load(folder, config with { MaxSequence = window is int w && !config.IsGpt2 && w < config.MaxSequence ? w : config.MaxSequence });
        tokenizer ??= HasTokenizerFiles(folder) ? LoadTokenizer(folder) : null;
        var loaded = Load(resolved, backend, window, tokenizer, (options ?? ModelOptions.Full) with { Lora = adapter.Lora });
        loaded.Model.UploadAdapters(adapter.Adapters);
        return new LoadedModel(loaded.Model, loaded.Tokenizer, folder);
    }

    /// <summary>
    /// The folder's tokenizer: our compact vocabulary when it has one; vocab.json + merges.txt as GPT-2's, unless
    /// tokenizer_config.json names Qwen2Tokenizer (Qwen2/Qwen3: then tokenizer.json when present, else vocab.json +
    /// merges.txt with Qwen2's rules); else tokenizer.json (byte-level BPE: Llama 3, Qwen); else a tiktoken
    /// tokenizer.model (Llama 3's original/tokenizer.model); null when there is none. A SentencePiece
    /// tokenizer.model (Llama 2) and tokenizer.json models other than byte-level BPE are refused.
    /// </summary>
    public static ITextTokenizer? LoadTokenizer(string folder)
    {
        string compact = Path.Combine(folder, VocabularyFile);
        if (File.Exists(compact)) return CompactVocabulary.Load(compact);
        bool qwen2 = HuggingFaceTokenizerConfig.TryLoad(folder)?.IsQwen2 == true;
        if (Gpt2BpeTokenizer.IsPresentIn(folder) && !qwen2) return Gpt2BpeTokenizer.Load(folder);
        if (HuggingFaceBpeTokenizer.IsPresentIn(folder)) return HuggingFaceBpeTokenizer.Load(folder);
        if (HasTiktokenFile(folder)) return TiktokenFileTokenizer.Load(folder); // refuses a SentencePiece model, naming the file
        return null;
    }

    /// <summary>Whether the folder holds the files of a tokenizer <see cref="LoadTokenizer"/> would try (without parsing them).</summary>
    public static bool HasTokenizerFiles(string folder) =>
        File.Exists(Path.Combine(folder, VocabularyFile)) || Gpt2BpeTokenizer.IsPresentIn(folder) || HuggingFaceBpeTokenizer.IsPresentIn(folder) || HasTiktokenFile(folder);

    private static bool HasTiktokenFile(string folder) =>
        File.Exists(Path.Combine(folder, TiktokenFileTokenizer.OriginalFile)) || File.Exists(Path.Combine(folder, "tokenizer.model"));

    /// <summary>Reads config.json (GPT-2, Llama, Qwen2 or Qwen3) and rejects settings this model does not implement.</summary>
    public static ModelConfig ReadConfig(string path) => HuggingFaceConfig.Read(path);

    /// <summary>
    /// Reads a checkpoint's parameters into <paramref name="sink"/> one tensor at a time, after the checks of
    /// <see cref="ModelTensors"/> (so nothing reaches the sink from a checkpoint that does not match).
    /// </summary>
    public static void ReadModelTensors(ITensorSource reader, ParameterLayout layout, ParameterSink sink) =>
        Copy(layout, ModelTensors(reader, layout), sink);

    /// <summary>
    /// A checkpoint's parameters as a source of the layout's tensors, read from the file when asked (so while the reader
    /// is open). Checked first, from the header (and the head's values): every parameter must be there with its shape.
    /// GPT-2: the "transformer." prefix is accepted and the attention-mask buffers skipped; Llama family: the rotary
    /// inv_freq buffers old checkpoints carry are skipped. With a tied head, lm_head.weight is accepted only when it
    /// equals the token embedding; any other tensor is an error.
    /// </summary>
    public static ParameterSource ModelTensors(ITensorSource reader, ParameterLayout layout)
    {
        var config = layout.Config;
        string prefix = config.IsGpt2 && reader.Contains(BodyPrefix + "wte.weight") ? BodyPrefix : "";
        var source = ImportTensors(reader, layout, prefix);
        var known = layout.Tensors.Select(t => prefix + t.Name).ToHashSet(StringComparer.Ordinal);
        var embedding = layout.Tensors.First(t => t.Role == TensorRole.TokenEmbedding);
        var unexpected = new List<string>();
        foreach (string name in reader.Names.Order(StringComparer.Ordinal))
        {
            if (known.Contains(name) || (config.IsGpt2 ? IsBuffer(name) : IsRotaryBuffer(name))) continue;
            if (name == "lm_head.weight" && config.TiedEmbeddings)
            {
                if (!SameValues(reader, name, prefix + embedding.Name))
                    throw new InvalidDataException(config.IsGpt2
                        ? $"{reader.Path}: lm_head.weight differs from wte.weight; untied output heads are not supported"
                        : $"{reader.Path}: lm_head.weight differs from {embedding.Name} although tie_word_embeddings is true");
                continue;
            }
            unexpected.Add(name);
        }
        if (unexpected.Count == 1)
            throw new InvalidDataException($"{reader.Path}: unexpected tensor '{unexpected[0]}' (not a {config.ModelType} parameter of this config)");
        if (unexpected.Count > 1)
            throw new InvalidDataException($"{reader.Path}: {unexpected.Count} unexpected tensors (not {config.ModelType} parameters of this config): {string.Join(", ", unexpected.Take(5).Select(n => $"'{n}'"))}{(unexpected.Count > 5 ? ", …" : "")}");
        return source;
    }

    /// <summary>Whether two tensors of a file hold the same values (as float32), compared a bounded piece at a time.</summary>
    private static bool SameValues(ITensorSource reader, string a, string b)
    {
        long count = reader[a].ElementCount;
        if (reader[b].ElementCount != count) return false;
        var x = new float[Math.Min(count, HostArrays.ChunkLength)];
        var y = new float[x.Length];
        for (long start = 0; start < count; start += x.Length)
        {
            int n = (int)Math.Min(x.Length, count - start);
            reader.ReadFloat32(a, start, x.AsSpan(0, n));
            reader.ReadFloat32(b, start, y.AsSpan(0, n));
            if (!x.AsSpan(0, n).SequenceEqual(y.AsSpan(0, n))) return false;
        }
        return true;
    }

    /// <summary>The non-persistent rotary buffers that checkpoints of older transformers versions still hold.</summary>
    private static bool IsRotaryBuffer(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) && name.StartsWith("model.", StringComparison.Ordinal);

    /// <summary>
    /// One tensor per parameter, named prefix + Hugging Face name, Conv1D weights transposed to (in, out), for
    /// <see cref="SafeTensorsWriter"/>: each tensor's values are taken from <paramref name="source"/> when the writer
    /// reaches it, so only one tensor is in memory at a time.
    /// </summary>
    public static List<SafeTensorsWriter.Tensor> ExportTensors(ParameterLayout layout, ParameterSource source, string prefix = "")
    {
        var tensors = new List<SafeTensorsWriter.Tensor>();
        foreach (var t in layout.Tensors)
        {
            string name = prefix + t.Name;
            bool conv = IsConv1D(t.Name);
            int[] shape = conv ? [t.Shape[1], t.Shape[0]] : t.Shape;
            tensors.Add(new SafeTensorsWriter.Tensor(name, shape, () =>
            {
                var values = HostArrays.Allocate<float>(t.Length, $"tensor '{name}'");
                source(t, values);
                if (!conv) return values;
                var transposed = HostArrays.Allocate<float>(t.Length, $"tensor '{name}' transposed");
                Transpose(values, t.Shape[0], t.Shape[1], transposed);
                return transposed;
            }));
        }
        return tensors;
    }

    /// <summary>
    /// The inverse of <see cref="ExportTensors"/>: every parameter must be present with the expected shape (checked
    /// now, from the header); the values are read, and Conv1D weights transposed back, when a tensor is asked for.
    /// </summary>
    public static ParameterSource ImportTensors(ITensorSource reader, ParameterLayout layout, string prefix = "")
    {
        var missing = layout.Tensors.Where(t => !reader.Contains(prefix + t.Name)).Select(t => prefix + t.Name).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{reader.Path}: missing {missing.Count} tensor(s): {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        foreach (var t in layout.Tensors)
        {
            string name = prefix + t.Name;
            long[] expected = IsConv1D(t.Name) ? [t.Shape[1], t.Shape[0]] : t.Shape.Select(d => (long)d).ToArray();
            var entry = reader[name];
            if (!entry.Shape.SequenceEqual(expected))
                throw new InvalidDataException($"{reader.Path}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], expected [{string.Join(", ", expected)}] for this config");
        }
        return (t, destination) =>
        {
            string name = prefix + t.Name;
            if (destination.Length != t.Length) throw new ArgumentException($"{name}: {destination.Length} floats for a tensor of {t.Length}");
            if (!IsConv1D(t.Name))
            {
                reader.ReadFloat32(name, 0, destination);
                return;
            }
            var stored = HostArrays.Allocate<float>(t.Length, $"{reader.Path}: tensor '{name}'");
            reader.ReadFloat32(name, 0, stored);
            Transpose(stored, t.Shape[1], t.Shape[0], destination);
        };
    }

    /// <summary>Every tensor of the layout from source to sink, through one host buffer the size of the largest tensor.</summary>
    public static void Copy(ParameterLayout layout, ParameterSource source, ParameterSink sink)
    {
        long largest = layout.Tensors.Max(t => t.Length);
        var buffer = HostArrays.Allocate<float>(largest, "the largest tensor");
        foreach (var t in layout.Tensors)
        {
            var values = buffer.AsSpan(0, (int)t.Length);
            source(t, values);
            sink(t, values);
        }
    }

    /// <summary>Row-major (rows, cols) → (cols, rows).</summary>
    private static void Transpose(ReadOnlySpan<float> data, int rows, int cols, Span<float> result)
    {
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) result[k * rows + r] = data[r * cols + k];
    }
}
