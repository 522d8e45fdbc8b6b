using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// config.json as transformers reads and writes it, for model_type gpt2 (also when the key is absent),
/// llama, qwen2 and qwen3. Every field that changes the math is read; what the kernels do not implement
/// is refused with one line naming the file, the field and its value. Defaults are the configuration
/// classes' own (cited per field from transformers' configuration_*.py / modeling_*.py).
/// </summary>
public static class HuggingFaceConfig
{
    public const string Llama = "llama", Qwen2 = "qwen2", Qwen3 = "qwen3";

    /// <summary>The architectures entry transformers writes for each model_type (its *ForCausalLM class).</summary>
    public static string Architecture(string modelType) => modelType switch
    {
        "gpt2" => "GPT2LMHeadModel",
        Llama => "LlamaForCausalLM",
        Qwen2 => "Qwen2ForCausalLM",
        Qwen3 => "Qwen3ForCausalLM",
        _ => throw new ArgumentException($"model_type '{modelType}' has no Hugging Face architecture here"),
    };

    public static ModelConfig Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject json) throw new InvalidDataException($"{path}: expected a JSON object");
        var fields = new Fields(path, json);
        string? type = fields.String("model_type");
        var config = type switch
        {
            null or "gpt2" => ReadGpt2(fields),
            Llama or Qwen2 or Qwen3 => ReadLlamaFamily(fields, type),
            _ => throw new InvalidDataException($"{path}: model_type '{type}' is not supported (gpt2, llama, qwen2 or qwen3)"),
        };
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }
        return config;
    }

    /// <summary>GPT-2's keys, as this code has always read them.</summary>
    private static ModelConfig ReadGpt2(Fields f)
    {
        if (f.String("activation_function") is { } activation && activation is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw f.Refuse($"activation_function '{activation}' is not supported (the model uses GELU's tanh approximation, gelu_new)");
        if (f.Double("layer_norm_epsilon") is { } eps && Math.Abs(eps - 1e-5) > 1e-12)
            throw f.Refuse($"layer_norm_epsilon {eps} is not supported (the kernels use 1e-5)");
        if (f.Bool("tie_word_embeddings") == false)
            throw f.Refuse("untied word embeddings are not supported (the LM head is wte)");
        var config = new ModelConfig(f.RequiredInt("n_layer"), f.RequiredInt("n_embd"), f.RequiredInt("n_head"), f.RequiredInt("vocab_size"), f.RequiredInt("n_positions", "n_ctx"));
        if (f.Int("n_inner") is { } inner && inner != 4 * config.Channels)
            throw f.Refuse($"n_inner {inner} is not supported (the MLP is 4·n_embd = {4 * config.Channels})");
        return config;
    }

    private static ModelConfig ReadLlamaFamily(Fields f, string type)
    {
        // hidden_act: all three classes default to "silu"; the SwiGLU kernels implement only SiLU.
        string act = f.String("hidden_act") ?? "silu";
        if (act != "silu") throw f.Refuse($"hidden_act '{act}' is not supported (only silu)");
        if (f.Double("partial_rotary_factor") is { } partial && partial != 1.0)
            throw f.Refuse($"partial_rotary_factor {partial.ToString(CultureInfo.InvariantCulture)} is not supported (the rotary covers the whole head)");
        string? dtype = f.String("torch_dtype") ?? f.String("dtype");
        if (dtype is not (null or "float32" or "float16" or "bfloat16"))
            throw f.Refuse($"torch_dtype '{dtype}' is not supported (float32, float16 or bfloat16)");
        if (f.Has("quantization_config")) throw f.Refuse("quantization_config is present; quantized weights are not supported");

        int layers = f.RequiredInt("num_hidden_layers"), hidden = f.RequiredInt("hidden_size"), heads = f.RequiredInt("num_attention_heads");
        int intermediate = f.RequiredInt("intermediate_size"), vocab = f.RequiredInt("vocab_size"), positions = f.RequiredInt("max_position_embeddings");

        // num_key_value_heads: LlamaConfig defaults to None → num_attention_heads; Qwen2Config and Qwen3Config
        // default to 32 (an explicit null still means num_attention_heads in all three).
        int kvHeads = f.Has("num_key_value_heads") ? f.Int("num_key_value_heads") ?? heads : type == Llama ? heads : 32;

        // head_dim: LlamaConfig None → hidden_size // num_attention_heads; Qwen2Config has no such field but
        // Qwen2Attention honours one (getattr(config, "head_dim", hidden // heads)); Qwen3Config defaults to 128.
        int headDim;
        if (f.Has("head_dim"))
            headDim = f.Int("head_dim") ?? (type == Qwen3
                ? throw f.Refuse("head_dim null is not supported for qwen3 (Qwen3Attention needs a head_dim)")
                : hidden / heads);
        else headDim = type == Qwen3 ? 128 : hidden / heads;

        // rms_norm_eps: 1e-6 in LlamaConfig, Qwen2Config and Qwen3Config. tie_word_embeddings: False in all three.
        double eps = f.Double("rms_norm_eps") ?? 1e-6;
        bool tied = f.Bool("tie_word_embeddings") ?? false;
        var (theta, scaling) = ReadRope(f);
        ReadSlidingWindow(f, type, layers);

        // Biases: LlamaAttention and Qwen3Attention put attention_bias (default False) on q, k, v AND o_proj;
        // Qwen2Attention has q/k/v bias=True always and o_proj bias=False. mlp_bias (default False) exists only
        // in LlamaMLP; Qwen2MLP and Qwen3MLP are bias-free. q_norm/k_norm (RMSNorm over head_dim) only in Qwen3.
        bool attentionBias = type == Qwen2 || (f.Bool("attention_bias") ?? false);
        bool outputBias = type != Qwen2 && (f.Bool("attention_bias") ?? false);
        bool mlpBias = type == Llama && (f.Bool("mlp_bias") ?? false);

        return new ModelConfig(layers, hidden, heads, vocab, positions)
        {
            Family = ModelFamily.Llama,
            ModelType = type,
            KvHeads = kvHeads,
            HeadDim = heads > 0 && headDim * heads == hidden ? 0 : headDim,
            Intermediate = intermediate,
            NormEps = (float)eps,
            RopeTheta = theta,
            RopeScaling = scaling,
            AttentionBias = attentionBias,
            OutputBias = outputBias,
            MlpBias = mlpBias,
            QkNorm = type == Qwen3,
            TiedEmbeddings = tied,
        };
    }

    /// <summary>
    /// rope_theta (default 10000.0 in all three v4 config classes) and rope_scaling (null, or a dict whose
    /// rope_type — formerly "type" — is "default" or "llama3" with factor, low_freq_factor, high_freq_factor and
    /// original_max_position_embeddings, as modeling_rope_utils' _validate_llama3_parameters requires).
    /// transformers v5 writes both inside one rope_parameters dict instead; that is read the same way.
    /// </summary>
    private static (double Theta, RopeScaling? Scaling) ReadRope(Fields f)
    {
        string field = f.Has("rope_parameters") ? "rope_parameters" : "rope_scaling";
        double theta = f.Double("rope_theta") ?? 10000.0;
        var rope = f.Object(field);
        if (rope is null) return (theta, null);
        var r = new Fields(f.Path, rope, field + ".");
        if (field == "rope_parameters")
            theta = r.Double("rope_theta") ?? throw r.Refuse("rope_theta is missing");
        string type = r.String("rope_type") ?? r.String("type") ?? "default";
        if (r.Double("partial_rotary_factor") is { } partial && partial != 1.0)
            throw r.Refuse($"partial_rotary_factor {partial.ToString(CultureInfo.InvariantCulture)} is not supported (the rotary covers the whole head)");
        if (type == "default") return (theta, null);
        if (type != RopeScaling.Llama3Type)
            throw r.Refuse($"rope_type '{type}' is not supported (default or llama3)");
        double Required(string key) => r.Double(key) ?? throw r.Refuse($"{key} is missing (required by rope_type llama3)");
        var scaling = new RopeScaling(Required("factor"), Required("low_freq_factor"), Required("high_freq_factor"),
            r.Int("original_max_position_embeddings") ?? throw r.Refuse("original_max_position_embeddings is missing (required by rope_type llama3)"));
        return (theta, scaling);
    }

    /// <summary>
    /// Qwen2Config/Qwen3Config: sliding_window only applies when use_sliding_window (default False) is true, and then
    /// to layers i ≥ max_window_layers (default 28), unless layer_types lists them; any such layer is refused.
    /// </summary>
    private static void ReadSlidingWindow(Fields f, string type, int layers)
    {
        if (type == Llama) return;
        if (f.Array("layer_types") is { } layerTypes)
        {
            for (int i = 0; i < layerTypes.Count; i++)
                if (layerTypes[i] is JsonValue v && v.TryGetValue(out string? kind) && kind != "full_attention")
                    throw f.Refuse($"layer_types[{i}] '{kind}' is not supported (only full_attention)");
            return;
        }
        if (f.Bool("use_sliding_window") != true || f.Has("sliding_window") && f.Int("sliding_window") is null) return;
        int maxWindowLayers = f.Int("max_window_layers") ?? 28;
        if (maxWindowLayers < layers)
            throw f.Refuse($"use_sliding_window true (sliding_window {f.Int("sliding_window") ?? 4096} from layer {maxWindowLayers} of {layers}) is not supported");
    }

    /// <summary>config.json for a model, in the keys of its model_type, sorted as transformers writes them.</summary>
    public static string ToJson(ModelConfig c, ITextTokenizer? tokenizer)
    {
        var keys = c.IsGpt2 ? Gpt2Json(c) : LlamaFamilyJson(c);
        keys["gta_vocabulary"] = tokenizer is CompactVocabulary ? ModelCheckpoint.VocabularyFile : null;
        var config = new JsonObject();
        foreach (var key in keys.Keys.Order(StringComparer.Ordinal)) config[key] = keys[key];
        return config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static Dictionary<string, JsonNode?> Gpt2Json(ModelConfig c) => new()
    {
        ["model_type"] = "gpt2",
        ["architectures"] = new JsonArray(Architecture("gpt2")),
        ["n_layer"] = c.Layers,
        ["n_embd"] = c.Channels,
        ["n_head"] = c.Heads,
        ["vocab_size"] = c.VocabSize,
        ["n_positions"] = c.MaxSequence,
        ["n_ctx"] = c.MaxSequence,
        ["activation_function"] = "gelu_new",
        ["layer_norm_epsilon"] = 1e-5,
        ["tie_word_embeddings"] = true,
    };

    private static Dictionary<string, JsonNode?> LlamaFamilyJson(ModelConfig c)
    {
        string type = c.ModelType;
        bool representable = type switch
        {
            Llama => c.AttentionBias == c.OutputBias && !c.QkNorm,
            Qwen2 => c.AttentionBias && !c.OutputBias && !c.MlpBias && !c.QkNorm,
            Qwen3 => c.AttentionBias == c.OutputBias && !c.MlpBias && c.QkNorm,
            _ => false,
        };
        if (!representable)
            throw new InvalidOperationException($"model_type '{type}' cannot express this model (q/k/v bias {c.AttentionBias}, o_proj bias {c.OutputBias}, mlp bias {c.MlpBias}, q/k norm {c.QkNorm})");
        var keys = new Dictionary<string, JsonNode?>
        {
            ["model_type"] = type,
            ["architectures"] = new JsonArray(Architecture(type)),
            ["hidden_size"] = c.Channels,
            ["intermediate_size"] = c.MlpWidth,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["num_key_value_heads"] = c.KvHeadCount,
            ["head_dim"] = c.HeadSize,
            ["hidden_act"] = "silu",
            ["max_position_embeddings"] = c.MaxSequence,
            ["vocab_size"] = c.VocabSize,
            // The float's shortest text, so 1e-5f is written 1E-05 and reads back to the same float.
            ["rms_norm_eps"] = double.Parse(c.NormEps.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = c.RopeScaling is { } s
                ? new JsonObject
                {
                    ["rope_type"] = RopeScaling.Llama3Type, ["factor"] = s.Factor, ["low_freq_factor"] = s.LowFreqFactor,
                    ["high_freq_factor"] = s.HighFreqFactor, ["original_max_position_embeddings"] = s.OriginalMaxPositions,
                }
                : null,
            ["tie_word_embeddings"] = c.TiedEmbeddings,
            ["torch_dtype"] = "float32",
            ["initializer_range"] = 0.02,
            ["attention_dropout"] = 0.0,
            ["use_cache"] = true,
        };
        if (type != Qwen2) keys["attention_bias"] = c.OutputBias;
        if (type == Llama) keys["mlp_bias"] = c.MlpBias;
        if (type != Llama)
        {
            keys["use_sliding_window"] = false;
            keys["sliding_window"] = null;
            keys["max_window_layers"] = c.Layers;
        }
        return keys;
    }

    /// <summary>Typed reads of a JSON object's keys, with errors that name the file and the field.</summary>
    private sealed class Fields(string path, JsonObject json, string prefix = "")
    {
        public string Path { get; } = path;

        public bool Has(string key) => json.ContainsKey(key);

        public InvalidDataException Refuse(string message) => new($"{Path}: {prefix}{message}");

        private InvalidDataException WrongType(string key, string expected) =>
            Refuse($"{key} must be {expected}, got {json[key]?.ToJsonString() ?? "null"}");

        public string? String(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            _ => throw WrongType(key, "a string"),
        };

        public int? Int(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int i) => i,
            JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue => (int)d,
            _ => throw WrongType(key, "an integer"),
        };

        public double? Double(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out double d) => d,
            _ => throw WrongType(key, "a number"),
        };

        public bool? Bool(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out bool b) => b,
            _ => throw WrongType(key, "true or false"),
        };

        public JsonObject? Object(string key) => json[key] switch
        {
            null => null,
            JsonObject o => o,
            _ => throw WrongType(key, "an object or null"),
        };

        public JsonArray? Array(string key) => json[key] switch
        {
            null => null,
            JsonArray a => a,
            _ => throw WrongType(key, "an array or null"),
        };

        public int RequiredInt(string key, string? fallback = null) =>
            Int(key) ?? (fallback is null ? null : Int(fallback)) ?? throw Refuse($"missing integer '{key}'");
    }
}
