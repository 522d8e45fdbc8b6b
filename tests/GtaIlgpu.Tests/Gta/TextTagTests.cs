using System.Text;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// GTA tags spelled by BPE: with a tokenizer that splits every tag into several pieces (some straddling
/// a tag's edge), the guess span, the RL mask, the SFT targets, the rewards and the end of a rollout agree,
/// checked on the trainer's own batches. And the special-token mode still gives today's ids and spans.
/// </summary>
public class TextTagTests
{
    private static readonly string[] ChatSpecials = ["<|im_start|>", "<|im_end|>"];

    private static PromptFormat TextFormat(bool chat, IReadOnlyList<string> labels, int? endId = null) =>
        new(PieceTokenizer.ForTests(ChatSpecials), "sentiment", labels,
            new PromptOptions(TagMode.Text, endId, chat ? ChatTemplate.ChatMl : null));

    /// <summary>The guess's byte range by plain string search on the decoded bytes (not PromptFormat's code): [open, end), or null.</summary>
    private static (int Open, int End)? GuessBytes(byte[] bytes)
    {
        string text = Encoding.Latin1.GetString(bytes); // one char per byte: indices are byte offsets
        int open = text.IndexOf("<guess>", StringComparison.Ordinal);
        if (open < 0) return null;
        int close = text.IndexOf("</guess>", open + 7, StringComparison.Ordinal);
        return (open, close < 0 ? bytes.Length : close + 8);
    }

    private static int[] ByteStarts(ITextTokenizer tokenizer, IReadOnlyList<int> ids)
    {
        var starts = new int[ids.Count + 1];
        for (int k = 0; k < ids.Count; k++) starts[k + 1] = starts[k] + tokenizer.TokenBytes(ids[k]).Length;
        return starts;
    }

    [Fact]
    public void Every_tag_is_several_tokens_and_some_tokens_straddle_tag_edges()
    {
        var format = TextFormat(chat: false, ["positive", "negative"]);
        var tokenizer = (PieceTokenizer)format.Tokenizer;
        foreach (var tag in CompletionTags.All) Assert.True(tokenizer.Encode(tag).Length > 1, tag);
        var ids = format.Completion(CompletionTemplate.GuessThinkAnswer, "negative", " it says the food ");
        var pieces = ids.Select(tokenizer.Piece).ToList();
        Assert.Equal(["<gu", "es", "s>n", "egativ", "e", "</guess><th", "ink>"], pieces.Take(7));
        Assert.Equal(format.EndOfText, ids[^1]);
        Assert.Equal("<guess>negative</guess><think> it says the food </think><answer>negative</answer>", format.DecodeCompletion(ids));
    }

    [Fact]
    public void A_token_overlapping_the_guess_by_one_byte_belongs_to_the_guess_span_and_rl_skips_it()
    {
        var format = TextFormat(chat: false, ["positive", "negative"]);
        var tokenizer = (PieceTokenizer)format.Tokenizer;
        // "</guess><th": the whole close tag and the start of <think>: guess, so not RL.
        var negative = format.Completion(CompletionTemplate.GuessThinkAnswer, "negative", " x ");
        int straddle = Array.IndexOf(negative, tokenizer.Id("</guess><th"));
        Assert.Equal((0, straddle + 1), format.GuessSpan(negative));
        Assert.False(GtaTrainer.CountsForRl(straddle, format.GuessSpan(negative)));
        Assert.True(GtaTrainer.CountsForRl(straddle + 1, format.GuessSpan(negative))); // "ink>"
        // "ve</" straddles the label's end and the close's start, "guess><th" the close's end and <think>: both guess.
        var positive = format.Completion(CompletionTemplate.GuessThinkAnswer, "positive", " x ");
        int close = Array.IndexOf(positive, tokenizer.Id("guess><th"));
        Assert.Equal(tokenizer.Id("ve</"), positive[close - 1]);
        Assert.Equal((0, close + 1), format.GuessSpan(positive));
        Assert.True(GtaTrainer.CountsForRl(close + 1, format.GuessSpan(positive)));
        // Text before the guess; a token straddling the guess's START (":<" holds its first byte) is guess too.
        int[] late = [.. tokenizer.Encode("ab:"), .. tokenizer.Encode("guess>positive</guess><think>")];
        late[2] = tokenizer.Id(":<"); // "ab" ":<" "gu…" spells "ab:<guess>positive…"
        Assert.Equal("ab:<guess>positive</guess><think>", tokenizer.Decode(late));
        var span = format.GuessSpan(late);
        Assert.Equal(2, span.Start);
        Assert.Equal(tokenizer.Id("guess><th"), late[span.End - 1]);
        // Unclosed: to the end; none: empty.
        int[] unclosed = [.. tokenizer.Encode("<guess>positive<think> a </think>"), format.EndOfText];
        Assert.Equal((0, unclosed.Length), format.GuessSpan(unclosed));
        Assert.Equal((0, 0), format.GuessSpan(tokenizer.Encode("<think> a </think><answer>positive</answer>")));
    }

