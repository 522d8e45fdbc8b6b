using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using GtaIlgpu.Common;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>
/// Builds a Hugging Face GPT-2 style folder the way transformers lays it out, independently of our
/// writer: config.json, and model.safetensors with GPT-2's names and Conv1D weights stored (in, out),
/// in F32, F16 or BF16. Values are random and already rounded to the dtype, so they load exactly.
/// </summary>
internal sealed class HuggingFaceFolder
{
    public required int Layers, Channels, Heads, Vocab, Positions;
    public string DType = "F32";
    public string Prefix = "";
    public bool WithMaskBuffers = true;
    public bool WithLmHead = true;

    /// <summary>The tensors as written, by name without the prefix, with their (HF) shapes.</summary>
    public readonly Dictionary<string, (int[] Shape, float[] Values)> Tensors = [];

    public void Build(ulong seed)
    {
        var rng = new Rng(seed);
        int C = Channels;
        void Add(string name, int[] shape, float scale, float offset = 0)
        {
            var values = new float[shape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = Round(offset + scale * (float)rng.NextNormal());
            Tensors[name] = (shape, values);
        }
        Add("wte.weight", [Vocab, C], 0.5f);
        Add("wpe.weight", [Positions, C], 0.3f);
        for (int l = 0; l < Layers; l++)
        {
            string p = $"h.{l}.";
            Add(p + "ln_1.weight", [C], 0.2f, 1f);
            Add(p + "ln_1.bias", [C], 0.1f);
            Add(p + "attn.c_attn.weight", [C, 3 * C], 0.3f);
            Add(p + "attn.c_attn.bias", [3 * C], 0.1f);
            Add(p + "attn.c_proj.weight", [C, C], 0.3f);
            Add(p + "attn.c_proj.bias", [C], 0.1f);
            Add(p + "ln_2.weight", [C], 0.2f, 1f);
            Add(p + "ln_2.bias", [C], 0.1f);
            Add(p + "mlp.c_fc.weight", [C, 4 * C], 0.3f);
            Add(p + "mlp.c_fc.bias", [4 * C], 0.1f);
            Add(p + "mlp.c_proj.weight", [4 * C, C], 0.2f);
            Add(p + "mlp.c_proj.bias", [C], 0.1f);
        }
        Add("ln_f.weight", [C], 0.2f, 1f);
        Add("ln_f.bias", [C], 0.1f);
    }

    private float Round(float v) => SafeTensorsDTypes.Round(DType, v);

    private byte[] Encode(float[] values) => SafeTensorsDTypes.Encode(DType, values);

    /// <summary>Writes config.json and model.safetensors (plus optional extra tensors) into the folder.</summary>
    public void Write(string folder, IEnumerable<(string Name, int[] Shape, float[] Values)>? extra = null, string? config = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config ??
            $"{{\"model_type\":\"gpt2\",\"n_layer\":{Layers},\"n_embd\":{Channels},\"n_head\":{Heads},\"vocab_size\":{Vocab},\"n_positions\":{Positions},\"n_ctx\":{Positions},\"activation_function\":\"gelu_new\",\"layer_norm_epsilon\":1e-05}}");
        var all = Tensors.Select(t => (Name: Prefix + t.Key, t.Value.Shape, t.Value.Values)).ToList();
        if (WithMaskBuffers)
            for (int l = 0; l < Layers; l++)
                all.Add(($"{Prefix}h.{l}.attn.bias", [1, 1, Positions, Positions], new float[Positions * Positions]));
        if (WithLmHead) all.Add(("lm_head.weight", Tensors["wte.weight"].Shape, Tensors["wte.weight"].Values));
        if (extra is not null) all.AddRange(extra);

        // Hugging Face sorts tensors by name in the file; so do we, so offsets differ from layout order.
        all.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        var data = new MemoryStream();
        foreach (var (name, shape, values) in all)
        {
            long begin = data.Length;
            data.Write(Encode(values));
            header.Append(CultureInfo.InvariantCulture, $",\"{name}\":{{\"dtype\":\"{DType}\",\"shape\":[{string.Join(",", shape)}],\"data_offsets\":[{begin},{data.Length}]}}");
        }
        header.Append('}');
        var json = Encoding.UTF8.GetBytes(header.ToString());
        using var file = File.Create(Path.Combine(folder, "model.safetensors"));
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)json.Length);
        file.Write(length);
        file.Write(json);
        data.Position = 0;
        data.CopyTo(file);
    }
}
