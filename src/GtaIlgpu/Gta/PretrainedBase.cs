using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>
/// The shared base from a downloaded Hugging Face folder instead of a model built from scratch (DESIGN §4).
/// GPT-2: the six tags (and end-of-text, where the vocabulary lacks it) become new single tokens after
/// GPT-2's vocabulary, the token embedding grows by their rows; the window is the folder's n_positions.
/// Llama family (Llama 3, Qwen2/2.5, Qwen3): nothing is added — the tags are ordinary text its own
/// tokenizer spells (<see cref="TagMode.Text"/>), an instruct model is prompted through its chat template
/// (--chat), a completion ends at the template's end of turn (else the tokenizer's eos); the window is
/// the one the prompts need (<see cref="BaseModelBuilder.Window"/>), not max_position_embeddings.
/// Either way the format is primed on random labels exactly as for a base built from scratch (an instruct
/// model may skip it: --base-prime-steps 0). Language-model pretraining is skipped: the downloaded
/// weights already model the language.
/// </summary>
public static class PretrainedBase
{
    /// <summary>A Hugging Face folder (config.json, weights, a tokenizer's files) that is not a saved base; nothing is parsed yet.</summary>
    public static bool IsHuggingFaceFolder(string folder) =>
        File.Exists(Path.Combine(folder, ModelCheckpoint.ConfigFile)) && HuggingFaceWeights.ExistIn(folder)
        && !BaseCheckpoint.IsBase(folder) && ModelCheckpoint.HasTokenizerFiles(folder);

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
        if (!ModelCheckpoint.ReadConfig(Path.Combine(folder, ModelCheckpoint.ConfigFile)).IsGpt2)
            return BuildWithTextTags(folder, backend, data, settings, taskName, progress);
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

    /// <summary>A Llama-family folder: its tokenizer and weights as they are, the tags as text, its chat template per settings.Chat.</summary>
    private static (Transformer Model, PromptFormat Format) BuildWithTextTags(string folder, IBackend backend, DatasetSplits data, BaseSettings settings,
        string taskName, Action<string, int, int>? progress)
    {
        var tokenizer = ModelCheckpoint.LoadTokenizer(folder)
            ?? throw new InvalidDataException($"{folder}: no tokenizer (tokenizer.json, vocab.json + merges.txt, or original/tokenizer.model)");
        var chat = ChatTemplate.Resolve(settings.Chat, folder);
        PromptFormat format;
        // A plain prompt starts with the bos a Llama 3 tokenizer adds to every encoding (Qwen has none).
        string? begin = chat is null && tokenizer is ByteLevelBpeTokenizer { BeginOfTextId: >= 0 } bpe
            ? System.Text.Encoding.UTF8.GetString(bpe.TokenBytes(bpe.BeginOfTextId)) : null;
        try { format = new PromptFormat(tokenizer, taskName, data.Labels, new PromptOptions(TagMode.Text, Chat: chat, Begin: begin)); }
        catch (ArgumentException e) { throw new InvalidDataException($"{folder}: {e.Message}"); }
        int window = BaseModelBuilder.Window(settings.MaxSequence, format, settings.MaxCompletionTokens);
        var loaded = ModelCheckpoint.Load(folder, backend, window, tokenizer);
        try
        {
            BaseModelBuilder.Prime(loaded.Model, format, data, settings with { MaxSequence = loaded.Model.Config.MaxSequence }, progress);
            return (loaded.Model, format);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }
}
