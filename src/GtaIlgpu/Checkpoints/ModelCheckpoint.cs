using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Saves a model as a folder in the Hugging Face GPT-2 layout: config.json with GPT-2's keys,
/// model.safetensors with GPT-2's tensor names, and our compact vocabulary. GPT-2 stores its
/// attention and MLP weights as Conv1D, i.e. (in, out), the transpose of our (out, in): those are
/// transposed on the way out. Every file is written atomically.
/// </summary>
public static class ModelCheckpoint
{
    public const string VocabularyFile = "vocab.gta.json";

    public static bool IsConv1D(string name) =>
        name.EndsWith(".attn.c_attn.weight", StringComparison.Ordinal) || name.EndsWith(".attn.c_proj.weight", StringComparison.Ordinal) ||
        name.EndsWith(".mlp.c_fc.weight", StringComparison.Ordinal) || name.EndsWith(".mlp.c_proj.weight", StringComparison.Ordinal);

    public static void Save(string folder, Gpt model, CompactVocabulary? vocabulary, IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(folder);
        var all = model.Backend.ToArray(model.Parameters.View);
        var tensors = new List<SafeTensorsWriter.Tensor>();
        foreach (var t in model.Layout.Tensors)
        {
            var data = all.AsSpan((int)t.Offset, (int)t.Length).ToArray();
            int[] shape = t.Shape;
            if (IsConv1D(t.Name))
            {
                int rows = t.Shape[0], cols = t.Shape[1];
                var transposed = new float[data.Length];
                for (int r = 0; r < rows; r++)
                    for (int k = 0; k < cols; k++) transposed[k * rows + r] = data[r * cols + k];
                data = transposed;
                shape = [cols, rows];
            }
            tensors.Add(new SafeTensorsWriter.Tensor(t.Name, shape, data));
        }
        AtomicFile.Write(Path.Combine(folder, "model.safetensors"), s => SafeTensorsWriter.Write(s, tensors, metadata));

        var c = model.Config;
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
            ["gta_vocabulary"] = vocabulary is null ? null : VocabularyFile,
        };
        AtomicFile.WriteText(Path.Combine(folder, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (vocabulary is not null) AtomicFile.WriteText(Path.Combine(folder, VocabularyFile), vocabulary.ToJson());
    }
}
