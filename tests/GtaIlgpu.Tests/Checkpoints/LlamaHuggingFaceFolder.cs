using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Common;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>
/// Builds a Hugging Face llama / qwen2 / qwen3 folder the way transformers lays it out, independently of our code:
/// config.json with the keys save_pretrained writes (sorted, indented), the tensors that LlamaForCausalLM,
/// Qwen2ForCausalLM or Qwen3ForCausalLM register (names and [out, in] shapes from their modeling files), in F32, F16
/// or BF16, in one model.safetensors or in shards with model.safetensors.index.json. Values are random and already
/// rounded to the dtype, so they load exactly.
/// </summary>
internal sealed class LlamaHuggingFaceFolder
{
    public string ModelType = "llama";
    public int Layers = 2, Hidden = 16, Heads = 4, KvHeads = 2, HeadDim = 4, Intermediate = 24, Vocab = 40, Positions = 32;
    public bool Tied = true, AttentionBias, MlpBias;
    public double RmsEps = 1e-5, RopeTheta = 500000.0;
    public string? RopeScaling; // JSON of the rope_scaling object, or null
    public string DType = "BF16";
    public int Shards = 1;
    public bool WithLmHeadCopy, WithRotaryBuffers;

    /// <summary>Config keys to set (JSON text) or, with a null value, remove.</summary>
    public readonly Dictionary<string, string?> ConfigOverrides = [];

    /// <summary>The parameters as written, by HF name, with their HF shapes.</summary>
    public readonly Dictionary<string, (int[] Shape, float[] Values)> Tensors = [];

    private bool QkvBias => ModelType == "qwen2" || AttentionBias;
    private bool OutputBias => ModelType != "qwen2" && AttentionBias;
    private bool HasMlpBias => ModelType == "llama" && MlpBias;

