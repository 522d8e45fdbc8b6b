using System.Text;

namespace GtaIlgpu.Text;

/// <summary>
/// GPT-2's byte-level alphabet (bytes_to_unicode): every byte is one printable character, so a token of a
/// byte-level vocabulary (vocab.json, tokenizer.json) is a string of those characters. The printable bytes
/// '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68 bytes, in ascending order, take the
/// characters U+0100, U+0101, … (so the space 0x20 is 'Ġ' U+0120 and the newline 0x0A is 'Ċ' U+010A).
/// </summary>
public static class ByteLevel
{
    private static readonly char[] CharOfByte = BuildCharOfByte();
    private static readonly Dictionary<char, byte> ByteOfChar = Enumerable.Range(0, 256).ToDictionary(b => CharOfByte[b], b => (byte)b);

    private static char[] BuildCharOfByte()
    {
        var chars = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[b] = printable ? (char)b : (char)next++;
        }
        return chars;
    }

    public static char CharOf(byte b) => CharOfByte[b];

    /// <summary>The byte-level string of some bytes.</summary>
    public static string ToToken(ReadOnlySpan<byte> bytes)
    {
        var s = new StringBuilder(bytes.Length);
        foreach (byte b in bytes) s.Append(CharOfByte[b]);
        return s.ToString();
    }

    /// <summary>The bytes a byte-level token stands for, or null when it holds a character outside the alphabet.</summary>
    public static byte[]? TryToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            if (!ByteOfChar.TryGetValue(token[i], out byte b)) return null;
            bytes[i] = b;
        }
        return bytes;
    }

    /// <summary>A byte string as a dictionary key: one char per byte (Latin-1).</summary>
    internal static string Key(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = bytes.Length <= 256 ? stackalloc char[bytes.Length] : new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = (char)bytes[i];
        return new string(chars);
    }

    /// <summary>The bytes of a <see cref="Key"/>.</summary>
    internal static byte[] ToBytes(string key)
    {
        var bytes = new byte[key.Length];
        for (int i = 0; i < key.Length; i++) bytes[i] = (byte)key[i];
        return bytes;
    }

    /// <summary>A vocab.json (token string → id) as GPT-2 and Qwen2 store it; an empty map or a negative id is an error naming the file.</summary>
    public static Dictionary<string, int> ReadVocabularyJson(byte[] bytes, string path)
    {
        Dictionary<string, int>? vocab;
        try { vocab = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(bytes); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}: not a JSON map of token → id ({e.Message})"); }
        if (vocab is null || vocab.Count == 0) throw new InvalidDataException($"{path}: the vocabulary is empty");
        if (vocab.Values.Any(id => id < 0)) throw new InvalidDataException($"{path}: token ids must be non-negative");
        return vocab;
    }
}