    [Theory]
    [InlineData("<guess>negative</guess><think> it says </think><answer>negative</answer>", "negative")]
    [InlineData("<guess>positive</guess><think></think><answer>negative</answer>", "positive")]
    [InlineData("<guess>positive<think> a </think><answer>positive</answer>", "positive")]
    [InlineData(" <guess>negative</guess> x <answer>negative</answer>", "negative")]
    [InlineData("<think>t</think><answer>positive</answer>", "positive")]
    public void Rewards_parse_the_same_text_whether_tags_are_special_tokens_or_text(string completion, string gold)
    {
        var data = GtaEndToEndTests.SyntheticSentiment(20, 4, 1);
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text).Append(completion), data.Labels, "sentiment");
        var special = new PromptFormat(vocabulary, "sentiment", data.Labels);
        var text = TextFormat(chat: true, data.Labels);
        string viaSpecial = special.DecodeCompletion([.. special.Encode(completion), special.EndOfText]);
        string viaText = text.DecodeCompletion([.. text.Encode(completion), text.EndOfText]);
        Assert.Equal(completion, viaText);
        Assert.Equal(viaSpecial, viaText);
        foreach (var template in Enum.GetValues<CompletionTemplate>())
            Assert.Equal(CompletionRewards.Score(viaSpecial, gold, template), CompletionRewards.Score(viaText, gold, template));
    }

    [Fact]
    public void The_sft_target_spells_the_guess_after_the_prompt_whatever_the_merges_at_the_boundary()
    {
        // Plain prompt: "…\nReply:" + "<guess>" would merge ":<", a token the prompt's own encoding does
        // not end with, so the target is the guess encoded alone. Chat: the boundary is clean.
        foreach (bool chat in new[] { false, true })
        {
            var format = TextFormat(chat, ["positive", "negative"]);
            foreach (var label in format.Labels)
            {
                var target = format.Guess(label);
                Assert.Equal($"<guess>{label}</guess>", Encoding.UTF8.GetString(format.Bytes(target)));
                Assert.Equal(format.Tokenizer.Encode($"<guess>{label}</guess>"), target);
                var prompt = format.Prompt("the food was great", CompletionTemplate.GuessThinkAnswer);
                Assert.Equal(format.PromptText("the food was great", CompletionTemplate.GuessThinkAnswer) + $"<guess>{label}</guess>",
                    format.Decode([.. prompt, .. target]));
            }
        }
    }

    [Fact]
    public void The_end_of_a_completion_is_the_configured_id()
    {
        var tokenizer = PieceTokenizer.ForTests(ChatSpecials);
        Assert.Equal(tokenizer.Id("<|im_end|>"), TextFormat(chat: true, ["a", "b"]).EndOfText);
        Assert.Equal(tokenizer.EndOfTextId, TextFormat(chat: false, ["a", "b"]).EndOfText);
        Assert.Equal(7, TextFormat(chat: true, ["a", "b"], endId: 7).EndOfText);
        var chat = TextFormat(chat: true, ["a", "b"]);
        Assert.Equal("<guess>a</guess>", chat.DecodeCompletion([.. chat.Encode("<guess>a</guess>"), chat.EndOfText, .. chat.Encode("junk")]));
        Assert.Throws<ArgumentException>(() => TextFormat(chat: false, ["a"], endId: tokenizer.VocabularySize));
    }

    private static (DatasetSplits Data, CpuBackend Backend, Transformer Model, PromptFormat Format) PrimedTextBase(bool chat, int window)
    {
        var data = GtaEndToEndTests.SyntheticSentiment(40, 4, 11);
        var format = TextFormat(chat, data.Labels);
        var backend = new CpuBackend();
        var model = new Transformer(backend, new ModelConfig(1, 16, 2, format.Tokenizer.VocabularySize, window));
        model.InitializeWeights(3);
        BaseModelBuilder.Prime(model, format, data, new BaseSettings { PrimeSteps = 200, Batch = 8, LearningRate = 1e-2f, Seed = 3, MaxSequence = window }, null);
        return (data, backend, model, format);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_trainers_batches_train_the_guess_by_sft_only_and_think_and_answer_by_rl_with_tags_as_text(bool chat)
    {
        var (data, backend, model, format) = PrimedTextBase(chat, window: 128);
        using (backend) using (model)
        {
            var tokenizer = format.Tokenizer;
            var settings = new GtaSettings
            {
                Steps = 2, PromptsPerStep = 2, Generations = 4, SftPrompts = 4, Mu = 1, MaxCompletionTokens = 40,
                Beta = 0.01f, Constraint = ConstraintKind.None, LearningRate = 1e-3f, WarmupSteps = 1, Seed = 4, Temperature = 0.7f,
            };
            var guesses = format.Labels.ToDictionary(l => l, format.Guess);
            int guessTokens = 0, rlTokens = 0, straddling = 0, sftRows = 0, ended = 0;
            var sample = new List<string>();
            using var trainer = new GtaTrainer(model, format, data.Train, settings);
            trainer.Inspect = batch =>
            {
                var w = batch.Batch;
                if (batch.Kind == BatchKind.Sft)
                {
                    for (int r = 0; r < w.Rows; r++)
                    {
                        var targets = Enumerable.Range(r * w.Sequence, w.Sequence).Where(i => w.Counted[i]).Select(i => w.HostTargets[i]).ToArray();
                        var label = format.Labels.Single(l => guesses[l].SequenceEqual(targets));
                        Assert.Equal($"<guess>{label}</guess>", Encoding.UTF8.GetString(format.Bytes(targets)));
                        sftRows++;
                    }
                    return;
                }
                for (int r = 0; r < batch.Completions.Length; r++)
                {
                    int[] p = batch.Prompts[r], c = batch.Completions[r];
                    // Rollouts stop at the configured end id, and only there.
                    int end = Array.IndexOf(c, format.EndOfText);
                    Assert.True(end < 0 ? c.Length == settings.MaxCompletionTokens : end == c.Length - 1, $"row {r}: end id at {end} of {c.Length}");
                    if (end >= 0) ended++;
                    sample.Add(string.Join("|", c.Select(id => tokenizer.Decode([id]))));
                    var starts = ByteStarts(tokenizer, c);
                    var guess = GuessBytes(format.Bytes(c));
                    for (int j = 0; j < c.Length; j++)
                    {
                        bool counted = w.Counted[r * w.Sequence + p.Length + j - 1];
                        bool overlaps = guess is { } g && starts[j] < g.End && starts[j + 1] > g.Open;
                        // RL never covers a byte of the guess, and covers every other completion token (think, answer, the end).
                        Assert.True(counted == !overlaps, $"row {r}, token {j} '{tokenizer.Decode([c[j]])}': counted {counted}, overlaps the guess {overlaps}");
                        if (overlaps) guessTokens++; else rlTokens++;
                        if (overlaps && (starts[j] < guess!.Value.Open || starts[j + 1] > guess.Value.End)) straddling++;
                    }
                }
            };
            for (int s = 0; s < settings.Steps; s++) trainer.Step();
            Assert.Equal(settings.Steps * Math.Max(settings.PromptsPerStep, settings.SftPrompts), sftRows);
            Assert.True(guessTokens > 0 && rlTokens > 0, $"the rollouts must hold guess ({guessTokens}) and RL ({rlTokens}) tokens");
            Assert.True(straddling > 0, $"no rollout token straddled the guess's edge: the rule was not exercised; rollouts:\n{string.Join("\n", sample)}");
            Assert.True(ended > 0, "no rollout ended at the end id");
        }
    }

    // ---- the special-token mode is today's --------------------------------------------------------

    /// <summary>Today's rule by ids, as PromptFormat.GuessSpan had it before spans were located by bytes.</summary>
    private static (int Start, int End) IdGuessSpan(IReadOnlyList<int> completion, int open, int close)
    {
        int at = -1;
        for (int i = 0; i < completion.Count; i++)
        {
            if (at < 0) { if (completion[i] == open) at = i; }
            else if (completion[i] == close) return (at, i + 1);
        }
        return at < 0 ? (0, 0) : (at, completion.Count);
    }

    [Fact]
    public void With_special_tags_byte_spans_are_todays_id_spans_and_encodings_are_unchanged()
    {
        var data = GtaEndToEndTests.SyntheticSentiment(20, 4, 1);
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text), data.Labels, "sentiment");
        var format = new PromptFormat(vocabulary, "sentiment", data.Labels);
        Assert.Equal(vocabulary.EndOfTextId, format.EndOfText);
        Assert.Equal(vocabulary.SpecialId("<guess>"), format.GuessOpenId);
        foreach (var label in data.Labels)
        {
            Assert.Equal(format.Encode(CompletionTags.GuessSpan(label)), format.Guess(label));
            Assert.Equal([.. format.Encode(CompletionTags.Render(CompletionTemplate.GuessThinkAnswer, label, label, " it says ")), format.EndOfText],
                format.Completion(CompletionTemplate.GuessThinkAnswer, label, " it says "));
        }
        Assert.Equal(SpecialTokenSplitter.Encode(format.PromptText("the food", CompletionTemplate.Answer), [.. CompletionTags.All, "<|endoftext|>"],
            vocabulary.SpecialId, vocabulary.Encode), format.Prompt("the food", CompletionTemplate.Answer));
        // Random token sequences, the tags drawn often: the byte rule gives the id rule's span every time.
        var rng = new GtaIlgpu.Common.Rng(5);
        int[] specials = [.. CompletionTags.All.Select(vocabulary.SpecialId), vocabulary.EndOfTextId];
        for (int trial = 0; trial < 2000; trial++)
        {
            var ids = new int[rng.NextInt(12)];
            for (int k = 0; k < ids.Length; k++)
                ids[k] = rng.NextInt(3) == 0 ? specials[rng.NextInt(specials.Length)] : vocabulary.Specials.Count + rng.NextInt(vocabulary.Gpt2Ids.Count);
            Assert.Equal(IdGuessSpan(ids, format.GuessOpenId, format.GuessCloseId), format.GuessSpan(ids));
        }
    }

    [Fact]
    public void Token_bytes_spell_the_text_for_the_compact_vocabulary_and_gpt2_bpe()
    {
        const string text = "the food was great café naïve — 😀";
        var vocabulary = CompactVocabulary.Build([text], CompletionTags.All);
        int[] ids = [.. vocabulary.Encode(text), vocabulary.SpecialId("<guess>")];
        Assert.DoesNotContain(vocabulary.UnknownId, ids);
        Assert.True(ids.Length < Encoding.UTF8.GetByteCount(text));
        Assert.Equal(Encoding.UTF8.GetBytes(text + "<guess>"), ids.SelectMany(vocabulary.TokenBytes).ToArray());
        Assert.Equal("<|endoftext|>"u8.ToArray(), vocabulary.TokenBytes(vocabulary.EndOfTextId));

        string folder = Path.Combine(Path.GetTempPath(), "gta-tokenbytes-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (vocab, merges) = GtaIlgpu.Tests.Checkpoints.Gpt2BpeTokenizerTests.SmallVocabulary();
            GtaIlgpu.Tests.Checkpoints.Gpt2BpeTokenizerTests.WriteFolder(folder, vocab, merges);
            var bpe = Gpt2BpeTokenizer.Load(folder).WithAddedTokens([.. CompletionTags.All], 300);
            Assert.Equal("<guess>", Encoding.UTF8.GetString(bpe.Encode("<guess>").SelectMany(bpe.TokenBytes).ToArray()));
            var bpeIds = bpe.Encode(" " + text + "<|endoftext|>");
            Assert.Contains(258, bpeIds); // " the" merged, one token of four bytes
            Assert.Equal(Encoding.UTF8.GetBytes(" " + text + "<|endoftext|>"), bpeIds.SelectMany(bpe.TokenBytes).ToArray());
            Assert.Equal(" the"u8.ToArray(), bpe.TokenBytes(258));
            Assert.Equal("<guess>"u8.ToArray(), bpe.TokenBytes(300));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An id past the tokenizer (a padded embedding's row, sampled in a rollout) decodes as U+FFFD and keeps the guess span's byte rule.</summary>
    [Fact]
    public void Ids_past_the_tokenizer_decode_as_replacement_characters()
    {
        var data = GtaEndToEndTests.SyntheticSentiment(20, 4, 1);
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text), data.Labels, "sentiment");
        var format = new PromptFormat(vocabulary, "sentiment", data.Labels);
        int past = vocabulary.VocabularySize + 5;
        var guess = format.Guess(data.Labels[0]);
        int[] completion = [past, .. guess, past, format.EndOfText];
        string text = format.DecodeCompletion(completion);
        Assert.Equal("\uFFFD" + format.DecodeCompletion(guess) + "\uFFFD", text);
        Assert.Equal((1, 1 + guess.Length), format.GuessSpan(completion));
    }
}
