using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.Tokenizers;

namespace GtaIlgpu.Text;

/// <summary>
/// GPT-2 byte-level BPE (Microsoft.ML.Tokenizers, offline data) remapped to a dense id space that holds
/// only the GPT-2 ids seen in the training corpus, after a few special tokens. A model trained from
/// scratch then needs an embedding of a few thousand rows instead of 50,257. Saved with the model.
/// </summary>
public sealed class CompactVocabulary : ITextTokenizer
{
    public const string FileName = "vocab.gta.json";

    public const string EndOfText = "<|endoftext|>";
    public const string Unknown = "<|unk|>";

    private static readonly Lazy<TiktokenTokenizer> Gpt2 = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

    private readonly Dictionary<int, int> _denseOf;
    private readonly Dictionary<string, int> _specialIds;

    private CompactVocabulary(IReadOnlyList<string> specials, IReadOnlyList<int> gpt2Ids)
    {
        Specials = specials;
        Gpt2Ids = gpt2Ids;
        _specialIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < specials.Count; i++)
            if (!_specialIds.TryAdd(specials[i], i)) throw new ArgumentException($"special token '{specials[i]}' is listed twice");
        if (!_specialIds.ContainsKey(EndOfText) || !_specialIds.ContainsKey(Unknown))
            throw new ArgumentException($"a vocabulary needs the special tokens {EndOfText} and {Unknown}");
        _denseOf = new Dictionary<int, int>(gpt2Ids.Count);
        for (int i = 0; i < gpt2Ids.Count; i++)
            if (!_denseOf.TryAdd(gpt2Ids[i], specials.Count + i)) throw new ArgumentException($"GPT-2 id {gpt2Ids[i]} is listed twice");
    }

    public IReadOnlyList<string> Specials { get; }
    public IReadOnlyList<int> Gpt2Ids { get; }
    public int Size => Specials.Count + Gpt2Ids.Count;
    public int VocabularySize => Size;
    public int EndOfTextId => _specialIds[EndOfText];
    public int UnknownId => _specialIds[Unknown];

    public int SpecialId(string token) =>
        _specialIds.TryGetValue(token, out int id) ? id : throw new KeyNotFoundException($"'{token}' is not a special token of this vocabulary");

    public bool TryGetSpecialId(string token, out int id) => _specialIds.TryGetValue(token, out id);

    /// <summary>Builds the vocabulary of a corpus: the specials first, then every GPT-2 id the texts use, ascending.</summary>
    public static CompactVocabulary Build(IEnumerable<string> texts, IEnumerable<string>? extraSpecials = null)
    {
        var specials = new List<string> { EndOfText, Unknown };
        if (extraSpecials is not null) specials.AddRange(extraSpecials.Where(s => !specials.Contains(s)));
        var seen = new SortedSet<int>();
        foreach (var text in texts)
            foreach (int id in Gpt2.Value.EncodeToIds(text)) seen.Add(id);
        return new CompactVocabulary(specials, seen.ToList());
    }

    /// <summary>Dense ids of a text; GPT-2 tokens the corpus never used become <see cref="Unknown"/>.</summary>
    public int[] Encode(string text)
    {
        var ids = Gpt2.Value.EncodeToIds(text);
        var dense = new int[ids.Count];
        for (int i = 0; i < dense.Length; i++) dense[i] = _denseOf.TryGetValue(ids[i], out int d) ? d : UnknownId;
        return dense;
    }

    public string Decode(IEnumerable<int> denseIds)
    {
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(Gpt2.Value.Decode(run));
            run.Clear();
        }
        foreach (int id in denseIds)
        {
            if (id < 0 || id >= Size) throw new ArgumentOutOfRangeException(nameof(denseIds), $"token id {id} is outside the vocabulary of {Size}");
            if (id < Specials.Count) { Flush(); text.Append(Specials[id]); }
            else run.Add(Gpt2Ids[id - Specials.Count]);
        }
        Flush();
        return text.ToString();
    }

    /// <summary>A special token's text in UTF-8, or the bytes of the GPT-2 token a dense id stands for.</summary>
    public byte[] TokenBytes(int id)
    {
        if (id < 0 || id >= Size) throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary of {Size}");
        if (id < Specials.Count) return System.Text.Encoding.UTF8.GetBytes(Specials[id]);
        return (byte[])Gpt2Bytes.Value[Gpt2Ids[id - Specials.Count]].Clone();
    }

    /// <summary>
    /// GPT-2 id → the token's bytes: the encoder's own id → UTF-8 bytes map (TiktokenTokenizer.Decoder, not
    /// public in Microsoft.ML.Tokenizers 2.0, hence read by reflection once).
    /// </summary>
    private static readonly Lazy<Dictionary<int, byte[]>> Gpt2Bytes = new(() =>
    {
        var property = typeof(TiktokenTokenizer).GetProperty("Decoder", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers' TiktokenTokenizer has no Decoder map (id → bytes) in this version");
        var decoder = (IReadOnlyDictionary<int, ReadOnlyMemory<byte>>)property.GetValue(Gpt2.Value)!;
        return decoder.ToDictionary(e => e.Key, e => e.Value.ToArray());
    });

    private sealed record Stored(
        [property: JsonPropertyName("format")] string Format,
        [property: JsonPropertyName("specials")] List<string> Specials,
        [property: JsonPropertyName("gpt2_ids")] List<int> Gpt2Ids);

    private const string FormatName = "gta-compact-gpt2-v1";

    public string ToJson() => JsonSerializer.Serialize(new Stored(FormatName, Specials.ToList(), Gpt2Ids.ToList()));

    public void Save(string folder) => Common.AtomicFile.WriteText(Path.Combine(folder, FileName), ToJson());

    public static CompactVocabulary Load(string path) => FromJson(File.ReadAllText(path), path);

    public static CompactVocabulary FromJson(string json, string source)
    {
        Stored? stored;
        try { stored = JsonSerializer.Deserialize<Stored>(json); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not a vocabulary file ({e.Message})"); }
        if (stored is null || stored.Format != FormatName || stored.Specials is null || stored.Gpt2Ids is null)
            throw new InvalidDataException($"{source}: not a {FormatName} vocabulary");
        try { return new CompactVocabulary(stored.Specials, stored.Gpt2Ids); }
        catch (ArgumentException e) { throw new InvalidDataException($"{source}: {e.Message}"); }
    }
}
