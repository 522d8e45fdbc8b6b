using System.Globalization;
using System.Text;
using GtaIlgpu.Common;

namespace GtaIlgpu.Text;

/// <summary>
/// Llama 3's tiktoken file (original/tokenizer.model in a Hugging Face folder): one line per token,
/// "base64(token bytes) rank", the rank being both the token's id and its merge priority. Text is split by Llama 3's
/// pat_str and each piece byte-pair merged by rank (a piece that is a token is that token). The special tokens come
/// from the folder's tokenizer_config.json (added_tokens_decoder) when it has one, else follow Meta's llama3
/// tokenizer.py: 256 of them numbered from the number of ranks (128,000): &lt;|begin_of_text|&gt;, &lt;|end_of_text|&gt;,
/// reserved 0–3, &lt;|start_header_id|&gt;, &lt;|end_header_id|&gt;, reserved 4, &lt;|eot_id|&gt;, then reserved 5–250.
/// (Llama 3.1 and later rename some reserved tokens; their folders carry tokenizer_config.json.)
/// </summary>
public sealed class TiktokenFileTokenizer : ByteLevelBpeTokenizer
{
    public const string OriginalFile = "original/tokenizer.model";
    public const int Llama3SpecialCount = 256;

    private readonly string _relativePath;
    private readonly byte[] _bytes;
    private readonly byte[]? _configBytes;

    private TiktokenFileTokenizer(BytePairEncoder bpe, IReadOnlyList<AddedToken> added, SpecialTokenNames names, string source, string relativePath, byte[] bytes, byte[]? configBytes)
        : base(bpe, added, nfc: false, names, source)
    {
        _relativePath = relativePath;
        _bytes = bytes;
        _configBytes = configBytes;
    }

    /// <summary>Llama 3's special tokens in Meta's order, the i-th with id <paramref name="firstId"/> + i.</summary>
    public static IReadOnlyList<AddedToken> Llama3SpecialTokens(int firstId)
    {
        var names = new List<string>
        {
            "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|reserved_special_token_4|>", "<|eot_id|>",
        };
        for (int i = 5; names.Count < Llama3SpecialCount; i++) names.Add($"<|reserved_special_token_{i}|>");
        return names.Select((name, i) => new AddedToken(firstId + i, name, Special: true)).ToList();
    }

    /// <summary>original/tokenizer.model, or a tokenizer.model at the top of the folder, when it is a tiktoken file.</summary>
    public static string? FindIn(string folder)
    {
        foreach (string relative in new[] { OriginalFile, "tokenizer.model" })
        {
            string path = Path.Combine(folder, relative);
            if (File.Exists(path) && IsTiktokenFile(path)) return relative;
        }
        return null;
    }

    /// <summary>Whether the file's first line is "base64 rank" (a SentencePiece model is binary protobuf).</summary>
    public static bool IsTiktokenFile(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var buffer = new char[512];
        int read = reader.ReadBlock(buffer, 0, buffer.Length);
        string head = new(buffer, 0, read);
        int newline = head.IndexOf('\n');
        return newline > 0 && TryParseLine(head[..newline].TrimEnd('\r'), out _, out _);
    }

    private static bool TryParseLine(string line, out byte[] bytes, out int rank)
    {
        bytes = [];
        rank = -1;
        var parts = line.Split(' ');
        if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out rank)) return false;
        try { bytes = Convert.FromBase64String(parts[0]); }
        catch (FormatException) { return false; }
        return bytes.Length > 0;
    }

    public static TiktokenFileTokenizer Load(string folder)
    {
        string relative = FindIn(folder) ?? throw new InvalidDataException(
            File.Exists(Path.Combine(folder, "tokenizer.model")) || File.Exists(Path.Combine(folder, OriginalFile))
                ? $"{Path.Combine(folder, File.Exists(Path.Combine(folder, OriginalFile)) ? OriginalFile : "tokenizer.model")}: not a tiktoken file (a SentencePiece tokenizer.model, as Llama 2's, is not supported)"
                : $"{folder}: no tiktoken tokenizer.model");
        string path = Path.Combine(folder, relative);
        byte[] fileBytes = File.ReadAllBytes(path);
        var tokens = new Dictionary<int, byte[]>();
        int lineNumber = 0;
        foreach (var raw in Encoding.UTF8.GetString(fileBytes).Split('\n'))
        {
            lineNumber++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            if (!TryParseLine(line, out var bytes, out int rank))
                throw new InvalidDataException($"{path}:{lineNumber}: '{(line.Length > 60 ? line[..60] + "…" : line)}' is not 'base64 rank'");
            if (!tokens.TryAdd(rank, bytes)) throw new InvalidDataException($"{path}:{lineNumber}: rank {rank} appears twice");
        }
        if (tokens.Count == 0) throw new InvalidDataException($"{path}: no tokens");
        BytePairEncoder bpe;
        try { bpe = new BytePairEncoder(tokens, merges: null, wholePieceFirst: true, PreTokenizers.Llama3()); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: {e.Message}"); }

        var config = HuggingFaceTokenizerConfig.TryLoad(folder);
        var added = config is { AddedTokens.Count: > 0 } ? config.AddedTokens : Llama3SpecialTokens(tokens.Count);
        foreach (var token in added)
            if (bpe.BytesOf(token.Id) is not null)
                throw new InvalidDataException($"{config?.Path ?? path}: special token '{token.Content}' has id {token.Id}, a rank of {path}");
        var names = config?.Names is { } n && (n.EndOfText ?? n.BeginOfText ?? n.Pad) is not null
            ? n : new SpecialTokenNames("<|end_of_text|>", "<|begin_of_text|>", null);
        return new TiktokenFileTokenizer(bpe, added, names, config?.Path ?? path, relative, fileBytes, config?.Bytes);
    }

    public override void Save(string folder)
    {
        string path = Path.Combine(folder, _relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.Write(path, s => s.Write(_bytes));
        if (_configBytes is not null) AtomicFile.Write(Path.Combine(folder, HuggingFaceTokenizerConfig.FileName), s => s.Write(_configBytes));
    }
}
