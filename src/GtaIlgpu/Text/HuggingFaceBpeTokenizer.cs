using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GtaIlgpu.Common;

namespace GtaIlgpu.Text;

/// <summary>
/// The byte-level BPE tokenizer of a Hugging Face Llama-family folder, read either from tokenizer.json (model type
/// BPE with its vocab and merges, the normalizer, the pre-tokenizer's split regex: Qwen2/Qwen3 or Llama 3) or, for
/// Qwen2Tokenizer, from vocab.json + merges.txt with tokenizer_config.json (Qwen2's regex and NFC, as transformers'
/// Qwen2Tokenizer). Added tokens (tokenizer.json's added_tokens, tokenizer_config.json's added_tokens_decoder) are
/// kept whole. Save writes back the files it was read from, byte for byte.
/// </summary>
public sealed class HuggingFaceBpeTokenizer : ByteLevelBpeTokenizer
{
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string VocabFile = "vocab.json";
    public const string MergesFile = "merges.txt";

    private readonly IReadOnlyDictionary<string, byte[]> _files;

    private HuggingFaceBpeTokenizer(BytePairEncoder bpe, IReadOnlyList<AddedToken> added, bool nfc, SpecialTokenNames names, string source,
        string preTokenizer, IReadOnlyDictionary<string, byte[]> files)
        : base(bpe, added, nfc, names, source)
    {
        PreTokenizer = preTokenizer;
        _files = files;
    }

    /// <summary>The pre-tokenizer's family: "qwen2", "llama3" or "gpt2".</summary>
    public string PreTokenizer { get; }

    /// <summary>
    /// Whether a folder holds a tokenizer this class reads: tokenizer.json, or vocab.json / merges.txt of a
    /// Qwen2Tokenizer (either one, so that loading names the one missing).
    /// </summary>
    public static bool IsPresentIn(string folder) =>
        File.Exists(Path.Combine(folder, TokenizerJsonFile))
        || ((File.Exists(Path.Combine(folder, VocabFile)) || File.Exists(Path.Combine(folder, MergesFile))) && HuggingFaceTokenizerConfig.TryLoad(folder)?.IsQwen2 == true);

    /// <summary>tokenizer.json when the folder has one, else vocab.json + merges.txt.</summary>
    public static HuggingFaceBpeTokenizer Load(string folder) =>
        File.Exists(Path.Combine(folder, TokenizerJsonFile)) ? LoadTokenizerJson(folder) : LoadVocabAndMerges(folder);

    /// <summary>Qwen2Tokenizer's files: vocab.json, merges.txt and tokenizer_config.json (its class, added tokens, eos/bos/pad).</summary>
    public static HuggingFaceBpeTokenizer LoadVocabAndMerges(string folder)
    {
        string vocabPath = Path.Combine(folder, VocabFile), mergesPath = Path.Combine(folder, MergesFile);
        var config = HuggingFaceTokenizerConfig.TryLoad(folder)
            ?? throw new FileNotFoundException($"{Path.Combine(folder, HuggingFaceTokenizerConfig.FileName)} not found: it says which tokenizer vocab.json + merges.txt belong to", HuggingFaceTokenizerConfig.FileName);
        if (!config.IsQwen2)
            throw new InvalidDataException($"{config.Path}: tokenizer_class '{config.TokenizerClass}' is not supported with vocab.json + merges.txt (Qwen2Tokenizer is)");
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"vocabulary not found: {vocabPath}", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"merges not found: {mergesPath}", mergesPath);
        byte[] vocabBytes = File.ReadAllBytes(vocabPath), mergesBytes = File.ReadAllBytes(mergesPath);

        var vocab = ByteLevel.ReadVocabularyJson(vocabBytes, vocabPath);

        var merges = new List<(string, string, string)>();
        int lineNumber = 0;
        foreach (var line in Encoding.UTF8.GetString(mergesBytes).Split('\n'))
        {
            lineNumber++;
            string merge = line.TrimEnd('\r');
            if (merge.Length == 0 || (lineNumber == 1 && merge.StartsWith("#version", StringComparison.Ordinal))) continue;
            var parts = merge.Split(' ');
            if (parts.Length != 2) throw new InvalidDataException($"{mergesPath}:{lineNumber}: '{merge}' is not two tokens separated by a space");
            merges.Add((parts[0], parts[1], $"{mergesPath}:{lineNumber}"));
        }
        if (merges.Count == 0) throw new InvalidDataException($"{mergesPath}: no merges");