    /// <summary>The parameter names and shapes the modeling file registers for this config.</summary>
    public List<(string Name, int[] Shape)> ExpectedShapes()
    {
        int H = Hidden, q = Heads * HeadDim, kv = KvHeads * HeadDim, I = Intermediate;
        var list = new List<(string, int[])> { ("model.embed_tokens.weight", [Vocab, H]) };
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            list.Add((p + "self_attn.q_proj.weight", [q, H]));
            if (QkvBias) list.Add((p + "self_attn.q_proj.bias", [q]));
            list.Add((p + "self_attn.k_proj.weight", [kv, H]));
            if (QkvBias) list.Add((p + "self_attn.k_proj.bias", [kv]));
            list.Add((p + "self_attn.v_proj.weight", [kv, H]));
            if (QkvBias) list.Add((p + "self_attn.v_proj.bias", [kv]));
            list.Add((p + "self_attn.o_proj.weight", [H, q]));
            if (OutputBias) list.Add((p + "self_attn.o_proj.bias", [H]));
            if (ModelType == "qwen3")
            {
                list.Add((p + "self_attn.q_norm.weight", [HeadDim]));
                list.Add((p + "self_attn.k_norm.weight", [HeadDim]));
            }
            list.Add((p + "mlp.gate_proj.weight", [I, H]));
            if (HasMlpBias) list.Add((p + "mlp.gate_proj.bias", [I]));
            list.Add((p + "mlp.up_proj.weight", [I, H]));
            if (HasMlpBias) list.Add((p + "mlp.up_proj.bias", [I]));
            list.Add((p + "mlp.down_proj.weight", [H, I]));
            if (HasMlpBias) list.Add((p + "mlp.down_proj.bias", [H]));
            list.Add((p + "input_layernorm.weight", [H]));
            list.Add((p + "post_attention_layernorm.weight", [H]));
        }
        list.Add(("model.norm.weight", [H]));
        if (!Tied) list.Add(("lm_head.weight", [Vocab, H]));
        return list;
    }

    public void Build(ulong seed)
    {
        var rng = new Rng(seed);
        foreach (var (name, shape) in ExpectedShapes())
        {
            var values = new float[shape.Aggregate(1, (a, b) => a * b)];
            float offset = name.EndsWith("norm.weight", StringComparison.Ordinal) ? 1f : 0f;
            for (int i = 0; i < values.Length; i++) values[i] = Round(offset + 0.3f * (float)rng.NextNormal());
            Tensors[name] = (shape, values);
        }
    }

    public string ConfigJson()
    {
        var keys = new Dictionary<string, JsonNode?>
        {
            ["architectures"] = new JsonArray(ModelType switch { "qwen2" => "Qwen2ForCausalLM", "qwen3" => "Qwen3ForCausalLM", _ => "LlamaForCausalLM" }),
            ["model_type"] = ModelType,
            ["hidden_size"] = Hidden, ["intermediate_size"] = Intermediate, ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads, ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu", ["max_position_embeddings"] = Positions, ["vocab_size"] = Vocab,
            ["rms_norm_eps"] = RmsEps, ["rope_theta"] = RopeTheta,
            ["rope_scaling"] = RopeScaling is null ? null : JsonNode.Parse(RopeScaling),
            ["tie_word_embeddings"] = Tied, ["torch_dtype"] = DType switch { "BF16" => "bfloat16", "F16" => "float16", _ => "float32" },
            ["initializer_range"] = 0.02, ["use_cache"] = true, ["attention_dropout"] = 0.0, ["transformers_version"] = "4.51.0",
            ["bos_token_id"] = 1, ["eos_token_id"] = 2,
        };
        if (ModelType == "llama")
        {
            keys["attention_bias"] = AttentionBias;
            keys["mlp_bias"] = MlpBias;
            keys["pretraining_tp"] = 1;
        }
        else
        {
            if (ModelType == "qwen3") keys["attention_bias"] = AttentionBias;
            keys["use_sliding_window"] = false;
            keys["sliding_window"] = null;
            keys["max_window_layers"] = Layers;
        }
        foreach (var (key, json) in ConfigOverrides)
            if (json is null) keys.Remove(key);
            else keys[key] = JsonNode.Parse(json);
        var root = new JsonObject();
        foreach (var key in keys.Keys.Order(StringComparer.Ordinal)) root[key] = keys[key];
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private float Round(float v) => SafeTensorsDTypes.Round(DType, v);

    private byte[] Encode(float[] values) => SafeTensorsDTypes.Encode(DType, values);

    /// <summary>
    /// Writes config.json and the weights: one file, or Shards files splitting the state-dict order evenly, with the
    /// index (metadata.total_size, weight_map). extra tensors go into the last shard.
    /// </summary>
    public void Write(string folder, IEnumerable<(string Name, int[] Shape, float[] Values)>? extra = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson());
        var all = Tensors.Select(t => (Name: t.Key, t.Value.Shape, t.Value.Values)).ToList();
        if (WithLmHeadCopy) all.Add(("lm_head.weight", Tensors["model.embed_tokens.weight"].Shape, Tensors["model.embed_tokens.weight"].Values));
        if (WithRotaryBuffers)
            for (int l = 0; l < Layers; l++) all.Add(($"model.layers.{l}.self_attn.rotary_emb.inv_freq", [HeadDim / 2], new float[HeadDim / 2]));
        if (extra is not null) all.AddRange(extra);
        if (Shards <= 1)
        {
            WriteFile(Path.Combine(folder, "model.safetensors"), all);
            return;
        }
        int per = (all.Count + Shards - 1) / Shards;
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        for (int s = 0; s < Shards; s++)
        {
            string file = $"model-{s + 1:D5}-of-{Shards:D5}.safetensors";
            var part = all.Skip(s * per).Take(per).ToList();
            WriteFile(Path.Combine(folder, file), part);
            foreach (var t in part)
            {
                map[t.Name] = file;
                total += t.Values.Length * (DType == "F32" ? 4L : 2L);
            }
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = new JsonObject() };
        foreach (var (name, file) in map) index["weight_map"]![name] = file;
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private void WriteFile(string path, List<(string Name, int[] Shape, float[] Values)> tensors)
    {
        tensors = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        var data = new MemoryStream();
        foreach (var (name, shape, values) in tensors)
        {
            long begin = data.Length;
            data.Write(Encode(values));
            header.Append(CultureInfo.InvariantCulture, $",\"{name}\":{{\"dtype\":\"{DType}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{data.Length}]}}");
        }
        header.Append('}');
        var json = Encoding.UTF8.GetBytes(header.ToString());
        using var file = File.Create(path);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        file.Write(length);
        file.Write(json);
        data.Position = 0;
        data.CopyTo(file);
    }
}
