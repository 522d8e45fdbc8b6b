namespace GtaIlgpu.Text;

/// <summary>
/// Text ↔ token ids for a model: our <see cref="CompactVocabulary"/> for models trained from scratch,
/// or <see cref="Gpt2BpeTokenizer"/> for a Hugging Face GPT-2 folder.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Number of ids the tokenizer can produce (at most the model's vocab_size).</summary>
    int VocabularySize { get; }

    /// <summary>The end-of-text id, or −1 when the vocabulary has none.</summary>
    int EndOfTextId { get; }

    int[] Encode(string text);

    string Decode(IEnumerable<int> ids);

    /// <summary>
    /// The UTF-8 bytes the token stands for (a special token's text in UTF-8). A byte-level BPE piece may
    /// be part of one character, so these bytes need not be valid UTF-8 on their own; the bytes of a token
    /// sequence, concatenated, are the UTF-8 of its decoded text. The prompt format locates tags and spans
    /// by these byte offsets, whatever the tokenization.
    /// </summary>
    byte[] TokenBytes(int id);

    /// <summary>
    /// The id of a string that is one special token of its own (end-of-text, the GTA tags), never split
    /// by BPE. The prompt format needs its tags as such tokens.
    /// </summary>
    bool TryGetSpecialId(string token, out int id);

    /// <summary>Writes the tokenizer's files into a model folder, so the folder loads with the same tokenizer.</summary>
    void Save(string folder);
}
