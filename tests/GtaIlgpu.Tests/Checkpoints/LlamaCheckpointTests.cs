using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Model;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>
/// Hugging Face llama / qwen2 / qwen3 folders in and out, without a forward pass: every tensor lands exactly at its
/// named place in the flat buffer, config.json maps field by field (with transformers' defaults), saving writes
/// what transformers writes (names, shapes, shards, index) and reloads bit for bit, and what is not implemented is
/// refused in one line naming the field and its value.
/// </summary>
public sealed class LlamaCheckpointTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-llama-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    private static LlamaHuggingFaceFolder Case(string name) => name switch
    {
        // Llama 3 style: grouped-query attention (2 KV heads for 4), tied head, F32, an lm_head copy and old rotary buffers.
        "llama-gqa-tied" => new() { ModelType = "llama", KvHeads = 2, Tied = true, DType = "F32", WithLmHeadCopy = true, WithRotaryBuffers = true },
        // Llama 3.1 style rope_scaling, untied head, attention and MLP biases, BF16 in two shards.
        "llama-untied-llama3-bias" => new()
        {
            ModelType = "llama", KvHeads = 1, Tied = false, AttentionBias = true, MlpBias = true, DType = "BF16", Shards = 2,
            RopeScaling = "{\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":16,\"rope_type\":\"llama3\"}",
        },
        // Qwen2: q/k/v biases always, o_proj without, plain multi-head attention, F16, tied, two shards.
        "qwen2" => new() { ModelType = "qwen2", KvHeads = 4, Tied = true, DType = "F16", Shards = 2, RmsEps = 1e-6, RopeTheta = 1000000.0 },
        // Qwen3: head_dim 6 ≠ hidden/heads = 4, q_norm/k_norm, untied, BF16.
        "qwen3" => new() { ModelType = "qwen3", Hidden = 16, Heads = 4, KvHeads = 2, HeadDim = 6, Intermediate = 20, Vocab = 30, Tied = false, DType = "BF16", RmsEps = 1e-6 },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [InlineData("llama-gqa-tied")]
    [InlineData("llama-untied-llama3-bias")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void A_hugging_face_folder_loads_every_tensor_exactly_at_its_name_and_maps_the_config(string name)
    {
        var hf = Case(name);
        hf.Build(11);
        hf.Write(_folder);

        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        var c = loaded.Model.Config;
        Assert.Equal(ModelFamily.Llama, c.Family);
        Assert.Equal(hf.ModelType, c.ModelType);
        Assert.Equal((hf.Layers, hf.Hidden, hf.Heads, hf.Vocab, hf.Positions), (c.Layers, c.Channels, c.Heads, c.VocabSize, c.MaxSequence));
        Assert.Equal((hf.KvHeads, hf.HeadDim, hf.Intermediate), (c.KvHeadCount, c.HeadSize, c.MlpWidth));
        Assert.Equal((float)hf.RmsEps, c.NormEps);
        Assert.Equal(hf.RopeTheta, c.RopeTheta);
        Assert.Equal(hf.Tied, c.TiedEmbeddings);
        bool qwen2 = hf.ModelType == "qwen2";
        Assert.Equal(qwen2 || hf.AttentionBias, c.AttentionBias);
        Assert.Equal(!qwen2 && hf.AttentionBias, c.OutputBias);
        Assert.Equal(hf.MlpBias, c.MlpBias);
        Assert.Equal(hf.ModelType == "qwen3", c.QkNorm);
        Assert.Equal(hf.RopeScaling is null ? null : new RopeScaling(8.0, 1.0, 4.0, 16), c.RopeScaling);

        // Exactly the modeling file's parameters, each at its place in the flat buffer, bit for bit.
        var layout = loaded.Model.Layout;
        Assert.Equal(hf.ExpectedShapes().Select(t => t.Name).Order(), layout.Tensors.Select(t => t.Name).Order());
        var flat = _backend.ToArray(loaded.Model.Parameters.View);
        foreach (var (tensor, (shape, values)) in hf.Tensors)
        {
            var t = layout[tensor];
            Assert.Equal(shape, t.Shape);
            var actual = flat.AsSpan((int)t.Offset, (int)t.Length).ToArray();
            Assert.True(values.Select(BitConverter.SingleToInt32Bits).SequenceEqual(actual.Select(BitConverter.SingleToInt32Bits)), $"{name}: {tensor} differs");
        }
    }

    [Fact]
    public void Missing_optional_config_keys_take_the_defaults_of_each_transformers_config_class()
    {
        ModelConfig Read(string type, int hidden, int heads, params string[] remove)
        {
            var hf = new LlamaHuggingFaceFolder { ModelType = type, Hidden = hidden, Heads = heads, KvHeads = 2, HeadDim = 2 };
            foreach (string key in remove) hf.ConfigOverrides[key] = null;
            Directory.CreateDirectory(_folder);
            string path = Path.Combine(_folder, "config.json");
            File.WriteAllText(path, hf.ConfigJson());
            return ModelCheckpoint.ReadConfig(path);
        }
        string[] optional = ["num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "rope_scaling", "tie_word_embeddings", "attention_bias", "mlp_bias", "hidden_act"];

        // LlamaConfig: num_key_value_heads None → heads, head_dim None → hidden // heads, eps 1e-6, θ 10000, untied, no biases.
        var llama = Read("llama", 16, 4, optional);
        Assert.Equal((4, 4, 1e-6f, 10000.0, false, false, false, false), (llama.KvHeadCount, llama.HeadSize, llama.NormEps, llama.RopeTheta, llama.TiedEmbeddings, llama.AttentionBias, llama.OutputBias, llama.MlpBias));
        // Qwen2Config: num_key_value_heads 32; Qwen2Attention: q/k/v bias on, o_proj off whatever attention_bias says.
        var qwen2 = Read("qwen2", 64, 32, optional);
        Assert.Equal((32, 2, 1e-6f, 10000.0, false, true, false), (qwen2.KvHeadCount, qwen2.HeadSize, qwen2.NormEps, qwen2.RopeTheta, qwen2.TiedEmbeddings, qwen2.AttentionBias, qwen2.OutputBias));
        // Qwen3Config: num_key_value_heads 32, head_dim 128, no attention bias, q/k norms.
        var qwen3 = Read("qwen3", 64, 32, optional);
        Assert.Equal((32, 128, 1e-6f, false, false, true), (qwen3.KvHeadCount, qwen3.HeadSize, qwen3.NormEps, qwen3.AttentionBias, qwen3.MlpBias, qwen3.QkNorm));
        // An explicit null num_key_value_heads means as many as the query heads in every class.
        var hfNull = new LlamaHuggingFaceFolder { ModelType = "qwen2", Heads = 4 };
        hfNull.ConfigOverrides["num_key_value_heads"] = "null";
        File.WriteAllText(Path.Combine(_folder, "config.json"), hfNull.ConfigJson());
        Assert.Equal(4, ModelCheckpoint.ReadConfig(Path.Combine(_folder, "config.json")).KvHeadCount);
        // transformers v5 writes rope_parameters {rope_type, rope_theta, ...} instead of rope_theta / rope_scaling.
        var v5 = new LlamaHuggingFaceFolder();
        v5.ConfigOverrides["rope_theta"] = null;
        v5.ConfigOverrides["rope_scaling"] = null;
        v5.ConfigOverrides["rope_parameters"] = "{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,\"factor\":32.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8}";
        File.WriteAllText(Path.Combine(_folder, "config.json"), v5.ConfigJson());
        var c5 = ModelCheckpoint.ReadConfig(Path.Combine(_folder, "config.json"));
        Assert.Equal((500000.0, new RopeScaling(32.0, 1.0, 4.0, 8)), (c5.RopeTheta, c5.RopeScaling));
    }

    public static TheoryData<string, string, string?, string> Refusals() => new()
    {
        { "llama", "rope_scaling", "{\"rope_type\":\"yarn\",\"factor\":4.0}", "rope_scaling.rope_type 'yarn'" },
        { "llama", "rope_scaling", "{\"type\":\"linear\",\"factor\":2.0}", "rope_scaling.rope_type 'linear'" },
        { "llama", "rope_scaling", "{\"type\":\"dynamic\",\"factor\":2.0}", "rope_scaling.rope_type 'dynamic'" },
        { "qwen2", "rope_scaling", "{\"rope_type\":\"longrope\",\"short_factor\":[1.0],\"long_factor\":[1.0]}", "rope_scaling.rope_type 'longrope'" },
        { "llama", "rope_scaling", "{\"rope_type\":\"llama3\",\"factor\":8.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":16}", "rope_scaling.low_freq_factor is missing" },
        { "qwen2", "use_sliding_window", "true", "use_sliding_window true (sliding_window 4096 from layer 0 of 2)" },
        { "qwen3", "layer_types", "[\"full_attention\",\"sliding_attention\"]", "layer_types[1] 'sliding_attention'" },
        { "llama", "hidden_act", "\"gelu\"", "hidden_act 'gelu'" },
        { "llama", "model_type", "\"mistral\"", "model_type 'mistral'" },
        { "qwen3", "partial_rotary_factor", "0.5", "partial_rotary_factor 0.5" },
        { "llama", "hidden_size", null, "missing integer 'hidden_size'" },
        { "qwen2", "vocab_size", null, "missing integer 'vocab_size'" },
        { "llama", "torch_dtype", "\"int8\"", "torch_dtype 'int8'" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Unimplemented_settings_are_refused_in_one_line_naming_the_field_and_value(string type, string field, string? json, string expected)
    {
        var hf = new LlamaHuggingFaceFolder { ModelType = type };
        hf.ConfigOverrides[field] = json;
        if (field == "use_sliding_window")
        {
            hf.ConfigOverrides["max_window_layers"] = "0";
            hf.ConfigOverrides["sliding_window"] = "4096";
        }
        hf.Build(1);
        hf.Write(_folder);
        string message = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(_folder, _backend).Dispose()).Message;
        Assert.Contains("config.json: ", message);
        Assert.Contains(expected, message);
        Assert.DoesNotContain('\n', message);
    }

    [Fact]
    public void An_enabled_flag_without_sliding_layers_or_a_disabled_window_is_accepted()
    {
        var hf = new LlamaHuggingFaceFolder { ModelType = "qwen2" };
        hf.ConfigOverrides["use_sliding_window"] = "true"; // max_window_layers = layers: no layer slides
        hf.ConfigOverrides["sliding_window"] = "64";
        hf.Build(2);
        hf.Write(_folder);
        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        Assert.Equal("qwen2", loaded.Model.Config.ModelType);
    }

    [Fact]
    public void Weights_that_do_not_match_the_config_are_rejected_naming_the_tensor()
    {
        string Error(LlamaHuggingFaceFolder hf, IEnumerable<(string, int[], float[])>? extra = null, Action? tamper = null)
        {
            if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
            hf.Write(_folder, extra);
            tamper?.Invoke();
            return Assert.ThrowsAny<Exception>(() => ModelCheckpoint.Load(_folder, _backend).Dispose()).Message;
        }
        LlamaHuggingFaceFolder Fresh(int shards = 1)
        {
            var hf = Case("llama-gqa-tied");
            hf.WithLmHeadCopy = false;
            hf.WithRotaryBuffers = false;
            hf.Shards = shards;
            hf.Build(5);
            return hf;
        }

        var missing = Fresh();
        missing.Tensors.Remove("model.layers.1.post_attention_layernorm.weight");
        Assert.Contains("missing 1 tensor(s): model.layers.1.post_attention_layernorm.weight", Error(missing));

        // k_proj with as many heads as q (ignoring num_key_value_heads) is not this config's shape.
        var mha = Fresh();
        mha.Tensors["model.layers.0.self_attn.k_proj.weight"] = ([16, 16], new float[256]);
        Assert.Contains("'model.layers.0.self_attn.k_proj.weight' has shape [16, 16], expected [8, 16]", Error(mha));

        Assert.Contains("unexpected tensor 'model.layers.0.self_attn.o_proj.bias'", Error(Fresh(), [("model.layers.0.self_attn.o_proj.bias", [16], new float[16])]));
        Assert.Contains("2 unexpected tensors (not llama parameters of this config): 'model.extra.a', 'model.extra.b'",
            Error(Fresh(), [("model.extra.b", [2], new float[2]), ("model.extra.a", [2], new float[2])]));
        Assert.Contains("lm_head.weight differs from model.embed_tokens.weight although tie_word_embeddings is true",
            Error(Fresh(), [("lm_head.weight", [40, 16], new float[640])]));

        string index = Path.Combine(_folder, "model.safetensors.index.json");
        Assert.Contains("shard 'model-00002-of-00002.safetensors' listed in weight_map is missing",
            Error(Fresh(2), tamper: () => File.Delete(Path.Combine(_folder, "model-00002-of-00002.safetensors"))));
        Assert.Contains("tensor 'model.ghost.weight' is listed in shard 'model-00001-of-00002.safetensors' but that file does not hold it",
            Error(Fresh(2), tamper: () => EditIndex(index, map => map["model.ghost.weight"] = "model-00001-of-00002.safetensors")));
        Assert.Contains("holds tensor 'model.norm.weight', which weight_map does not list for that file",
            Error(Fresh(2), tamper: () => EditIndex(index, map => map.Remove("model.norm.weight"))));
        Assert.Contains("not a file in the folder",
            Error(Fresh(2), tamper: () => EditIndex(index, map => map["model.norm.weight"] = "../model-00002-of-00002.safetensors")));
    }

    private static void EditIndex(string path, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(root["weight_map"]!.AsObject());
        File.WriteAllText(path, root.ToJsonString());
    }

    private static ModelConfig ConfigOf(LlamaHuggingFaceFolder hf) => new(hf.Layers, hf.Hidden, hf.Heads, hf.Vocab, hf.Positions)
    {
        Family = ModelFamily.Llama, ModelType = hf.ModelType, KvHeads = hf.KvHeads, HeadDim = hf.HeadDim * hf.Heads == hf.Hidden ? 0 : hf.HeadDim,
        Intermediate = hf.Intermediate, NormEps = (float)hf.RmsEps, RopeTheta = hf.RopeTheta,
        RopeScaling = hf.RopeScaling is null ? null : new RopeScaling(8.0, 1.0, 4.0, 16),
        AttentionBias = hf.ModelType == "qwen2" || hf.AttentionBias, OutputBias = hf.ModelType != "qwen2" && hf.AttentionBias,
        MlpBias = hf.ModelType == "llama" && hf.MlpBias, QkNorm = hf.ModelType == "qwen3", TiedEmbeddings = hf.Tied,
    };

    [Theory]
    [InlineData("llama-gqa-tied", false)]
    [InlineData("llama-untied-llama3-bias", true)]
    [InlineData("qwen2", true)]
    [InlineData("qwen3", false)]
    public void A_saved_model_is_a_transformers_folder_that_reloads_bit_for_bit(string name, bool sharded)
    {
        var hf = Case(name);
        var config = ConfigOf(hf);
        using var model = ModelCheckpointTests.RandomModel(_backend, config, 21);
        var expected = hf.ExpectedShapes();
        long totalBytes = expected.Sum(t => 4L * t.Shape.Aggregate(1, (a, b) => a * b));
        // A limit of half the model gives at least two shards.
        long limit = sharded ? totalBytes / 2 : HuggingFaceWeights.DefaultMaxShardBytes;
        ModelCheckpoint.Save(_folder, model, tokenizer: null, maxShardBytes: limit);

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, "config.json")))!.AsObject();
        string architecture = hf.ModelType switch { "qwen2" => "Qwen2ForCausalLM", "qwen3" => "Qwen3ForCausalLM", _ => "LlamaForCausalLM" };
        Assert.Equal(hf.ModelType, (string?)json["model_type"]);
        Assert.Equal(architecture, (string?)json["architectures"]![0]);
        Assert.Equal("float32", (string?)json["torch_dtype"]);
        Assert.Equal("silu", (string?)json["hidden_act"]);
        Assert.Equal((hf.Hidden, hf.Intermediate, hf.Layers, hf.Heads, hf.KvHeads, hf.HeadDim, hf.Positions, hf.Vocab),
            ((int)json["hidden_size"]!, (int)json["intermediate_size"]!, (int)json["num_hidden_layers"]!, (int)json["num_attention_heads"]!,
             (int)json["num_key_value_heads"]!, (int)json["head_dim"]!, (int)json["max_position_embeddings"]!, (int)json["vocab_size"]!));
        Assert.Equal(hf.Tied, (bool)json["tie_word_embeddings"]!);
        Assert.Equal(hf.RmsEps, (double)json["rms_norm_eps"]!);
        Assert.Equal(hf.RopeTheta, (double)json["rope_theta"]!);
        Assert.Equal(hf.ModelType == "qwen2" ? null : (bool?)hf.AttentionBias, (bool?)json["attention_bias"]);
        Assert.Equal(hf.ModelType == "llama" ? (bool?)hf.MlpBias : null, (bool?)json["mlp_bias"]);
        if (hf.RopeScaling is null) Assert.Null(json["rope_scaling"]);
        else Assert.True(JsonNode.DeepEquals(JsonNode.Parse(hf.RopeScaling), json["rope_scaling"]), json["rope_scaling"]!.ToJsonString());

        // Names and shapes as the modeling file registers them; shards as save_pretrained names and indexes them.
        var files = Directory.GetFiles(_folder).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToList();
        var seen = new Dictionary<string, long[]>();
        if (sharded)
        {
            int count = files.Count(f => f.StartsWith("model-", StringComparison.Ordinal));
            Assert.True(count >= 2, $"{count} shards");
            var shardFiles = Enumerable.Range(1, count).Select(i => $"model-{i:D5}-of-{count:D5}.safetensors").ToList();
            Assert.Equal(["config.json", .. shardFiles, "model.safetensors.index.json"], files);
            var index = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, "model.safetensors.index.json")))!.AsObject();
            Assert.Equal(totalBytes, (long)index["metadata"]!["total_size"]!);
            var map = index["weight_map"]!.AsObject().ToDictionary(p => p.Key, p => (string)p.Value!);
            // Packed in state_dict order: shard numbers never go down along it, and every shard is used.
            var order = expected.Select(t => shardFiles.IndexOf(map[t.Name])).ToList();
            Assert.True(order.Zip(order.Skip(1)).All(p => p.First <= p.Second) && order.Distinct().Count() == count, $"shards along state_dict order: {string.Join(",", order)}");
            foreach (string file in map.Values.Distinct())
            {
                using var shard = SafeTensorsReader.Open(Path.Combine(_folder, file));
                foreach (string n in shard.Names)
                {
                    Assert.Equal(file, map[n]);
                    Assert.Equal("F32", shard[n].DType);
                    seen[n] = shard[n].Shape;
                }
            }
        }
        else
        {
            Assert.Equal(["config.json", "model.safetensors"], files);
            using var single = SafeTensorsReader.Open(Path.Combine(_folder, "model.safetensors"));
            foreach (string n in single.Names) seen[n] = single[n].Shape;
        }
        Assert.Equal(expected.Select(t => t.Name).Order(), seen.Keys.Order());
        foreach (var (n, shape) in expected) Assert.Equal(shape.Select(d => (long)d), seen[n]);

        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        Assert.Equal(config, loaded.Model.Config);
        Assert.Equal(_backend.ToArray(model.Parameters.View).Select(BitConverter.SingleToInt32Bits), _backend.ToArray(loaded.Model.Parameters.View).Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void Resaving_with_other_sharding_leaves_no_stale_weights()
    {
        var config = ConfigOf(Case("llama-gqa-tied"));
        using var model = ModelCheckpointTests.RandomModel(_backend, config, 3);
        string[] Files() => Directory.GetFiles(_folder).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();

        ModelCheckpoint.Save(_folder, model, null, maxShardBytes: 2048);
        int shards = Files().Count(f => f.StartsWith("model-", StringComparison.Ordinal));
        Assert.True(shards >= 3, $"{shards} shards");
        Assert.DoesNotContain("model.safetensors", Files());
        ModelCheckpoint.Save(_folder, model, null);
        Assert.Equal(["config.json", "model.safetensors"], Files());
        ModelCheckpoint.Save(_folder, model, null, maxShardBytes: 6000);
        var files = Files();
        int now = files.Count(f => f.StartsWith("model-", StringComparison.Ordinal));
        Assert.True(now >= 2 && now < shards, $"{now} shards");
        Assert.All(files.Where(f => f.StartsWith("model-", StringComparison.Ordinal)), f => Assert.EndsWith($"-of-{now:D5}.safetensors", f));
        Assert.Contains("model.safetensors.index.json", files);
        Assert.DoesNotContain("model.safetensors", files);
        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        Assert.Equal(_backend.ToArray(model.Parameters.View), _backend.ToArray(loaded.Model.Parameters.View));
    }

    [Fact]
    public void A_model_its_model_type_cannot_express_is_not_saved()
    {
        var config = ConfigOf(Case("qwen2")) with { OutputBias = true };
        using var model = ModelCheckpointTests.RandomModel(_backend, config, 4);
        var e = Assert.Throws<InvalidOperationException>(() => ModelCheckpoint.Save(_folder, model, null));
        Assert.Contains("model_type 'qwen2' cannot express", e.Message);
        Assert.False(Directory.Exists(_folder) && Directory.EnumerateFiles(_folder).Any());
    }
}
