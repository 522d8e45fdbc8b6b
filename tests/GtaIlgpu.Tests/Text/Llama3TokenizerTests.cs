using System.Text;
using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Text;
using static GtaIlgpu.Tests.Text.TokenizerFixtures;

namespace GtaIlgpu.Tests.Text;

/// <summary>
/// Llama 3 tokenizers: tokenizer.json (BPE with ignore_merges) and the tiktoken original/tokenizer.model. Expected ids
/// are worked out by hand: the text is cut by Llama 3's pat_str (Meta's llama3 tokenizer.py, = the Split regex of its
/// tokenizer.json); a piece that is itself a token is that token (ignore_merges / tiktoken); otherwise its bytes merge
/// by the ranks of <see cref="TokenizerFixtures"/> (merge list for tokenizer.json, rank of the merged bytes for tiktoken,
/// which here are the same order).
/// </summary>
public class Llama3TokenizerTests
{
    private static ByteLevelBpeTokenizer Load(string folder) => Assert.IsAssignableFrom<ByteLevelBpeTokenizer>(ModelCheckpoint.LoadTokenizer(folder));

    /// <summary>Both formats, in fresh folders: tokenizer.json (pairs or "a b" merges) and the tiktoken file.</summary>
    public static TheoryData<string> Formats => ["json-pairs", "json-strings", "tiktoken"];

    private static string Write(string format)
    {
        string folder = NewFolder("llama3-" + format);
        if (format == "tiktoken") WriteTiktoken(folder);
        else WriteLlama3(folder, pairMerges: format == "json-pairs");
        return folder;
    }

