using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>
/// The shared base from a downloaded Hugging Face GPT-2 folder instead of a model built from scratch
/// (DESIGN §4): the six tags (and end-of-text, where the vocabulary lacks it) become new single tokens
/// after GPT-2's vocabulary, the token embedding grows by their rows, and the format is primed on
/// random labels exactly as for a base built from scratch. Language-model pretraining is skipped: the
/// downloaded weights already model the language. The window is the folder's n_positions.
/// </summary>
public static class PretrainedBase
{
    /// <summary>A Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt) that is not a saved base.</summary>
    public static bool IsHuggingFaceFolder(string folder) =>
        File.Exists(Path.Combine(folder, ModelCheckpoint.ConfigFile)) && File.Exists(Path.Combine(folder, ModelCheckpoint.ModelFile))
        && Gpt2BpeTokenizer.IsPresentIn(folder) && !BaseCheckpoint.IsBase(folder);

    /// <summary>
    /// A copy of the model whose vocabulary also holds the tags (and end-of-text), with the tokenizer that
    /// numbers them; the input model is left as it was.
    /// </summary>
    public static (Transformer Model, Gpt2BpeTokenizer Tokenizer) AddTags(Transformer model, Gpt2BpeTokenizer tokenizer)
    {
        var extended = tokenizer.WithAddedTokens([.. PromptFormat.Tags, Gpt2BpeTokenizer.EndOfText], model.Config.VocabSize);
        int newRows = Math.Max(0, extended.VocabularySize - model.Config.VocabSize);
        return (VocabularyGrowth.Grow(model, newRows), extended);
    }

    public static (Transformer Model, PromptFormat Format) Build(string folder, IBackend backend, DatasetSplits data, BaseSettings settings,
        string taskName, Action<string, int, int>? progress = null)
    {
        var labels = data.Labels;
        if (labels.Count < 2) throw new ArgumentException($"dataset '{data.Name}' has {labels.Count} label(s) in its training split; classification needs at least 2");
        using var loaded = ModelCheckpoint.Load(folder, backend);
        if (loaded.Tokenizer is not Gpt2BpeTokenizer bpe)
            throw new InvalidDataException($"{folder}: a Hugging Face GPT-2 folder needs its tokenizer as {Gpt2BpeTokenizer.VocabFile} and {Gpt2BpeTokenizer.MergesFile}");
        var (model, tokenizer) = AddTags(loaded.Model, bpe);
        try
        {
            var format = new PromptFormat(tokenizer, taskName, labels);
            BaseModelBuilder.Prime(model, format, data, settings with { MaxSequence = model.Config.MaxSequence }, progress);
            return (model, format);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
