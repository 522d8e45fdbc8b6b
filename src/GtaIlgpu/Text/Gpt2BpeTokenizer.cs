using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using GtaIlgpu.Common;
using Microsoft.ML.Tokenizers;

namespace GtaIlgpu.Text;

/// <summary>
/// The tokenizer of a Hugging Face GPT-2 folder: byte-level BPE from vocab.json and merges.txt, run by
/// Microsoft.ML.Tokenizers' BPE with GPT-2's pre-tokenizer regex, no prefix space and no added begin or
/// end tokens. (Its CodeGen tokenizer is not used: it adds CodeGen's whitespace-run tokens, ids past
/// GPT-2's vocabulary.) "&lt;|endoftext|&gt;" in the text is the special token, as in Hugging Face.
/// </summary>
public sealed partial class Gpt2BpeTokenizer : ITextTokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string EndOfText = "<|endoftext|>";

    /// <summary>GPT-2's pre-tokenizer: contractions, letter runs, digit runs, other symbols, each with an optional leading space; then whitespace.</summary>
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex Gpt2Split();

    private readonly BpeTokenizer _tokenizer;
    private readonly byte[] _vocabBytes;
    private readonly byte[] _mergesBytes;

    private Gpt2BpeTokenizer(BpeTokenizer tokenizer, int vocabularySize, int endOfTextId, byte[] vocabBytes, byte[] mergesBytes)
    {
        _tokenizer = tokenizer;
        VocabularySize = vocabularySize;
        EndOfTextId = endOfTextId;
        _vocabBytes = vocabBytes;
        _mergesBytes = mergesBytes;
    }

    public int VocabularySize { get; }
    public int EndOfTextId { get; }

    public static bool IsPresentIn(string folder) =>
        File.Exists(Path.Combine(folder, VocabFile)) && File.Exists(Path.Combine(folder, MergesFile));

    public static Gpt2BpeTokenizer Load(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabFile), mergesPath = Path.Combine(folder, MergesFile);
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"GPT-2 vocabulary not found: {vocabPath}", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"GPT-2 merges not found: {mergesPath}", mergesPath);
        byte[] vocabBytes = File.ReadAllBytes(vocabPath), mergesBytes = File.ReadAllBytes(mergesPath);
        Dictionary<string, int>? vocab;
        try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(vocabBytes); }
        catch (JsonException e) { throw new InvalidDataException($"{vocabPath}: not a JSON map of token → id ({e.Message})"); }
        if (vocab is null || vocab.Count == 0) throw new InvalidDataException($"{vocabPath}: the vocabulary is empty");
        if (vocab.Values.Any(id => id < 0)) throw new InvalidDataException($"{vocabPath}: token ids must be non-negative");

        var merges = new List<string>();
        int lineNumber = 0;
        foreach (var line in Encoding.UTF8.GetString(mergesBytes).Split('\n'))
        {
            lineNumber++;
            string merge = line.TrimEnd('\r');
            if (merge.Length == 0 || (lineNumber == 1 && merge.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = merge.Split(' ');
            if (parts.Length != 2 || !vocab.ContainsKey(parts[0]) || !vocab.ContainsKey(parts[1]) || !vocab.ContainsKey(parts[0] + parts[1]))
                throw new InvalidDataException($"{mergesPath}:{lineNumber}: '{merge}' is not a merge of two vocabulary tokens into a third");
            merges.Add(merge);
        }

        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        int endOfText = vocab.TryGetValue(EndOfText, out int eot) ? eot : -1;
        if (endOfText >= 0) specials[EndOfText] = endOfText;
        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(Gpt2Split(), specials),
            SpecialTokens = specials,
        };
        return new Gpt2BpeTokenizer(BpeTokenizer.Create(options), vocab.Values.Max() + 1, endOfText, vocabBytes, mergesBytes);
    }

    public int[] Encode(string text) => _tokenizer.EncodeToIds(text).ToArray();

    public string Decode(IEnumerable<int> ids)
    {
        var list = ids.ToList();
        foreach (int id in list)
            if (id < 0 || id >= VocabularySize) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary of {VocabularySize}");
        return _tokenizer.Decode(list);
    }

    public void Save(string folder)
    {
        AtomicFile.Write(Path.Combine(folder, VocabFile), s => s.Write(_vocabBytes));
        AtomicFile.Write(Path.Combine(folder, MergesFile), s => s.Write(_mergesBytes));
    }
}