    [Fact]
    public void Tokenizer_json_loads_with_its_added_tokens_and_the_names_of_tokenizer_config()
    {
        string folder = Write("json-pairs");
        try
        {
            var tokenizer = Assert.IsType<HuggingFaceBpeTokenizer>(ModelCheckpoint.LoadTokenizer(folder));
            Assert.Equal("llama3", tokenizer.PreTokenizer);
            Assert.False(tokenizer.NormalizesNfc);
            Assert.Equal(EotId + 1, tokenizer.VocabularySize);
            Assert.Equal(EotId, tokenizer.EndOfTextId); // eos_token "<|eot_id|>" (an instruct model's)
            Assert.Equal(BeginOfText, tokenizer.BeginOfTextId);
            Assert.True(tokenizer.TryGetSpecialId("<|start_header_id|>", out int header));
            Assert.Equal(StartHeader, header);
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Without_tokenizer_config_eos_is_end_of_text()
    {
        string folder = NewFolder("llama3-noconfig");
        try
        {
            WriteLlama3(folder, eos: null);
            var tokenizer = Load(folder);
            Assert.Equal(EndOfText, tokenizer.EndOfTextId);
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void The_tiktoken_file_numbers_llama3_specials_after_the_last_rank()
    {
        string folder = Write("tiktoken");
        try
        {
            var tokenizer = Assert.IsType<TiktokenFileTokenizer>(ModelCheckpoint.LoadTokenizer(folder));
            // Meta's llama3 tokenizer.py: 256 specials from len(mergeable_ranks) (here 269, as 128,000 in Llama 3):
            // begin, end, reserved 0–3, start_header, end_header, reserved 4, eot, reserved 5–250.
            int first = BpeCount;
            Assert.Equal(first + 256, tokenizer.VocabularySize);
            Assert.True(tokenizer.TryGetSpecialId("<|begin_of_text|>", out int bos)); Assert.Equal(first, bos);
            Assert.True(tokenizer.TryGetSpecialId("<|end_of_text|>", out int eos)); Assert.Equal(first + 1, eos);
            Assert.True(tokenizer.TryGetSpecialId("<|start_header_id|>", out int sh)); Assert.Equal(first + 6, sh);
            Assert.True(tokenizer.TryGetSpecialId("<|end_header_id|>", out int eh)); Assert.Equal(first + 7, eh);
            Assert.True(tokenizer.TryGetSpecialId("<|eot_id|>", out int eot)); Assert.Equal(first + 9, eot);
            Assert.True(tokenizer.TryGetSpecialId("<|reserved_special_token_250|>", out int last)); Assert.Equal(first + 255, last);
            Assert.Equal(first + 1, tokenizer.EndOfTextId);
            Assert.Equal(first, tokenizer.BeginOfTextId);
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Digits_go_in_groups_of_up_to_three(string format)
    {
        string folder = Write(format);
        try
        {
            var tokenizer = Load(folder);
            // \p{N}{1,3}: "12345" → "123" | "45". "123" is a token (261); "45" has no merge → 4, 5.
            // (One run "12345" would merge 1 2 (rank 3), then 3 4 (rank 4) before 12 3 (rank 5): 12, 34, 5.)
            Assert.Equal([T123, '4', '5'], tokenizer.Encode("12345"));
            // "1234" → "123" | "4".
            Assert.Equal([T123, '4'], tokenizer.Encode("1234"));
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Contractions_whitespace_and_newlines_follow_the_regex(string format)
    {
        string folder = Write(format);
        try
        {
            var tokenizer = Load(folder);
            Assert.Equal([Don, QuoteT], tokenizer.Encode("don't"));      // "don" | "'t"
            Assert.Equal(['I', QuoteM], tokenizer.Encode("I'M"));       // (?i:'m): "I" | "'M"
            Assert.Equal(['X', '\'', 'S', 'o'], tokenizer.Encode("X'So")); // (?i:'s): "X" | "'S" | "o", not "'So" → ' So
            Assert.Equal([GThe, 't', He], tokenizer.Encode(" thethe"));  // one piece; " the" merges, "the" → t he
            Assert.Equal(['a', Spaces, ' ', 'b'], tokenizer.Encode("a   b")); // "a" | "  " | " b"
            Assert.Equal(['a', Spaces], tokenizer.Encode("a  "));
            Assert.Equal(['a', NewLines, 'b'], tokenizer.Encode("a\n\nb")); // \s*[\r\n]+ keeps "\n\n"
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void A_piece_that_is_a_token_is_that_token(string format)
    {
        string folder = Write(format);
        try
        {
            var tokenizer = Load(folder);
            // " the": 258. In tokenizer.json "xyz" (269) is a token no merge makes: ignore_merges takes it whole;
            // the tiktoken file has no "xyz" (its 269 is <|begin_of_text|>): x y z.
            Assert.Equal([GThe], tokenizer.Encode(" the"));
            Assert.Equal(format == "tiktoken" ? ['x', 'y', 'z'] : [Xyz], tokenizer.Encode("xyz"));
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Special_tokens_are_kept_whole_and_decode_to_their_text(string format)
    {
        string folder = Write(format);
        try
        {
            var tokenizer = Load(folder);
            const string text = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>";
            Assert.True(tokenizer.TryGetSpecialId("<|begin_of_text|>", out int bos));
            Assert.True(tokenizer.TryGetSpecialId("<|start_header_id|>", out int sh));
            Assert.True(tokenizer.TryGetSpecialId("<|end_header_id|>", out int eh));
            Assert.True(tokenizer.TryGetSpecialId("<|eot_id|>", out int eot));
            int[] expected = [bos, sh, 'u', 's', 'e', 'r', eh, NewLines, 'h', 'i', eot];
            Assert.Equal(expected, tokenizer.Encode(text));
            Assert.Equal(text, tokenizer.Decode(expected));
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Decode_of_encode_is_the_text_and_token_bytes_concatenate_to_its_utf8(string format)
    {
        string folder = Write(format);
        try
        {
            var tokenizer = Load(folder);
            foreach (string text in new[] { "Hello, world! It's 2024.\n\n  done  ", "café crème, naïve e\u0301", "中文 text 😀 emoji\t tab" })
            {
                var ids = tokenizer.Encode(text);
                Assert.Equal(text, tokenizer.Decode(ids)); // no NFC in Llama 3: e + U+0301 stays as it is
                Assert.Equal(Encoding.UTF8.GetBytes(text), ConcatTokenBytes(tokenizer.TokenBytes, ids));
            }
        }
        finally { Delete(folder); }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Save_writes_files_that_reload_to_the_same_ids(string format)
    {
        string folder = Write(format), copy = NewFolder("llama3-copy");
        try
        {
            var tokenizer = Load(folder);
            tokenizer.Save(copy);
            var reloaded = Load(copy);
            Assert.Equal(tokenizer.GetType(), reloaded.GetType());
            const string text = "<|begin_of_text|>I'M don't 12345\n\n中文 😀 xyz<|eot_id|>";
            Assert.Equal(tokenizer.Encode(text), reloaded.Encode(text));
            Assert.Equal(tokenizer.EndOfTextId, reloaded.EndOfTextId);
            Assert.Equal(tokenizer.VocabularySize, reloaded.VocabularySize);
        }
        finally { Delete(folder); Delete(copy); }
    }

    [Fact]
    public void Unsupported_model_type_normalizer_or_split_regex_is_refused_naming_file_and_field()
    {
        string folder = NewFolder("llama3-bad");
        try
        {
            WriteLlama3(folder, modelType: "Unigram");
            var model = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("tokenizer.json", model.Message);
            Assert.Contains("model.type 'Unigram'", model.Message);

            // Llama 2's tokenizer.json normalizer (Prepend ▁, Replace space).
            WriteLlama3(folder, normalizer: new JsonObject { ["type"] = "Sequence", ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" }) });
            var normalizer = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("tokenizer.json: normalizer", normalizer.Message);

            WriteLlama3(folder, pattern: PreTokenizers.Llama3Pattern.Replace(@"\p{N}{1,3}", @"\p{N}+"));
            var split = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("tokenizer.json: pre_tokenizer Split pattern", split.Message);
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void A_sentencepiece_tokenizer_model_is_refused_naming_the_file()
    {
        string folder = NewFolder("llama2");
        try
        {
            // A SentencePiece model is a binary protobuf: field 1 (pieces), length-delimited.
            File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), [0x0A, 0x0B, 0x0A, 0x05, 0x3C, 0x75, 0x6E, 0x6B, 0x3E, 0x15, 0x00, 0x00, 0x00, 0x00, 0x18, 0x02]);
            var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("tokenizer.model", e.Message);
            Assert.Contains("SentencePiece", e.Message);
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void A_tiktoken_file_without_every_single_byte_is_refused_naming_the_file()
    {
        string folder = NewFolder("tiktoken-bad");
        try
        {
            WriteTiktoken(folder);
            string path = Path.Combine(folder, "original", "tokenizer.model");
            File.WriteAllLines(path, File.ReadAllLines(path).Where(line => !line.EndsWith(" 65", StringComparison.Ordinal))); // drop "A"
            var e = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("tokenizer.model", e.Message);
            Assert.Contains("0x41", e.Message);
        }
        finally { Delete(folder); }
    }
}
