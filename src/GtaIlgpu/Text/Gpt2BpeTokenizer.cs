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
/// Added tokens (Hugging Face's added_tokens.json, e.g. the GTA tags appended after GPT-2's 50,257 ids)
/// are single ids that the text is split at before BPE.
/// </summary>
public sealed partial class Gpt2BpeTokenizer : ITextTokenizer
{
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";
    public const string AddedTokensFile = "added_tokens.json";
    public const string EndOfText = "<|endoftext|>";

    /// <summary>GPT-2's pre-tokenizer: contractions, letter runs, digit runs, other symbols, each with an optional leading space; then whitespace.</summary>
    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex Gpt2Split();

    private readonly BpeTokenizer _tokenizer;
    private readonly int _bpeSize;
    private readonly int _bpeEndOfTextId;
    private readonly byte[] _vocabBytes;
    private readonly byte[] _mergesBytes;
    private readonly Dictionary<string, int> _added;
    private readonly Dictionary<int, string> _addedById;

    private Gpt2BpeTokenizer(BpeTokenizer tokenizer, int bpeSize, int bpeEndOfTextId, byte[] vocabBytes, byte[] mergesBytes, Dictionary<string, int> added)
    {
        _tokenizer = tokenizer;
        _bpeSize = bpeSize;
        _bpeEndOfTextId = bpeEndOfTextId;
        _vocabBytes = vocabBytes;
        _mergesBytes = mergesBytes;
        _added = added;
        _addedById = added.ToDictionary(a => a.Value, a => a.Key);
        VocabularySize = added.Count == 0 ? bpeSize : Math.Max(bpeSize, added.Values.Max() + 1);
        EndOfTextId = bpeEndOfTextId >= 0 ? bpeEndOfTextId : added.GetValueOrDefault(EndOfText, -1);
    }

    public int VocabularySize { get; }
    public int EndOfTextId { get; }

    /// <summary>Tokens added after the BPE vocabulary, by string.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _added;

    public static bool IsPresentIn(string folder) =>
        File.Exists(Path.Combine(folder, VocabFile)) && File.Exists(Path.Combine(folder, MergesFile));

    public static Gpt2BpeTokenizer Load(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabFile), mergesPath = Path.Combine(folder, MergesFile);
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"GPT-2 vocabulary not found: {vocabPath}", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"GPT-2 merges not found: {mergesPath}", mergesPath);
        byte[] vocabBytes = File.ReadAllBytes(vocabPath), mergesBytes = File.ReadAllBytes(mergesPath);
        var vocab = ByteLevel.ReadVocabularyJson(vocabBytes, vocabPath);

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
        int bpeSize = vocab.Values.Max() + 1;
        var added = LoadAddedTokens(Path.Combine(folder, AddedTokensFile), bpeSize);
        return new Gpt2BpeTokenizer(BpeTokenizer.Create(options), bpeSize, endOfText, vocabBytes, mergesBytes, added);
    }

    /// <summary>added_tokens.json when present: token → id, each id past the BPE vocabulary and used once.</summary>
    private static Dictionary<string, int> LoadAddedTokens(string path, int bpeSize)
    {
        if (!File.Exists(path)) return new Dictionary<string, int>(StringComparer.Ordinal);
        Dictionary<string, int>? added;
        try { added = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a JSON map of token → id ({e.Message})"); }
        if (added is null) throw new InvalidDataException($"{path}: expected a JSON map of token → id");
        foreach (var (token, id) in added)
        {
            if (token.Length == 0) throw new InvalidDataException($"{path}: an added token is empty");
            if (id < bpeSize) throw new InvalidDataException($"{path}: '{token}' has id {id}, inside the BPE vocabulary of {bpeSize} ids");
        }
        if (added.Values.Distinct().Count() != added.Count) throw new InvalidDataException($"{path}: two added tokens share an id");
        return new Dictionary<string, int>(added, StringComparer.Ordinal);
    }

    /// <summary>
    /// This tokenizer with the given strings as single tokens, numbered from <paramref name="firstId"/> in
    /// order (strings that are already special tokens keep their id). The model's embedding must grow to match.
    /// </summary>
    public Gpt2BpeTokenizer WithAddedTokens(IEnumerable<string> tokens, int firstId)
    {
        if (firstId < VocabularySize) throw new ArgumentOutOfRangeException(nameof(firstId), $"added tokens start at id {firstId}, inside the vocabulary of {VocabularySize}");
        var added = new Dictionary<string, int>(_added, StringComparer.Ordinal);
        int next = firstId;
        foreach (var token in tokens)
        {
            if (string.IsNullOrEmpty(token)) throw new ArgumentException("an added token is empty");
            if (!TryGetSpecialId(token, out _) && !added.ContainsKey(token)) added[token] = next++;
        }
        return new Gpt2BpeTokenizer(_tokenizer, _bpeSize, _bpeEndOfTextId, _vocabBytes, _mergesBytes, added);
    }

    public bool TryGetSpecialId(string token, out int id)
    {
        if (token == EndOfText && EndOfTextId >= 0) { id = EndOfTextId; return true; }
        return _added.TryGetValue(token, out id);
    }

    public int[] Encode(string text) => _added.Count == 0
        ? _tokenizer.EncodeToIds(text).ToArray()
        : SpecialTokenSplitter.Encode(text, _added.Keys, token => _added[token], plain => _tokenizer.EncodeToIds(plain));

    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabularySize) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary of {VocabularySize}");
            if (!_addedById.TryGetValue(id, out var added)) { run.Add(id); continue; }
            if (run.Count > 0) { text.Append(_tokenizer.Decode(run)); run.Clear(); }
            text.Append(added);
        }
        if (run.Count > 0) text.Append(_tokenizer.Decode(run));
        return text.ToString();
    }

    private Dictionary<int, string>? _tokenOfId;

    /// <summary>The UTF-8 bytes a token stands for: a vocabulary token mapped back through GPT-2's byte alphabet, or an added token's text.</summary>
    public byte[] TokenBytes(int id)
    {
        if (_addedById.TryGetValue(id, out var added)) return Encoding.UTF8.GetBytes(added);
        _tokenOfId ??= JsonSerializer.Deserialize<Dictionary<string, int>>(_vocabBytes)!.ToDictionary(t => t.Value, t => t.Key);
        if (!_tokenOfId.TryGetValue(id, out var token)) throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is not in the vocabulary of {VocabularySize}");
        return ByteLevel.TryToBytes(token) ?? Encoding.UTF8.GetBytes(token);
    }

    public void Save(string folder)
    {
        AtomicFile.Write(Path.Combine(folder, VocabFile), s => s.Write(_vocabBytes));
        AtomicFile.Write(Path.Combine(folder, MergesFile), s => s.Write(_mergesBytes));
        if (_added.Count > 0)
        {
            // Ordered by id, so the same tokenizer always writes the same bytes.
            var ordered = new System.Text.Json.Nodes.JsonObject();
            foreach (var (token, id) in _added.OrderBy(a => a.Value)) ordered[token] = id;
            AtomicFile.WriteText(Path.Combine(folder, AddedTokensFile), ordered.ToJsonString(new JsonSerializerOptions
            {
                WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // "<guess>", not "\u003Cguess\u003E"
            }));
        }
    }
}
