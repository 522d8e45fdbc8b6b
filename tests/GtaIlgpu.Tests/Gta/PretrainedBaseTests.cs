using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;
using GtaIlgpu.Tests.Checkpoints;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Gta;

/// <summary>A Hugging Face GPT-2 gets the GTA tags as new single tokens: the embedding grows, the old rows stay.</summary>
public sealed class PretrainedBaseTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-hf-base-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    /// <summary>A random GPT-2 folder over the hand-made 260-token byte-level vocabulary (end-of-text is id 259).</summary>
    internal static HuggingFaceFolder WriteTinyGpt2(string folder, int positions = 256)
    {
        var hf = new HuggingFaceFolder { Layers = 1, Channels = 16, Heads = 2, Vocab = 260, Positions = positions };
        hf.Build(11);
        hf.Write(folder);
        var (vocab, merges) = Gpt2BpeTokenizerTests.SmallVocabulary();
        Gpt2BpeTokenizerTests.WriteFolder(folder, vocab, merges);
        return hf;
    }

    [Fact]
    public void The_tags_become_single_new_ids_and_every_original_row_and_tensor_is_kept()
    {
        var hf = WriteTinyGpt2(_folder);
        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        var (grown, tokenizer) = PretrainedBase.AddTags(loaded.Model, (Gpt2BpeTokenizer)loaded.Tokenizer!);
        using (grown)
        {
            Assert.Equal(266, grown.Config.VocabSize);
            Assert.Equal(266, tokenizer.VocabularySize);
            Assert.Equal(259, tokenizer.EndOfTextId); // GPT-2's own end-of-text is kept, not added again
            for (int i = 0; i < 6; i++)
            {
                string tag = PromptFormat.Tags[i];
                Assert.True(tokenizer.TryGetSpecialId(tag, out int id));
                Assert.Equal(260 + i, id);
                Assert.Equal([260 + i], tokenizer.Encode(tag));
            }

            // Rows 0..259 are the file's, bit for bit; each new row is the mean of those rows.
            var wte = _backend.ToArray(grown.W.Wte);
            var original = hf.Tensors["wte.weight"].Values;
            Assert.Equal(original, wte[..original.Length]);
            for (int c = 0; c < 16; c++)
            {
                double mean = Enumerable.Range(0, 260).Average(row => (double)original[row * 16 + c]);
                for (int row = 260; row < 266; row++) Assert.Equal(mean, wte[row * 16 + c], 6);
            }
            // Every other tensor is unchanged.
            var before = _backend.ToArray(loaded.Model.Parameters.View);
            var after = _backend.ToArray(grown.Parameters.View);
            foreach (var t in loaded.Model.Layout.Tensors.Where(t => t.Name != "wte.weight"))
                Assert.Equal(before.AsSpan((int)t.Offset, (int)t.Length).ToArray(), after.AsSpan((int)grown.Layout[t.Name].Offset, (int)t.Length).ToArray());

            // The prompt format runs over the extended GPT-2 tokenizer.
            var format = new PromptFormat(tokenizer, "mood", ["positive", "negative"]);
            var ids = format.Completion(CompletionTemplate.GuessThinkAnswer, "positive", " it says the ");
            Assert.Equal(6, ids.Count(id => id >= 260));
            Assert.Equal(259, ids[^1]);
            Assert.Equal("<guess>positive</guess><think> it says the </think><answer>positive</answer>", format.DecodeCompletion(ids));
        }
    }
}
