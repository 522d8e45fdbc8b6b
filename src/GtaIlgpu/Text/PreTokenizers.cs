using System.Text.RegularExpressions;

namespace GtaIlgpu.Text;

/// <summary>
/// The pre-tokenizer regexes of the byte-level BPE families, as their sources write them. Text is cut into the
/// regex's matches (and any text between them) before BPE, so no token crosses a piece boundary.
/// </summary>
public static partial class PreTokenizers
{
    /// <summary>GPT-2 (encoder.py, and the ByteLevel pre-tokenizer's use_regex): case-sensitive contractions, digit runs.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>
    /// Qwen2 / Qwen3 (transformers' tokenization_qwen2.py PRETOKENIZE_REGEX, the Split pattern of Qwen's tokenizer.json):
    /// case-insensitive contractions, a letter run with at most one non-letter, non-digit, non-newline character in
    /// front, single digits, punctuation runs with their trailing newlines, newline runs, whitespace.
    /// </summary>
    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Llama 3 (pat_str of Meta's llama3 tokenizer.py, the Split pattern of its tokenizer.json): as Qwen2's but digits in groups of up to three.</summary>
    public const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [GeneratedRegex(Gpt2Pattern, RegexOptions.CultureInvariant)]
    public static partial Regex Gpt2();

    [GeneratedRegex(Qwen2Pattern, RegexOptions.CultureInvariant)]
    public static partial Regex Qwen2();

    [GeneratedRegex(Llama3Pattern, RegexOptions.CultureInvariant)]
    public static partial Regex Llama3();

    /// <summary>The regex of a pattern string read from a tokenizer file, or null when it is none of the three.</summary>
    public static Regex? Known(string pattern) => pattern switch
    {
        Gpt2Pattern => Gpt2(),
        Qwen2Pattern => Qwen2(),
        Llama3Pattern => Llama3(),
        _ => null,
    };

    /// <summary>The pieces of a text: every match of the regex, and any text between matches as a piece of its own.</summary>
    public static IEnumerable<(int Start, int Length)> Split(Regex regex, string text)
    {
        var pieces = new List<(int, int)>();
        int end = 0;
        foreach (var match in regex.EnumerateMatches(text))
        {
            if (match.Length == 0) continue;
            if (match.Index > end) pieces.Add((end, match.Index - end));
            pieces.Add((match.Index, match.Length));
            end = match.Index + match.Length;
        }
        if (end < text.Length) pieces.Add((end, text.Length - end));
        return pieces;
    }
}
