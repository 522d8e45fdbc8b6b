using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Text;

/// <summary>
/// Small tokenizer files in the real layouts. One hand-made byte-level vocabulary serves every family: ids 0–255 are
/// the single bytes (id = byte value, written as GPT-2's byte alphabet: ' ' is 'Ġ', '\n' is 'Ċ'), then twelve merges
/// in rank order, each result taking the next id:
/// <code>
/// rank 0  Ġ t   → Ġt   256      rank 6  ' M   → 'M   262
/// rank 1  h e   → he   257      rank 7  ' t   → 't   263
/// rank 2  Ġt he → Ġthe 258      rank 8  Ċ Ċ   → ĊĊ   264
/// rank 3  1 2   → 12   259      rank 9  Ġ Ġ   → ĠĠ   265
/// rank 4  3 4   → 34   260      rank 10 d o   → do   266
/// rank 5  12 3  → 123  261      rank 11 do n  → don  267
///                                rank 12 S o   → So   268
/// </code>
/// The tiktoken file holds the same 269 byte strings with rank = id.
/// </summary>
internal static class TokenizerFixtures
{
    public const int Gt = 256, He = 257, GThe = 258, T12 = 259, T34 = 260, T123 = 261, QuoteM = 262, QuoteT = 263, NewLines = 264, Spaces = 265, Do = 266, Don = 267, So = 268;
    public const int BpeCount = 269;

    public static readonly (string Left, string Right)[] Merges =
    [
        ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("1", "2"), ("3", "4"), ("12", "3"),
        ("'", "M"), ("'", "t"), ("Ċ", "Ċ"), ("Ġ", "Ġ"), ("d", "o"), ("do", "n"), ("S", "o"),
    ];

    public static Dictionary<string, int> Vocabulary()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[ByteLevel.CharOf((byte)b).ToString()] = b;
        foreach (var (left, right) in Merges) vocab[left + right] = vocab.Count;
        return vocab;
    }

    public static string NewFolder(string tag)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gta-tok-{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static void Delete(string folder)
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    private static JsonObject AddedToken(int id, string content, bool special = true) => new()
    {
        ["content"] = content, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = special,
    };

    public static readonly string[] QwenSpecials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    public const int QwenEndOfText = 269, ImStart = 270, ImEnd = 271;

    /// <summary>Qwen2's layout: vocab.json, merges.txt ("#version: 0.2" first) and tokenizer_config.json with added_tokens_decoder.</summary>
    public static void WriteQwen2(string folder, string eos = "<|im_end|>", IEnumerable<(string, string)>? merges = null, bool withMerges = true)
    {
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(Vocabulary()));
        if (withMerges)
            File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", (merges ?? Merges).Select(m => $"{m.Item1} {m.Item2}")) + "\n");
        var decoder = new JsonObject();
        for (int i = 0; i < QwenSpecials.Length; i++) decoder[(BpeCount + i).ToString()] = AddedToken(BpeCount + i, QwenSpecials[i]);
        var config = new JsonObject
        {
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = decoder,
            ["bos_token"] = null,
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = eos,
            ["model_max_length"] = 131072,
            ["pad_token"] = "<|endoftext|>",
            ["tokenizer_class"] = "Qwen2Tokenizer",
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    public static readonly string[] Llama3Specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"];
    /// <summary>In the Llama 3 tokenizer.json the vocabulary also holds "xyz" (269), a token no merge makes.</summary>
    public const int Xyz = 269, BeginOfText = 270, EndOfText = 271, StartHeader = 272, EndHeader = 273, EotId = 274;

    /// <summary>
    /// Llama 3's tokenizer.json: no normalizer, Sequence[Split(Llama 3's regex, Isolated), ByteLevel], model BPE with
    /// ignore_merges, vocab and merges (pairs, as tokenizers ≥ 0.20 writes them, or "a b" strings), added_tokens,
    /// a ByteLevel decoder; and tokenizer_config.json (PreTrainedTokenizerFast) when <paramref name="eos"/> is given.
    /// </summary>
    public static void WriteLlama3(string folder, bool pairMerges = true, string? eos = "<|eot_id|>", string pattern = PreTokenizers.Llama3Pattern,
        string modelType = "BPE", JsonNode? normalizer = null)
    {
        var vocab = Vocabulary();
        vocab["xyz"] = Xyz;
        var vocabJson = new JsonObject();
        foreach (var (token, id) in vocab.OrderBy(v => v.Value)) vocabJson[token] = id;
        var merges = new JsonArray();
        foreach (var (left, right) in Merges) merges.Add(pairMerges ? new JsonArray(left, right) : (JsonNode)$"{left} {right}");
        var added = new JsonArray();
        for (int i = 0; i < Llama3Specials.Length; i++)
        {
            var token = AddedToken(BeginOfText + i, Llama3Specials[i]);
            token["id"] = BeginOfText + i;
            added.Add(token);
        }
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = normalizer,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = modelType, ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = true, ["vocab"] = vocabJson, ["merges"] = merges,
            },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), root.ToJsonString());
        if (eos is not null)
        {
            var config = new JsonObject
            {
                ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = eos, ["model_max_length"] = 131072, ["tokenizer_class"] = "PreTrainedTokenizerFast",
            };
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), config.ToJsonString());
        }
    }

    /// <summary>Llama 3's original/tokenizer.model: "base64(bytes) rank" per line, the same 269 tokens with rank = id.</summary>
    public static void WriteTiktoken(string folder, string relative = "original/tokenizer.model")
    {
        string path = Path.Combine(folder, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var lines = Vocabulary().OrderBy(v => v.Value).Select(v => $"{Convert.ToBase64String(ByteLevel.TryToBytes(v.Key)!)} {v.Value}");
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
    }

    public static byte[] ConcatTokenBytes(Func<int, byte[]> tokenBytes, IEnumerable<int> ids) => ids.SelectMany(tokenBytes).ToArray();
}
