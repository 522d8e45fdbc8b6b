using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GtaIlgpu.Common;
using GtaIlgpu.Model;

namespace GtaIlgpu.Checkpoints;

/// <summary>An adapter folder read back: its settings, the layout they give on the model, the values in that layout and the base it names.</summary>
public sealed record LoadedAdapter(LoraSettings Lora, AdapterLayout Layout, float[] Adapters, string? BaseModelPath);

/// <summary>
/// LoRA adapters in PEFT's on-disk layout, so that <c>PeftModel.from_pretrained(base, folder)</c> loads them:
/// <code>
/// adapter_config.json         LoraConfig's fields (json.dumps(indent=2, sort_keys=True), as PeftConfig.save_pretrained)
/// adapter_model.safetensors   base_model.model.&lt;module&gt;.lora_A.weight (r, in) and .lora_B.weight (out, r), metadata {"format": "pt"}
/// </code>
/// Names as get_peft_model_state_dict (peft/utils/save_and_load.py) saves them: the PeftModel's state-dict key with
/// the adapter name removed. The module is named as the causal LM's named_modules() names it: Llama family
/// <c>model.layers.N.self_attn.q_proj</c>, GPT-2 <c>transformer.h.N.attn.c_attn</c> (GPT2LMHeadModel keeps its body
/// under "transformer"). GPT-2's Conv1D layers get LoRA as nn.Linear does: PEFT takes in/out from the Conv1D weight's
/// (in, out) shape, so A is (r, in) and B (out, r) for every family; only the merge transposes (fan_in_fan_out), and
/// our weights are already (out, in).
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";

    /// <summary>The pickle file of older saves (safe_serialization=False), which we do not read.</summary>
    public const string PickleWeightsFile = "adapter_model.bin";

    /// <summary>PeftModel → LoraModel (base_model) → the transformers model (model).</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The module's name in the Hugging Face causal LM (GPT-2's body sits under "transformer.").</summary>
    public static string ModuleName(ModelConfig config, AdapterModule m) => config.IsGpt2 ? ModelCheckpoint.BodyPrefix + m.Module : m.Module;

    public static string AName(ModelConfig config, AdapterModule m) => KeyPrefix + ModuleName(config, m) + ".lora_A.weight";
    public static string BName(ModelConfig config, AdapterModule m) => KeyPrefix + ModuleName(config, m) + ".lora_B.weight";

    public static bool ExistsIn(string folder) => File.Exists(Path.Combine(folder, ConfigFile));

    /// <summary>
    /// target_modules as PEFT matches them (check_target_module_exists: a name equals the module's or is a suffix after
    /// a dot). Llama family: q_proj … down_proj. GPT-2: c_attn and c_fc; its attn.c_proj and mlp.c_proj share the name
    /// c_proj, so "c_proj" stands for both, and one alone is written with its parent ("attn.c_proj", "mlp.c_proj"),
    /// which still matches by suffix and only that module.
    /// </summary>
    public static IReadOnlyList<string> TargetModules(AdapterLayout layout)
    {
        var targets = layout.ResolvedTargets;
        if (!layout.Config.IsGpt2) return targets.Select(t => t + "_proj").ToArray();
        var names = new List<string>();
        bool o = targets.Contains("o"), down = targets.Contains("down");
        foreach (var t in targets)
        {
            switch (t)
            {
                case "qkv": names.Add("c_attn"); break;
                case "up": names.Add("c_fc"); break;
                case "o": names.Add(down ? "c_proj" : "attn.c_proj"); break;
                case "down": if (!o) names.Add("mlp.c_proj"); break;
            }
        }
        return names;
    }

    /// <summary>
    /// adapter_config.json: the fields LoraConfig has had since PEFT 0.10 (so 0.10 and later load it without an unknown
    /// key; 0.14 and later fill newer fields with their defaults), sorted and indented as PeftConfig.save_pretrained.
    /// </summary>
    public static string ConfigJson(AdapterLayout layout, string? baseModelPath)
    {
        var lora = layout.Lora;
        var targets = new JsonArray();
        foreach (var t in TargetModules(layout)) targets.Add(t);
        var keys = new Dictionary<string, JsonNode?>
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModelPath,
            ["bias"] = "none",
            ["fan_in_fan_out"] = layout.Config.IsGpt2, // Conv1D stores (in, out); PEFT would set it anyway, with a warning
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layer_replication"] = null,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["loftq_config"] = new JsonObject(),
            ["lora_alpha"] = lora.Alpha == MathF.Round(lora.Alpha) ? JsonValue.Create((long)lora.Alpha) : JsonValue.Create((double)lora.Alpha),
            ["lora_dropout"] = 0.0,
            ["megatron_config"] = null,
            ["megatron_core"] = "megatron.core",
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = lora.Rank,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = targets,
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = false,
        };
        var root = new JsonObject();
        foreach (var key in keys.Keys.Order(StringComparer.Ordinal)) root[key] = keys[key];
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The adapter tensors under PEFT's names, in layout order (A before B, module by module).</summary>
    public static List<SafeTensorsWriter.Tensor> Tensors(AdapterLayout layout, ReadOnlySpan<float> adapters)
    {
        if (adapters.Length != layout.TotalLength)
            throw new ArgumentException($"the adapter buffer holds {adapters.Length} floats but the layout needs {layout.TotalLength}");
        var tensors = new List<SafeTensorsWriter.Tensor>();
        foreach (var m in layout.Modules)
        {
            tensors.Add(new(AName(layout.Config, m), [m.Rank, m.In], adapters.Slice((int)m.AOffset, (int)m.ALength).ToArray()));
            tensors.Add(new(BName(layout.Config, m), [m.Out, m.Rank], adapters.Slice((int)m.BOffset, (int)m.BLength).ToArray()));
        }
        return tensors;
    }

    /// <summary>Writes adapter_model.safetensors (F32) and then adapter_config.json, each atomically.</summary>
    public static void Save(string folder, AdapterLayout layout, ReadOnlySpan<float> adapters, string? baseModelPath)
    {
        var tensors = Tensors(layout, adapters);
        string config = ConfigJson(layout, baseModelPath);
        Directory.CreateDirectory(folder);
        AtomicFile.Write(Path.Combine(folder, WeightsFile), s => SafeTensorsWriter.Write(s, tensors, new Dictionary<string, string> { ["format"] = "pt" }));
        AtomicFile.WriteText(Path.Combine(folder, ConfigFile), config);
    }

    /// <summary>
    /// The base model folder of an adapter: the one given, else base_model_name_or_path — a relative path is taken
    /// from the adapter folder first (gta writes "../base"), then from the working directory. A clear error when
    /// neither names a folder here (e.g. a Hub id).
    /// </summary>
    public static string ResolveBase(string adapterDir, string? given)
    {
        if (given is not null)
            return Directory.Exists(given) ? Path.GetFullPath(given) : throw new DirectoryNotFoundException($"--base {given}: folder not found");
        string config = Path.Combine(adapterDir, ConfigFile);
        string named = ReadBaseModelPath(adapterDir)
            ?? throw new ArgumentException($"{config} names no base_model_name_or_path; pass --base BASE_DIR");
        foreach (string candidate in Path.IsPathRooted(named) ? [named] : new[] { Path.Combine(adapterDir, named), named })
            if (Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        throw new DirectoryNotFoundException($"the base model '{named}' ({config}'s base_model_name_or_path) is not a folder here; pass --base BASE_DIR");
    }

    /// <summary>adapter_config.json's base_model_name_or_path (null when absent), read before the base's config is known.</summary>
    public static string? ReadBaseModelPath(string folder)
    {
        var fields = ReadConfigFile(folder);
        return fields.String("base_model_name_or_path");
    }

    /// <summary>
    /// Reads an adapter folder for a model of this config. Refuses, naming the file and the field or tensor, whatever
    /// this trainer does not implement or does not match the model: another peft_type or task, rsLoRA, DoRA, trained
    /// biases, modules_to_save, per-layer selections or patterns, target modules we do not adapt or that differ
    /// between layers, and a tensor missing, extra or of the wrong shape. F32, F16 and BF16 tensors are read.
    /// </summary>
    public static LoadedAdapter Load(string folder, ModelConfig config)
    {
        var f = ReadConfigFile(folder);
        string? type = f.String("peft_type");
        if (type != "LORA") throw f.Refuse("peft_type", $"is {Show(f["peft_type"])}; only LORA adapters are supported");
        string? task = f.String("task_type");
        if (task is not null and not "CAUSAL_LM") throw f.Refuse("task_type", $"is '{task}'; only CAUSAL_LM adapters are supported");
        int rank = f.Int("r") ?? throw f.Refuse("r", "is missing");
        if (rank <= 0) throw f.Refuse("r", $"must be positive, got {rank}");
        double alpha = f.Double("lora_alpha") ?? throw f.Refuse("lora_alpha", "is missing");
        if (!(alpha > 0) || !double.IsFinite(alpha)) throw f.Refuse("lora_alpha", $"must be positive, got {Show(f["lora_alpha"])}");
        foreach (var (flag, what) in new[] { ("use_rslora", "rsLoRA (scale alpha/√r)"), ("use_dora", "DoRA"), ("lora_bias", "a trained bias on lora_B") })
            if (f.Bool(flag) == true) throw f.Refuse(flag, $"is true: {what} is not supported");
        string bias = f.String("bias") ?? "none";
        if (bias != "none") throw f.Refuse("bias", $"is '{bias}'; only \"none\" is supported (trained biases are not)");
        foreach (var (field, what) in new[]
        {
            ("modules_to_save", "further trained modules"), ("layers_to_transform", "a selection of layers"), ("layers_pattern", "a selection of layers"),
            ("exclude_modules", "excluded modules"), ("trainable_token_indices", "trained token embeddings"), ("layer_replication", "replicated layers"),
            ("target_parameters", "adapted parameters"), ("alora_invocation_tokens", "activated LoRA"),
        })
            if (!IsEmpty(f[field])) throw f.Refuse(field, $"is {Show(f[field])}: {what} are not supported");
        foreach (string field in new[] { "rank_pattern", "alpha_pattern" })
            if (!IsEmpty(f[field])) throw f.Refuse(field, $"is {Show(f[field])}: per-module ranks and alphas are not supported");
        if (f["init_lora_weights"] is JsonValue init && init.TryGetValue(out string? scheme) && scheme is not ("gaussian" or "eva" or "orthogonal"))
            throw f.Refuse("init_lora_weights", $"is '{scheme}', which changes the base weights as well; only true, false, \"gaussian\", \"eva\" and \"orthogonal\" adapters apply to an unchanged base");
        var targets = ResolveTargets(config, f);

        var lora = new LoraSettings(rank, (float)alpha, targets);
        var layout = new AdapterLayout(config, lora);
        var values = ReadTensors(folder, layout);
        return new LoadedAdapter(lora, layout, values, f.String("base_model_name_or_path"));
    }

    /// <summary>
    /// The base weights with every adapter merged in, as PEFT's merge (delta_weight = B @ A · scaling, transposed for a
    /// Conv1D's fan_in_fan_out; our weights are (out, in) in every family): each adapted module's rows
    /// [Column, Column + Out) of its fused group receive W[Column + o, i] += scale·Σ_r B[o, r]·A[r, i]. The sum runs in
    /// double; it is added to the float weight once. For small models' host arrays: see <see cref="Merged"/>.
    /// </summary>
    public static float[] Merge(ParameterLayout layout, ReadOnlySpan<float> baseWeights, AdapterLayout adapters, ReadOnlySpan<float> adapterValues)
    {
        CheckMerge(layout, adapters, adapterValues.Length);
        if (baseWeights.Length != layout.TotalLength) throw new ArgumentException($"the base buffer holds {baseWeights.Length} floats but the layout needs {layout.TotalLength}");
        var merged = HostArrays.Allocate<float>(baseWeights.Length, "the merged model (a whole model; merge it tensor by tensor with Merged)");
        baseWeights.CopyTo(merged);
        foreach (var t in layout.Tensors) MergeInto(layout, t, merged.AsSpan((int)t.Offset, (int)t.Length), adapters, adapterValues);
        return merged;
    }

    /// <summary>
    /// The base's tensors with the adapters merged (as <see cref="Merge"/>), one tensor at a time: a 3–4B base is
    /// merged as it is written, with no whole-model array.
    /// </summary>
    public static ParameterSource Merged(ParameterLayout layout, ParameterSource baseWeights, AdapterLayout adapters, float[] adapterValues)
    {
        CheckMerge(layout, adapters, adapterValues.Length);
        return (t, destination) =>
        {
            baseWeights(t, destination);
            MergeInto(layout, t, destination, adapters, adapterValues);
        };
    }

    private static void CheckMerge(ParameterLayout layout, AdapterLayout adapters, long adapterLength)
    {
        if (layout.Config != adapters.Config) throw new ArgumentException("the adapters were laid out for another model config");
        if (adapterLength != adapters.TotalLength) throw new ArgumentException($"the adapter buffer holds {adapterLength} floats but the layout needs {adapters.TotalLength}");
        foreach (var m in adapters.Modules)
        {
            var (_, length) = layout.Group(m.Role, m.Layer) ?? throw new ArgumentException($"{m.Module}: the model has no {m.Role} in layer {m.Layer}");
            if (length != (long)m.GroupWidth * m.In) throw new ArgumentException($"{m.Module}: its group holds {length} floats, not {m.GroupWidth}×{m.In}");
        }
    }

    /// <summary>
    /// Adds to one base tensor (its values in <paramref name="values"/>) the adapters whose module rows fall in it: a
    /// fused group (q|k|v, gate|up) is several tensors back to back, each holding some of the group's rows.
    /// </summary>
    private static void MergeInto(ParameterLayout layout, ParameterTensor tensor, Span<float> values, AdapterLayout adapters, ReadOnlySpan<float> adapterValues)
    {
        double scale = (double)adapters.Lora.Alpha / adapters.Lora.Rank;
        foreach (var m in adapters.Modules)
        {
            if (m.Role != tensor.Role || m.Layer != tensor.Layer) continue;
            var (offset, _) = layout.Group(m.Role, m.Layer)!.Value;
            if (tensor.Shape.Length != 2 || tensor.Shape[1] != m.In || (tensor.Offset - offset) % m.In != 0)
                throw new ArgumentException($"{m.Module}: {tensor.Name} [{string.Join(", ", tensor.Shape)}] is not a block of rows of {m.In} in its group");
            // The tensor's first row within the group, and the module's rows [Column, Column + Out) that it holds.
            long first = (tensor.Offset - offset) / m.In;
            long from = Math.Max(first, m.Column), to = Math.Min(first + tensor.Length / m.In, (long)m.Column + m.Out);
            var a = adapterValues.Slice((int)m.AOffset, (int)m.ALength);
            var b = adapterValues.Slice((int)m.BOffset, (int)m.BLength);
            int r = m.Rank;
            for (long g = from; g < to; g++)
            {
                int o = (int)(g - m.Column);
                var row = values.Slice((int)((g - first) * m.In), m.In);
                var bRow = b.Slice(o * r, r);
                for (int i = 0; i < m.In; i++)
                {
                    double sum = 0;
                    for (int k = 0; k < r; k++) sum += (double)bRow[k] * a[k * m.In + i];
                    row[i] += (float)(scale * sum);
                }
            }
        }
    }

    // ---- target_modules ----

    /// <summary>
    /// The short targets (q … down, or GPT-2's qkv, o, up, down) that target_modules selects, by PEFT's rule
    /// (check_target_module_exists): a list matches a module whose name equals an entry or ends with "." + entry; a
    /// string is a regular expression matched against the whole name, or "all-linear" (every Linear/Conv1D but the
    /// output head). Every module the names reach must be one we adapt, and every layer must adapt the same ones.
    /// </summary>
    private static IReadOnlyList<string> ResolveTargets(ModelConfig config, ConfigFields f)
    {
        var node = f["target_modules"];
        var all = new AdapterLayout(config, new LoraSettings(1, 1, config.IsGpt2 ? LoraSettings.Gpt2Targets : LoraSettings.LlamaTargets));
        var ours = all.Modules.Select(m => (Name: ModuleName(config, m), m.Target, m.Layer)).ToList();
        var others = OtherModules(config);
        Func<string, bool> matches;
        switch (node)
        {
            case null:
                throw f.Refuse("target_modules", "is missing (PEFT fills it from the model type only when creating an adapter)");
            case JsonValue v when v.TryGetValue(out string? pattern):
                if (string.Equals(pattern, "all-linear", StringComparison.OrdinalIgnoreCase))
                {
                    matches = name => ours.Any(o => o.Name == name);
                    break;
                }
                Regex regex;
                try { regex = new Regex($"^(?:{pattern})\\z", RegexOptions.CultureInvariant); }
                catch (ArgumentException e) { throw f.Refuse("target_modules", $"'{pattern}' is not a regular expression we can read ({e.Message})"); }
                matches = name => regex.IsMatch(name);
                if (others.FirstOrDefault(matches) is { } hit)
                    throw f.Refuse("target_modules", $"'{pattern}' matches {hit}, which gta does not adapt (only the attention and MLP projections)");
                break;
            case JsonArray list:
                var entries = new List<string>();
                foreach (var item in list)
                {
                    if (item is not JsonValue iv || !iv.TryGetValue(out string? entry) || entry.Length == 0)
                        throw f.Refuse("target_modules", $"entries must be module names, got {Show(item)}");
                    bool Hits(string name) => name == entry || name.EndsWith("." + entry, StringComparison.Ordinal);
                    if (others.FirstOrDefault(Hits) is { } other)
                        throw f.Refuse("target_modules", $"'{entry}' matches {other}, which gta does not adapt (only the attention and MLP projections)");
                    if (!ours.Any(o => Hits(o.Name)))
                        throw f.Refuse("target_modules", $"'{entry}' names no module of this {config.ModelType} model (expected {string.Join(", ", ExampleNames(config))})");
                    entries.Add(entry);
                }
                matches = name => entries.Any(e => name == e || name.EndsWith("." + e, StringComparison.Ordinal));
                break;
            default:
                throw f.Refuse("target_modules", $"must be a list of module names or a regular expression, got {Show(node)}");
        }

        var byLayer = ours.Where(o => matches(o.Name)).GroupBy(o => o.Layer).ToDictionary(g => g.Key, g => g.Select(o => o.Target).ToArray());
        if (byLayer.Count == 0)
            throw f.Refuse("target_modules", $"{Show(node)} matches none of the model's projections ({string.Join(", ", ExampleNames(config))})");
        string Describe(int layer) => byLayer.TryGetValue(layer, out var t) ? string.Join(",", t) : "none";
        for (int l = 0; l < config.Layers; l++)
            if (Describe(l) != Describe(0))
                throw f.Refuse("target_modules", $"{Show(node)} adapts different modules in different layers (layer 0: {Describe(0)}; layer {l}: {Describe(l)}); every layer must adapt the same ones");
        return byLayer[0];
    }

    private static string[] ExampleNames(ModelConfig config) => config.IsGpt2
        ? ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"]
        : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>The causal LM's other named modules (transformers' modeling files), which LoRA here must not reach.</summary>
    private static List<string> OtherModules(ModelConfig config)
    {
        var names = new List<string>();
        if (config.IsGpt2)
        {
            names.AddRange(["transformer", "transformer.wte", "transformer.wpe", "transformer.drop", "transformer.h", "transformer.ln_f", "lm_head"]);
            for (int l = 0; l < config.Layers; l++)
            {
                string p = $"transformer.h.{l}";
                names.AddRange([p, p + ".ln_1", p + ".attn", p + ".attn.attn_dropout", p + ".attn.resid_dropout", p + ".ln_2", p + ".mlp", p + ".mlp.act", p + ".mlp.dropout"]);
            }
            return names;
        }
        names.AddRange(["model", "model.embed_tokens", "model.layers", "model.norm", "model.rotary_emb", "lm_head"]);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"model.layers.{l}";
            names.AddRange([p, p + ".self_attn", p + ".mlp", p + ".mlp.act_fn", p + ".input_layernorm", p + ".post_attention_layernorm"]);
            if (config.QkNorm) names.AddRange([p + ".self_attn.q_norm", p + ".self_attn.k_norm"]);
        }
        return names;
    }

    // ---- tensors ----

    private static float[] ReadTensors(string folder, AdapterLayout layout)
    {
        string path = Path.Combine(folder, WeightsFile);
        if (!File.Exists(path))
            throw new FileNotFoundException(File.Exists(Path.Combine(folder, PickleWeightsFile))
                ? $"{folder}: only {PickleWeightsFile} (a pickle) is there; gta reads {WeightsFile} (save with safe_serialization=True)"
                : $"{folder}: no {WeightsFile}", path);
        using var reader = SafeTensorsReader.Open(path);
        var values = new float[layout.TotalLength];
        var expected = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var m in layout.Modules)
        {
            foreach (var (name, shape, offset) in new[] { (AName(layout.Config, m), new long[] { m.Rank, m.In }, m.AOffset), (BName(layout.Config, m), new long[] { m.Out, m.Rank }, m.BOffset) })
            {
                expected.Add(name);
                if (!reader.Contains(name))
                {
                    missing.Add(name);
                    continue;
                }
                var entry = reader[name];
                if (!entry.Shape.SequenceEqual(shape))
                    throw new InvalidDataException($"{path}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], expected [{string.Join(", ", shape)}] (r = {m.Rank})");
                reader.ReadFloat32(name).CopyTo(values.AsSpan((int)offset));
            }
        }
        var extra = reader.Names.Where(n => !expected.Contains(n)).Order(StringComparer.Ordinal).ToList();
        if (extra.FirstOrDefault(n => n.Contains(".lora_A.default.", StringComparison.Ordinal) || n.Contains(".lora_B.default.", StringComparison.Ordinal)) is { } named)
            throw new InvalidDataException($"{path}: tensor '{named}' carries the adapter name 'default'; PEFT's save_pretrained never writes it (get_peft_model_state_dict removes it), expected '{named.Replace(".default.", ".", StringComparison.Ordinal)}'");
        if (missing.Count > 0)
            throw new InvalidDataException($"{path}: missing {missing.Count} tensor(s): {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", …" : "")}");
        if (extra.Count > 0)
            throw new InvalidDataException($"{path}: {extra.Count} unexpected tensor(s) for target_modules {string.Join(",", layout.ResolvedTargets)}: {string.Join(", ", extra.Take(5))}{(extra.Count > 5 ? ", …" : "")}");
        return values;
    }

    // ---- adapter_config.json ----

    private static ConfigFields ReadConfigFile(string folder)
    {
        string path = Path.Combine(folder, ConfigFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"{folder}: no {ConfigFile} (not a PEFT adapter folder)", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        return new ConfigFields(path, root as JsonObject ?? throw new InvalidDataException($"{path}: expected a JSON object"));
    }

    private static bool IsEmpty(JsonNode? node) => node switch
    {
        null => true,
        JsonArray a => a.Count == 0,
        JsonObject o => o.Count == 0,
        JsonValue v when v.TryGetValue(out string? s) => s.Length == 0,
        _ => false,
    };

    private static string Show(JsonNode? node) => node?.ToJsonString() ?? "null";

    /// <summary>Typed reads of adapter_config.json, with errors that name the file and the field.</summary>
    private sealed class ConfigFields(string path, JsonObject json)
    {
        public JsonNode? this[string key] => json[key];

        public InvalidDataException Refuse(string key, string message) => new($"{path}: {key} {message}");

        public string? String(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out string? s) => s,
            var other => throw Refuse(key, $"must be a string, got {Show(other)}"),
        };

        public int? Int(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out int i) => i,
            JsonValue v when v.TryGetValue(out double d) && d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue => (int)d,
            var other => throw Refuse(key, $"must be an integer, got {Show(other)}"),
        };

        public double? Double(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out double d) => d,
            var other => throw Refuse(key, $"must be a number, got {Show(other)}"),
        };

        public bool? Bool(string key) => json[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue(out bool b) => b,
            var other => throw Refuse(key, $"must be true or false, got {Show(other)}"),
        };
    }
}
