using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Checkpoints;

/// <summary>A model read from a folder, with the tokenizer found next to it (null when there is none).</summary>
public sealed class LoadedModel(Transformer model, ITextTokenizer? tokenizer, string folder) : IDisposable
{
    public Transformer Model { get; } = model;
    public ITextTokenizer? Tokenizer { get; } = tokenizer;
    public string Folder { get; } = folder;

    public ITextTokenizer RequireTokenizer() => Tokenizer ??
        throw new InvalidDataException($"{Folder}: no tokenizer found (expected {CompactVocabulary.FileName}, or {Gpt2BpeTokenizer.VocabFile} and {Gpt2BpeTokenizer.MergesFile})");

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// A model as a folder in the Hugging Face GPT-2 layout: config.json with GPT-2's keys,
/// model.safetensors with GPT-2's tensor names, and the tokenizer's files (our compact vocabulary, or
/// GPT-2's vocab.json + merges.txt). GPT-2 stores its attention and MLP weights as Conv1D, i.e.
/// (in, out), the transpose of our (out, in): those are transposed on the way out and back on the way
/// in. Every file is written atomically.
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

    public static void Save(string folder, Transformer model, ITextTokenizer? tokenizer, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(folder);
        var tensors = ExportTensors(model.Layout, model.Backend.ToArray(model.Parameters.View));
        AtomicFile.Write(Path.Combine(folder, ModelFile), s => SafeTensorsWriter.Write(s, tensors, metadata));
        AtomicFile.WriteText(Path.Combine(folder, ConfigFile), ConfigJson(model.Config, tokenizer));
        tokenizer?.Save(folder);
    }

