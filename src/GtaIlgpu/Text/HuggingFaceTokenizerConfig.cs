using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GtaIlgpu.Text;

/// <summary>
/// The fields of a Hugging Face tokenizer_config.json that choose and complete a tokenizer: tokenizer_class,
/// added_tokens_decoder (id → {content, special, lstrip, rstrip, single_word, normalized}) and the eos, bos and pad
/// token names (a string, or an object with "content").
/// </summary>
public sealed class HuggingFaceTokenizerConfig
{
    public const string FileName = "tokenizer_config.json";

    private HuggingFaceTokenizerConfig(string path, byte[] bytes, string? tokenizerClass, List<AddedToken> added, SpecialTokenNames names)
    {
        Path = path;
        Bytes = bytes;
        TokenizerClass = tokenizerClass;
        AddedTokens = added;
        Names = names;
    }

    public string Path { get; }
    public byte[] Bytes { get; }
    public string? TokenizerClass { get; }
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public SpecialTokenNames Names { get; }

    /// <summary>Qwen2Tokenizer or its fast variant (Qwen2, Qwen2.5 and Qwen3 all use it).</summary>
    public bool IsQwen2 => TokenizerClass is "Qwen2Tokenizer" or "Qwen2TokenizerFast";

    /// <summary>The folder's tokenizer_config.json, or null when it has none.</summary>
    public static HuggingFaceTokenizerConfig? TryLoad(string folder)
    {
        string path = System.IO.Path.Combine(folder, FileName);
        if (!File.Exists(path)) return null;
        byte[] bytes = File.ReadAllBytes(path);
        JsonObject root;
        try { root = JsonNode.Parse(bytes) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not JSON ({e.Message})"); }

        var added = new List<AddedToken>();
        if (root["added_tokens_decoder"] is JsonNode decoderNode)
        {
            if (decoderNode is not JsonObject decoder) throw new InvalidDataException($"{path}: added_tokens_decoder is not an object of id → token");
            foreach (var (key, value) in decoder)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                    throw new InvalidDataException($"{path}: added_tokens_decoder key '{key}' is not a token id");
                added.Add(ReadAddedToken(value, id, path, $"added_tokens_decoder.{key}"));
            }
        }
        var names = new SpecialTokenNames(TokenName(root, "eos_token", path), TokenName(root, "bos_token", path), TokenName(root, "pad_token", path));
        string? tokenizerClass = root["tokenizer_class"] is JsonValue v && v.TryGetValue(out string? c) ? c : null;
        return new HuggingFaceTokenizerConfig(path, bytes, tokenizerClass, added, names);
    }

    /// <summary>
    /// One added token ({content, special, lstrip, rstrip, single_word, normalized}); the stripping and
    /// whole-word options are refused, since the tokens of these families use none of them.
    /// </summary>
    internal static AddedToken ReadAddedToken(JsonNode? node, int id, string path, string field)
    {
        if (node is not JsonObject token || token["content"] is not JsonValue content || !content.TryGetValue(out string? text))
            throw new InvalidDataException($"{path}: {field} has no string content");
        foreach (string option in new[] { "lstrip", "rstrip", "single_word" })
            if (token[option] is JsonValue flag && flag.TryGetValue(out bool on) && on)
                throw new InvalidDataException($"{path}: {field}.{option} true ('{text}') is not supported");
        bool special = token["special"] is JsonValue s && s.TryGetValue(out bool isSpecial) && isSpecial;
        return new AddedToken(id, text, special);
    }

    private static string? TokenName(JsonObject root, string field, string path) => root[field] switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out string? name) => name,
        JsonObject token when token["content"] is JsonValue content && content.TryGetValue(out string? name) => name,
        _ => throw new InvalidDataException($"{path}: {field} is neither a string nor an object with content"),
    };
}
