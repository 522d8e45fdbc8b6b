using System.Text;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Text;
using static GtaIlgpu.Tests.Text.TokenizerFixtures;

namespace GtaIlgpu.Tests.Text;

/// <summary>
/// Qwen2 / Qwen3 tokenizers from vocab.json + merges.txt + tokenizer_config.json. Expected ids are worked out by hand:
/// the text is cut by Qwen2's PRETOKENIZE_REGEX (transformers' tokenization_qwen2.py), each piece's UTF-8 bytes
/// start as ids = byte values, and the merges of <see cref="TokenizerFixtures"/> apply lowest rank first.
/// </summary>
public class Qwen2TokenizerTests
{
    private static HuggingFaceBpeTokenizer LoadQwen(string folder) =>
        Assert.IsType<HuggingFaceBpeTokenizer>(ModelCheckpoint.LoadTokenizer(folder));

    [Fact]
    public void The_folder_loads_as_qwen2_with_its_added_tokens_and_names()
    {
        string folder = NewFolder("qwen");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            Assert.Equal("qwen2", tokenizer.PreTokenizer);
            Assert.True(tokenizer.NormalizesNfc);
            Assert.Equal(272, tokenizer.VocabularySize); // 269 BPE tokens + 3 added
            Assert.Equal(ImEnd, tokenizer.EndOfTextId);   // eos_token "<|im_end|>"
            Assert.Equal(QwenEndOfText, tokenizer.PadId); // pad_token "<|endoftext|>"
            Assert.Equal(-1, tokenizer.BeginOfTextId);    // bos_token null
            Assert.True(tokenizer.TryGetSpecialId("<|im_start|>", out int start));
            Assert.Equal(ImStart, start);
            Assert.False(tokenizer.TryGetSpecialId("<|begin_of_text|>", out _));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Digits_are_split_one_by_one()
    {
        string folder = NewFolder("qwen-digits");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            // \p{N} makes every digit its own piece, so the merges 1 2, 3 4, 12 3 never apply.
            Assert.Equal(['1', '2', '3', '4', '5'], tokenizer.Encode("12345"));
            // " 12": the space is its own piece (" ?[^\s\p{L}\p{N}]+" needs a non-space symbol; "\s+(?!\S)" takes it), then 1, 2.
            Assert.Equal(['a', ' ', '1', '2'], tokenizer.Encode("a 12"));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Contractions_are_case_insensitive_and_letter_runs_take_one_leading_symbol()
    {
        string folder = NewFolder("qwen-contractions");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            // "don't" → "don" | "'t": d o → do (rank 10), do n → don (11); ' t → 't (7).
            Assert.Equal([Don, QuoteT], tokenizer.Encode("don't"));
            // "I'M" → "I" | "'M" ((?i:'m) matches the capital M); ' M → 'M (rank 6). GPT-2's regex gives I | ' | M.
            Assert.Equal(['I', QuoteM], tokenizer.Encode("I'M"));
            // "X'So" → "X" | "'S" | "o" only with (?i:'s): case-sensitively "'So" would be one letter run, S o → So (rank 12).
            Assert.Equal(['X', '\'', 'S', 'o'], tokenizer.Encode("X'So"));
            // " thethe" is one letter run with its space: Ġ t h e t h e → Ġt (0), he (1, both) → Ġthe (2); t he stays.
            Assert.Equal([GThe, 't', He], tokenizer.Encode(" thethe"));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Whitespace_runs_and_newlines_follow_the_regex()
    {
        string folder = NewFolder("qwen-space");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            // "a   b" → "a" | "  " (\s+(?!\S) gives back the last space) | " b" (a letter run with its leading space).
            Assert.Equal(['a', Spaces, ' ', 'b'], tokenizer.Encode("a   b"));
            // Trailing spaces: "a" | "  " → ĠĠ.
            Assert.Equal(['a', Spaces], tokenizer.Encode("a  "));
            // "a\n\nb" → "a" | "\n\n" (\s*[\r\n]+ keeps the run; GPT-2's regex would cut it in two) | "b"; Ċ Ċ → ĊĊ (rank 8).
            Assert.Equal(['a', NewLines, 'b'], tokenizer.Encode("a\n\nb"));
            // "x.\n\ny": " ?[^\s\p{L}\p{N}]+[\r\n]*" keeps the newlines with the full stop: ". \n \n" has no merge across . and Ċ.
            Assert.Equal(['x', '.', NewLines, 'y'], tokenizer.Encode("x.\n\ny"));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Special_tokens_are_kept_whole_inside_text()
    {
        string folder = NewFolder("qwen-special");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            const string chat = "<|im_start|>user\nhi<|im_end|><|endoftext|>";
            // "user" | "\n" | "hi" between the specials; no merge touches u s e r, Ċ alone or h i.
            int[] expected = [ImStart, 'u', 's', 'e', 'r', '\n', 'h', 'i', ImEnd, QwenEndOfText];
            Assert.Equal(expected, tokenizer.Encode(chat));
            Assert.Equal(chat, tokenizer.Decode(expected));
            Assert.Equal(Encoding.UTF8.GetBytes("<|im_end|>"), tokenizer.TokenBytes(ImEnd));
        }
        finally { Delete(folder); }
    }

    [Theory]
    [InlineData("Hello, world! It's 2024.\n\n  done  ")]
    [InlineData("café crème, naïve")]
    [InlineData("中文 text 😀 emoji\t tab")]
    public void Decode_of_encode_is_the_text_and_token_bytes_concatenate_to_its_utf8(string text)
    {
        string folder = NewFolder("qwen-roundtrip");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            var ids = tokenizer.Encode(text);
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.Equal(Encoding.UTF8.GetBytes(text), ConcatTokenBytes(tokenizer.TokenBytes, ids));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Text_is_nfc_normalised_before_bpe_where_the_runtime_can()
    {
        string folder = NewFolder("qwen-nfc");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            // e + U+0301 (combining acute) is "é" after NFC: the two UTF-8 bytes C3 A9, not 65 CC 81. Under
            // InvariantGlobalization (this project) .NET cannot normalise, and the text stays decomposed.
            Assert.True(tokenizer.NormalizesNfc);
            Assert.Equal(ByteLevelBpeTokenizer.NfcAvailable ? [0xC3, 0xA9] : [0x65, 0xCC, 0x81], tokenizer.Encode("e\u0301"));
            Assert.Equal([0xC3, 0xA9], tokenizer.Encode("\u00e9"));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Save_writes_files_that_reload_to_the_same_ids()
    {
        string folder = NewFolder("qwen-save"), copy = NewFolder("qwen-save-copy");
        try
        {
            WriteQwen2(folder);
            var tokenizer = LoadQwen(folder);
            tokenizer.Save(copy);
            var reloaded = LoadQwen(copy);
            const string text = "<|im_start|>I'M don't 12345\n\n中文 😀<|im_end|>";
            Assert.Equal(tokenizer.Encode(text), reloaded.Encode(text));
            Assert.Equal(tokenizer.EndOfTextId, reloaded.EndOfTextId);
            Assert.Equal(tokenizer.VocabularySize, reloaded.VocabularySize);
        }
        finally { Delete(folder); Delete(copy); }
    }

    [Fact]
    public void Missing_merges_or_a_merge_of_unknown_tokens_is_refused_naming_the_file()
    {
        string folder = NewFolder("qwen-bad");
        try
        {
            WriteQwen2(folder, withMerges: false);
            var missing = Assert.Throws<FileNotFoundException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("merges.txt", missing.Message);

            WriteQwen2(folder, merges: [.. Merges, ("zz", "q")]);
            var unknown = Assert.Throws<InvalidDataException>(() => ModelCheckpoint.LoadTokenizer(folder));
            Assert.Contains("merges.txt:15", unknown.Message); // line 1 is "#version", the 14th merge is line 15
            Assert.Contains("'zz q'", unknown.Message);
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Qwen_tokenizer_json_with_nfc_and_qwen2_split_reads_digits_one_by_one()
    {
        string folder = NewFolder("qwen-json");
        try
        {
            // Qwen's tokenizer.json: normalizer NFC, Split with PRETOKENIZE_REGEX, then ByteLevel.
            WriteLlama3(folder, pattern: PreTokenizers.Qwen2Pattern, normalizer: new System.Text.Json.Nodes.JsonObject { ["type"] = "NFC" });
            var tokenizer = LoadQwen(folder);
            Assert.Equal("qwen2", tokenizer.PreTokenizer);
            Assert.True(tokenizer.NormalizesNfc);
            Assert.Equal(['1', '2', '3', '4', '5'], tokenizer.Encode("12345"));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void Gpt2_token_bytes_map_back_through_the_byte_alphabet()
    {
        string folder = NewFolder("gpt2-bytes");
        try
        {
            WriteQwen2(folder);
            File.Delete(Path.Combine(folder, "tokenizer_config.json"));
            var gpt2 = Assert.IsType<Gpt2BpeTokenizer>(ModelCheckpoint.LoadTokenizer(folder));
            Assert.Equal(" the"u8.ToArray(), gpt2.TokenBytes(GThe)); // "Ġthe"
            Assert.Equal(new byte[] { 0x0A, 0x0A }, gpt2.TokenBytes(NewLines)); // "ĊĊ"
            const string text = "Hi 中文 😀\n\n";
            Assert.Equal(Encoding.UTF8.GetBytes(text), ConcatTokenBytes(gpt2.TokenBytes, gpt2.Encode(text)));
        }
        finally { Delete(folder); }
    }

    [Fact]
    public void A_gpt2_folder_still_loads_as_gpt2()
    {
        string folder = NewFolder("gpt2");
        try
        {
            WriteQwen2(folder);
            File.Delete(Path.Combine(folder, "tokenizer_config.json")); // vocab.json + merges.txt alone: GPT-2, as before
            Assert.IsType<Gpt2BpeTokenizer>(ModelCheckpoint.LoadTokenizer(folder));
        }
        finally { Delete(folder); }
    }
}