    public static string ConfigJson(ModelConfig c, ITextTokenizer? tokenizer)
    {
        var config = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["n_layer"] = c.Layers,
            ["n_embd"] = c.Channels,
            ["n_head"] = c.Heads,
            ["vocab_size"] = c.VocabSize,
            ["n_positions"] = c.MaxSequence,
            ["n_ctx"] = c.MaxSequence,
            ["activation_function"] = "gelu_new",
            ["layer_norm_epsilon"] = 1e-5,
            ["tie_word_embeddings"] = true,
            ["gta_vocabulary"] = tokenizer is CompactVocabulary ? VocabularyFile : null,
        };
        return config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Loads a model folder (ours, or a Hugging Face GPT-2 one) onto a backend. A run folder whose final
    /// model is not written yet loads its latest training checkpoint.
    /// </summary>
    public static LoadedModel Load(string folder, IBackend backend)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"model folder not found: {folder}");
        if (!File.Exists(Path.Combine(folder, ModelFile)) && TrainingCheckpoint.Latest(folder) is { } latest)
            folder = latest;
        var config = ReadConfig(Path.Combine(folder, ConfigFile));
        var tokenizer = LoadTokenizer(folder);
        if (tokenizer is not null && tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"{folder}: the tokenizer has {tokenizer.VocabularySize} tokens but the model's vocab_size is {config.VocabSize}");
        var model = new Transformer(backend, config);
        try
        {
            using var reader = SafeTensorsReader.Open(Path.Combine(folder, ModelFile));
            backend.Upload(model.Parameters.View, ReadModelTensors(reader, model.Layout));
            return new LoadedModel(model, tokenizer, folder);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Our compact vocabulary when the folder has one, else GPT-2's vocab.json + merges.txt, else null.</summary>
    public static ITextTokenizer? LoadTokenizer(string folder)
    {
        string compact = Path.Combine(folder, VocabularyFile);
        if (File.Exists(compact)) return CompactVocabulary.Load(compact);
        if (Gpt2BpeTokenizer.IsPresentIn(folder)) return Gpt2BpeTokenizer.Load(folder);
        return null;
    }

    /// <summary>Reads GPT-2's config.json keys and rejects settings this model does not implement.</summary>
    public static ModelConfig ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject json) throw new InvalidDataException($"{path}: expected a JSON object");

        int Int(string key, string? fallback = null)
        {
            var value = json[key] ?? (fallback is null ? null : json[fallback]);
            if (value is JsonValue v && v.TryGetValue(out int i)) return i;
            throw new InvalidDataException($"{path}: missing integer '{key}'");
        }
        string? Str(string key) => json[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

        if (Str("model_type") is { } type && type != "gpt2")
            throw new InvalidDataException($"{path}: model_type '{type}' is not supported (only gpt2)");
        if (Str("activation_function") is { } activation && activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new InvalidDataException($"{path}: activation_function '{activation}' is not supported (the model uses GELU's tanh approximation, gelu_new)");
        if (json["layer_norm_epsilon"] is JsonValue epsNode && epsNode.TryGetValue(out double eps) && Math.Abs(eps - 1e-5) > 1e-12)
            throw new InvalidDataException($"{path}: layer_norm_epsilon {eps} is not supported (the kernels use 1e-5)");
        if (json["tie_word_embeddings"] is JsonValue tieNode && tieNode.TryGetValue(out bool tied) && !tied)
            throw new InvalidDataException($"{path}: untied word embeddings are not supported (the LM head is wte)");
        var config = new ModelConfig(Int("n_layer"), Int("n_embd"), Int("n_head"), Int("vocab_size"), Int("n_positions", "n_ctx"));
        if (json["n_inner"] is JsonValue innerNode && innerNode.TryGetValue(out int inner) && inner != 4 * config.Channels)
            throw new InvalidDataException($"{path}: n_inner {inner} is not supported (the MLP is 4·n_embd = {4 * config.Channels})");
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        return config;
    }

    /// <summary>
    /// The parameters of a GPT-2 safetensors file as our flat buffer. Accepts the "transformer." prefix,
    /// skips the attention-mask buffers, and accepts lm_head.weight only when it equals wte.weight.
    /// </summary>
    public static float[] ReadModelTensors(SafeTensorsReader reader, ParameterLayout layout)
    {
        string prefix = reader.Contains(BodyPrefix + "wte.weight") ? BodyPrefix : "";
        var flat = ImportTensors(reader, layout, prefix);
        var known = layout.Tensors.Select(t => prefix + t.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in reader.Names)
        {
            if (known.Contains(name) || IsBuffer(name)) continue;
            if (name == "lm_head.weight")
            {
                var wte = layout["wte.weight"];
                var head = reader.ReadFloat32(name);
                if (!head.AsSpan().SequenceEqual(flat.AsSpan((int)wte.Offset, (int)wte.Length)))
                    throw new InvalidDataException($"{reader.Path}: lm_head.weight differs from wte.weight; untied output heads are not supported");
                continue;
            }
            throw new InvalidDataException($"{reader.Path}: unexpected tensor '{name}' (not a GPT-2 parameter of this config)");
        }
        return flat;
    }

    /// <summary>One tensor per parameter, named prefix + GPT-2 name, Conv1D weights transposed to (in, out).</summary>
    public static List<SafeTensorsWriter.Tensor> ExportTensors(ParameterLayout layout, float[] flat, string prefix = "")
    {
        var tensors = new List<SafeTensorsWriter.Tensor>();
        foreach (var t in layout.Tensors)
        {
            var data = flat.AsSpan((int)t.Offset, (int)t.Length).ToArray();
            int[] shape = t.Shape;
            if (IsConv1D(t.Name))
            {
                data = Transpose(data, t.Shape[0], t.Shape[1]);
                shape = [t.Shape[1], t.Shape[0]];
            }
            tensors.Add(new SafeTensorsWriter.Tensor(prefix + t.Name, shape, data));
        }
        return tensors;
    }

    /// <summary>The inverse of <see cref="ExportTensors"/>: every parameter must be present with the expected shape.</summary>
    public static float[] ImportTensors(SafeTensorsReader reader, ParameterLayout layout, string prefix = "")
    {
        var flat = new float[layout.TotalLength];
        var missing = layout.Tensors.Where(t => !reader.Contains(prefix + t.Name)).Select(t => prefix + t.Name).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{reader.Path}: missing {missing.Count} tensor(s): {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        foreach (var t in layout.Tensors)
        {
            string name = prefix + t.Name;
            bool conv = IsConv1D(t.Name);
            long[] expected = conv ? [t.Shape[1], t.Shape[0]] : t.Shape.Select(d => (long)d).ToArray();
            var entry = reader[name];
            if (!entry.Shape.SequenceEqual(expected))
                throw new InvalidDataException($"{reader.Path}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], expected [{string.Join(", ", expected)}] for this config");
            var data = reader.ReadFloat32(name);
            if (conv) data = Transpose(data, (int)expected[0], (int)expected[1]);
            data.CopyTo(flat.AsSpan((int)t.Offset, (int)t.Length));
        }
        return flat;
    }

    /// <summary>Row-major (rows, cols) → (cols, rows).</summary>
    private static float[] Transpose(float[] data, int rows, int cols)
    {
        var result = new float[data.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) result[k * rows + r] = data[r * cols + k];
        return result;
    }
}