        var bpe = BuildEncoder(vocab, merges, wholePieceFirst: false, PreTokenizers.Qwen2(), vocabPath);
        var files = new Dictionary<string, byte[]> { [VocabFile] = vocabBytes, [MergesFile] = mergesBytes, [HuggingFaceTokenizerConfig.FileName] = config.Bytes };
        return new HuggingFaceBpeTokenizer(bpe, config.AddedTokens, nfc: true, Defaulted(config.Names, config.AddedTokens), config.Path, "qwen2", files);
    }

    /// <summary>tokenizer.json (with tokenizer_config.json when present for the eos/bos/pad names and more added tokens).</summary>
    public static HuggingFaceBpeTokenizer LoadTokenizerJson(string folder)
    {
        string path = Path.Combine(folder, TokenizerJsonFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer not found: {path}", path);
        byte[] bytes = File.ReadAllBytes(path);
        JsonObject root;
        try { root = JsonNode.Parse(bytes) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not JSON ({e.Message})"); }

        if (root["model"] is not JsonObject model) throw new InvalidDataException($"{path}: no model");
        string? type = Str(model["type"]);
        if (type != "BPE") throw new InvalidDataException($"{path}: model.type '{type}' is not supported (only byte-level BPE)");
        if (Bool(model["byte_fallback"])) throw new InvalidDataException($"{path}: model.byte_fallback true is not supported (a SentencePiece-style BPE, not byte-level)");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (!string.IsNullOrEmpty(Str(model[affix]))) throw new InvalidDataException($"{path}: model.{affix} '{Str(model[affix])}' is not supported");
        if (model["dropout"] is JsonValue dropout && dropout.TryGetValue(out double p) && p > 0) throw new InvalidDataException($"{path}: model.dropout {p} is not supported");
        bool nfc = ReadNormalizer(root["normalizer"], path);
        var (split, family) = ReadPreTokenizer(root["pre_tokenizer"], path);
        if (root["decoder"] is JsonObject decoder && Str(decoder["type"]) != "ByteLevel")
            throw new InvalidDataException($"{path}: decoder.type '{Str(decoder["type"])}' is not supported (only ByteLevel)");

        Dictionary<string, int> vocab;
        try { vocab = model["vocab"]?.Deserialize<Dictionary<string, int>>() ?? throw new InvalidDataException($"{path}: model.vocab is missing"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: model.vocab is not a map of token → id ({e.Message})"); }
        if (model["merges"] is not JsonArray mergeArray) throw new InvalidDataException($"{path}: model.merges is missing");
        var merges = new List<(string, string, string)>(mergeArray.Count);
        for (int i = 0; i < mergeArray.Count; i++)
        {
            string where = $"{path}: model.merges[{i}]";
            var merge = mergeArray[i] switch
            {
                // Older files: "a b"; newer ones (tokenizers ≥ 0.20): ["a", "b"].
                JsonValue v when v.TryGetValue(out string? s) && s.Split(' ') is [var a, var b] => (a, b),
                JsonArray { Count: 2 } pair when Str(pair[0]) is { } a && Str(pair[1]) is { } b => (a, b),
                _ => throw new InvalidDataException($"{where} is neither \"a b\" nor [\"a\", \"b\"]"),
            };
            merges.Add((merge.a, merge.b, where));
        }
        if (merges.Count == 0) throw new InvalidDataException($"{path}: model.merges is empty");

        var added = new List<AddedToken>();
        if (root["added_tokens"] is JsonArray addedArray)
            for (int i = 0; i < addedArray.Count; i++)
            {
                if (addedArray[i]?["id"] is not JsonValue idValue || !idValue.TryGetValue(out int id))
                    throw new InvalidDataException($"{path}: added_tokens[{i}] has no integer id");
                added.Add(HuggingFaceTokenizerConfig.ReadAddedToken(addedArray[i], id, path, $"added_tokens[{i}]"));
            }
        var config = HuggingFaceTokenizerConfig.TryLoad(folder);
        if (config is not null) added.AddRange(config.AddedTokens.Where(t => !added.Any(a => a.Id == t.Id)));

        var bpe = BuildEncoder(vocab, merges, wholePieceFirst: Bool(model["ignore_merges"]), split, path);
        var files = new Dictionary<string, byte[]> { [TokenizerJsonFile] = bytes };
        if (config is not null) files[HuggingFaceTokenizerConfig.FileName] = config.Bytes;
        return new HuggingFaceBpeTokenizer(bpe, added, nfc, Defaulted(config?.Names, added), config?.Path ?? path, family, files);
    }

    /// <summary>Without names from tokenizer_config.json: eos is "&lt;|endoftext|&gt;" (Qwen, GPT-2) or "&lt;|end_of_text|&gt;" (Llama 3) when added, bos "&lt;|begin_of_text|&gt;".</summary>
    internal static SpecialTokenNames Defaulted(SpecialTokenNames? names, IReadOnlyList<AddedToken> added)
    {
        if (names is not null && (names.EndOfText ?? names.BeginOfText ?? names.Pad) is not null) return names;
        string? Has(string content) => added.Any(t => t.Content == content) ? content : null;
        return new SpecialTokenNames(Has("<|endoftext|>") ?? Has("<|end_of_text|>"), Has("<|begin_of_text|>"), null);
    }

    private static BytePairEncoder BuildEncoder(Dictionary<string, int> vocab, List<(string Left, string Right, string Where)> merges, bool wholePieceFirst, Regex split, string vocabSource)
    {
        var tokens = new Dictionary<int, byte[]>(vocab.Count);
        foreach (var (token, id) in vocab)
        {
            var bytes = ByteLevel.TryToBytes(token)
                ?? throw new InvalidDataException($"{vocabSource}: vocabulary token '{token}' is not a byte-level token (a character outside GPT-2's byte alphabet)");
            if (!tokens.TryAdd(id, bytes)) throw new InvalidDataException($"{vocabSource}: two vocabulary tokens have id {id}");
        }
        var pairs = new List<(int, int)>(merges.Count);
        foreach (var (left, right, where) in merges)
        {
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.ContainsKey(left + right))
                throw new InvalidDataException($"{where}: '{left} {right}' is not a merge of two vocabulary tokens into a third");
            pairs.Add((l, r));
        }
        try { return new BytePairEncoder(tokens, pairs, wholePieceFirst, split); }
        catch (ArgumentException e) { throw new InvalidDataException($"{vocabSource}: {e.Message}"); }
    }

    /// <summary>null (none) or NFC; anything else is refused.</summary>
    private static bool ReadNormalizer(JsonNode? node, string path) => node switch
    {
        null => false,
        JsonObject n when Str(n["type"]) == "NFC" => true,
        JsonObject n when Str(n["type"]) == "Sequence" && n["normalizers"] is JsonArray { Count: 0 } => false,
        JsonObject n => throw new InvalidDataException($"{path}: normalizer.type '{Str(n["type"])}' is not supported (only none or NFC)"),
        _ => throw new InvalidDataException($"{path}: normalizer is not an object"),
    };

    /// <summary>
    /// Sequence[Split(Regex: Qwen2's or Llama 3's pattern, Isolated, not inverted), ByteLevel(no prefix space, no
    /// regex of its own)], or a lone ByteLevel with use_regex (GPT-2's pattern). Anything else is refused.
    /// </summary>
    private static (Regex, string) ReadPreTokenizer(JsonNode? node, string path)
    {
        if (node is not JsonObject pre) throw new InvalidDataException($"{path}: pre_tokenizer is missing (a byte-level BPE needs ByteLevel)");
        string? type = Str(pre["type"]);
        if (type == "ByteLevel")
        {
            if (Bool(pre["add_prefix_space"])) throw new InvalidDataException($"{path}: pre_tokenizer.add_prefix_space true is not supported");
            if (pre["use_regex"] is JsonValue useRegex && useRegex.TryGetValue(out bool on) && !on)
                throw new InvalidDataException($"{path}: pre_tokenizer ByteLevel with use_regex false and no Split is not supported");
            return (PreTokenizers.Gpt2(), "gpt2");
        }
        if (type != "Sequence" || pre["pretokenizers"] is not JsonArray { Count: 2 } steps
            || steps[0] is not JsonObject splitStep || Str(splitStep["type"]) != "Split"
            || steps[1] is not JsonObject byteLevel || Str(byteLevel["type"]) != "ByteLevel")
            throw new InvalidDataException($"{path}: pre_tokenizer is not supported (expected Sequence[Split, ByteLevel] or ByteLevel)");
        string? pattern = Str(splitStep["pattern"]?["Regex"]);
        if (Str(splitStep["behavior"]) != "Isolated" || Bool(splitStep["invert"]))
            throw new InvalidDataException($"{path}: pre_tokenizer Split behavior '{Str(splitStep["behavior"])}' (invert {Bool(splitStep["invert"])}) is not supported (only Isolated)");
        if (Bool(byteLevel["add_prefix_space"]) || Bool(byteLevel["use_regex"]))
            throw new InvalidDataException($"{path}: pre_tokenizer ByteLevel after Split must have add_prefix_space and use_regex false");
        return pattern switch
        {
            PreTokenizers.Qwen2Pattern => (PreTokenizers.Qwen2(), "qwen2"),
            PreTokenizers.Llama3Pattern => (PreTokenizers.Llama3(), "llama3"),
            _ => throw new InvalidDataException($"{path}: pre_tokenizer Split pattern {JsonSerializer.Serialize(pattern)} is not supported (Qwen2's and Llama 3's are)"),
        };
    }

    private static string? Str(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;
    private static bool Bool(JsonNode? node) => node is JsonValue v && v.TryGetValue(out bool b) && b;

    public override void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        foreach (var (name, bytes) in _files) AtomicFile.Write(Path.Combine(folder, name), s => s.Write(bytes));
    }
}
