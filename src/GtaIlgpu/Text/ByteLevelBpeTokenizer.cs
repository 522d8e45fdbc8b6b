using System.Text;

namespace GtaIlgpu.Text;

/// <summary>A token added to a vocabulary as a whole string: never split by BPE, decoded to its text.</summary>
public sealed record AddedToken(int Id, string Content, bool Special);

/// <summary>
/// What the byte-level BPE tokenizers of Hugging Face folders share: added (special) tokens cut out of the text
/// before BPE, optional NFC normalisation of the text between them, decoding through the token bytes, and the
/// end-of-text / begin-of-text / padding ids named by tokenizer_config.json. Encode adds no begin-of-text token
/// (Llama 3's tokenizer.json post-processor would): callers that want it prepend <see cref="BeginOfTextId"/>.
/// </summary>
public abstract class ByteLevelBpeTokenizer : ITextTokenizer
{
    private readonly BytePairEncoder _bpe;
    private readonly bool _nfc;
    private readonly Dictionary<string, int> _addedIds = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> _addedById = [];
    private readonly string[] _addedContents;

    private protected ByteLevelBpeTokenizer(BytePairEncoder bpe, IReadOnlyList<AddedToken> added, bool nfc, SpecialTokenNames names, string source)
    {
        _bpe = bpe;
        _nfc = nfc;
        foreach (var token in added)
        {
            if (token.Content.Length == 0) throw new InvalidDataException($"{source}: added token {token.Id} is empty");
            if (token.Id < 0) throw new InvalidDataException($"{source}: added token '{token.Content}' has the negative id {token.Id}");
            if (!_addedIds.TryAdd(token.Content, token.Id) && _addedIds[token.Content] != token.Id)
                throw new InvalidDataException($"{source}: added token '{token.Content}' has two ids, {_addedIds[token.Content]} and {token.Id}");
            if (_addedById.TryGetValue(token.Id, out var other) && other.Content != token.Content)
                throw new InvalidDataException($"{source}: id {token.Id} is both '{other.Content}' and '{token.Content}'");
            _addedById[token.Id] = token;
        }
        _addedContents = [.. _addedIds.Keys];
        AddedTokens = [.. _addedById.Values.OrderBy(t => t.Id)];
        VocabularySize = Math.Max(bpe.Size, added.Count == 0 ? 0 : added.Max(t => t.Id) + 1);
        EndOfTextId = Resolve(names.EndOfText, "eos_token", source);
        BeginOfTextId = Resolve(names.BeginOfText, "bos_token", source);
        PadId = Resolve(names.Pad, "pad_token", source);
    }

    public int VocabularySize { get; }

    /// <summary>The id of the eos token, or −1 when there is none.</summary>
    public int EndOfTextId { get; }

    /// <summary>The id of the bos token, or −1 when there is none (Qwen has none).</summary>
    public int BeginOfTextId { get; }

    /// <summary>The id of the padding token, or −1 when there is none.</summary>
    public int PadId { get; }

    /// <summary>The added tokens by id.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Whether the tokenizer asks for NFC normalisation of the text between added tokens before BPE (Qwen).</summary>
    public bool NormalizesNfc => _nfc;

    /// <summary>
    /// Whether this process can NFC-normalise non-ASCII text. With InvariantGlobalization (this project's setting)
    /// .NET has no Unicode normalisation data and returns the text unchanged: text already in NFC (nearly all text)
    /// encodes as Hugging Face's tokenizer does, decomposed text (e + U+0301) keeps its combining marks.
    /// </summary>
    public static bool NfcAvailable { get; } = "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";

    private int Resolve(string? name, string field, string source)
    {
        if (name is null) return -1;
        if (TryGetSpecialId(name, out int id)) return id;
        if (_bpe.TryGetId(Encoding.UTF8.GetBytes(name), out id)) return id;
        throw new InvalidDataException($"{source}: {field} '{name}' is neither an added token nor in the vocabulary");
    }

    /// <summary>The id of any added token (special or not), e.g. "&lt;|im_start|&gt;".</summary>
    public bool TryGetSpecialId(string token, out int id) => _addedIds.TryGetValue(token, out id);

    public int[] Encode(string text)
    {
        var ids = new List<int>();
        if (_addedContents.Length == 0) EncodePlain(text, ids);
        else ids.AddRange(SpecialTokenSplitter.Encode(text, _addedContents, token => _addedIds[token], plain =>
        {
            var run = new List<int>();
            EncodePlain(plain, run);
            return run;
        }));
        return ids.ToArray();
    }

    private void EncodePlain(string text, List<int> ids) => _bpe.Encode(_nfc ? text.Normalize(NormalizationForm.FormC) : text, ids);

    /// <summary>
    /// The UTF-8 bytes a token stands for: a BPE token's bytes, or an added token's text. Ids past the
    /// tokenizer's vocabulary stand for nothing: models pad their embedding beyond it (Qwen2.5's vocab_size
    /// is 151,936 for 151,665 tokens), and a sampled padding id decodes to no text, as Hugging Face's
    /// decoder skips it. A negative id is an error.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        if (id < 0) throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is negative");
        if (_addedById.TryGetValue(id, out var added)) return Encoding.UTF8.GetBytes(added.Content);
        return _bpe.BytesOf(id) ?? [];
    }

    /// <summary>The text of the concatenated token bytes; invalid UTF-8 (a cut character) becomes U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids) bytes.AddRange(TokenBytes(id));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public abstract void Save(string folder);
}

/// <summary>The eos, bos and pad token strings (null: none).</summary>
public sealed record SpecialTokenNames(string? EndOfText, string? BeginOfText, string? Pad);
