using System.Runtime.InteropServices;
using System.Text;
using GtaIlgpu.Rewards;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>How the six GTA tags reach the model.</summary>
public enum TagMode
{
    /// <summary>Each tag (and &lt;|endoftext|&gt;) is one special token: models built from scratch and the GPT-2 path, which adds them.</summary>
    SpecialTokens,
    /// <summary>The tags are ordinary text that the tokenizer splits as it likes (a pretrained Qwen/Llama): nothing is added to its vocabulary.</summary>
    Text,
}

/// <summary>
/// How prompts and completions are written besides the task: the tags' mode, the token that ends a
/// completion (default: the &lt;|endoftext|&gt; special with special tags; the chat template's end of turn,
/// else the tokenizer's end-of-text, with text tags) and the chat template (null: the plain prompt).
/// </summary>
/// <param name="Begin">Text a plain (non-chat) prompt starts with: a base Llama 3's &lt;|begin_of_text|&gt;, which its
/// Hugging Face tokenizer adds to every encoding (Qwen has no bos); chat templates write their own.</param>
public sealed record PromptOptions(TagMode Tags = TagMode.SpecialTokens, int? EndId = null, ChatTemplate? Chat = null, string? Begin = null);

/// <summary>
/// The prompt and completion formats, as text and as token ids. With <see cref="TagMode.SpecialTokens"/>
/// the six tags and end-of-text are single special tokens of the tokenizer and everything else goes
/// through its BPE (the compact vocabulary of a model built from scratch, or a Hugging Face GPT-2's
/// vocabulary with the tags added). With <see cref="TagMode.Text"/> the tags are text that a pretrained
/// tokenizer splits into several pieces, a piece possibly straddling a tag's edge (">A", "&lt;/"). Spans are
/// therefore located by byte offsets in the concatenated <see cref="ITextTokenizer.TokenBytes"/>, one
/// rule for both modes (see <see cref="GuessSpan"/>).
/// </summary>
public sealed class PromptFormat
{
    public static IReadOnlyList<string> Tags => CompletionTags.All;

    private readonly ITextTokenizer _tokenizer;
    private readonly string[] _specialStrings;

    public PromptFormat(ITextTokenizer tokenizer, string taskName, IReadOnlyList<string> labels, PromptOptions? options = null)
    {
        _tokenizer = tokenizer;
        TaskName = taskName;
        Labels = labels;
        Options = options ?? new PromptOptions();
        Chat = Options.Chat;
        if (Options.Tags == TagMode.SpecialTokens)
        {
            foreach (var special in TagSpecials) // fails early if the tokenizer lacks a tag
                if (!tokenizer.TryGetSpecialId(special, out _))
                    throw new ArgumentException($"the tokenizer has no single token for {special}; the GTA format needs the six tags and end-of-text as special tokens (or tags as text: {nameof(TagMode)}.{nameof(TagMode.Text)})");
            GuessOpenId = SpecialId(CompletionTags.GuessOpen);
            GuessCloseId = SpecialId(CompletionTags.GuessClose);
            _specialStrings = [.. TagSpecials, .. (Chat?.Specials ?? []).Where(s => !TagSpecials.Contains(s) && tokenizer.TryGetSpecialId(s, out _))];
            EndOfText = Options.EndId ?? SpecialId(Chat?.EndOfTurn ?? CompletionTags.EndOfText);
        }
        else
        {
            GuessOpenId = GuessCloseId = -1;
            // Only the chat template's specials are split out here; the tags stay text for the tokenizer.
            _specialStrings = [.. (Chat?.Specials ?? []).Where(s => tokenizer.TryGetSpecialId(s, out _))];
            EndOfText = Options.EndId
                ?? (Chat is not null ? SpecialId(Chat.EndOfTurn) : tokenizer.EndOfTextId);
        }
        if (EndOfText < 0 || EndOfText >= tokenizer.VocabularySize)
            throw new ArgumentException($"the end-of-completion id {EndOfText} is not a token of the vocabulary of {tokenizer.VocabularySize}; give the family's end-of-turn id");
    }

    public string TaskName { get; }
    public IReadOnlyList<string> Labels { get; }
    public PromptOptions Options { get; }

    /// <summary>The chat template the prompts follow; null for the plain prompt.</summary>
    public ChatTemplate? Chat { get; }

    /// <summary>The id that ends a completion: rollouts stop at it (the end-of-turn of a chat model, else end-of-text).</summary>
    public int EndOfText { get; }

    /// <summary>The &lt;guess&gt; / &lt;/guess&gt; special ids; −1 when the tags are text.</summary>
    public int GuessOpenId { get; }
    public int GuessCloseId { get; }
    public ITextTokenizer Tokenizer => _tokenizer;

    private int SpecialId(string special) => _tokenizer.TryGetSpecialId(special, out int id) ? id : throw new KeyNotFoundException($"the tokenizer has no special token {special}");

    /// <summary>The instruction line names the reply format, so one base model can follow each template on request.</summary>
    public static string FormatHint(CompletionTemplate template) => template switch
    {
        CompletionTemplate.GuessThinkAnswer => "Reply with a guess, a thought and an answer.",
        CompletionTemplate.ThinkAnswer => "Reply with a thought and an answer.",
        _ => "Reply with an answer.",
    };

    private string Head(CompletionTemplate template) =>
        $"Task: {TaskName}. Classify the text as one of: {string.Join(", ", Labels)}. {FormatHint(template)}\nText:";

    /// <summary>The system turn of a chat prompt: the plain prompt's instruction line without "Text:".</summary>
    public string Instruction(CompletionTemplate template) =>
        $"Task: {TaskName}. Classify the text as one of: {string.Join(", ", Labels)}. {FormatHint(template)}";

    /// <summary>A prompt as instruction, text and end: plain "{head} {text}\nReply:", or the chat template's turns.</summary>
    private (string Prefix, string Body, string Suffix) Parts(string text, CompletionTemplate template) => Chat is null
        ? (Options.Begin + Head(template), " " + text, PlainSuffix)
        : (Chat.Prefix(Instruction(template)), Chat.UserContent(text), Chat.Suffix);

    private const string PlainSuffix = "\nReply:";

    /// <summary>What every prompt ends with, where the completion starts: "\nReply:" or the open assistant turn.</summary>
    public string PromptEnd => Chat?.Suffix ?? PlainSuffix;

    /// <summary>The instruction, the label set, the reply format and the text, ending where the completion starts.</summary>
    public string PromptText(string text, CompletionTemplate template)
    {
        var (prefix, body, suffix) = Parts(text, template);
        return prefix + body + suffix;
    }

    public int[] Prompt(string text, CompletionTemplate template) => Encode(PromptText(text, template));

    /// <summary>Tokens of the prompt without its text: the instruction (with the label list) and the prompt's end.</summary>
    public int InstructionTokens(CompletionTemplate template)
    {
        var (prefix, _, suffix) = Parts("", template);
        return Encode(prefix).Length + Encode(suffix).Length;
    }

    /// <summary>The longest instruction over the three templates: what a window must hold besides text and completion.</summary>
    public int LongestInstructionTokens => Enum.GetValues<CompletionTemplate>().Max(InstructionTokens);

    /// <summary>The prompt's tokens, cutting the text (not the instruction) so it fits in maxTokens.</summary>
    public int[] Prompt(string text, CompletionTemplate template, int maxTokens)
    {
        var full = Prompt(text, template);
        if (full.Length <= maxTokens) return full;
        var (prefixText, bodyText, suffixText) = Parts(text, template);
        var prefix = Encode(prefixText);
        var suffix = Encode(suffixText);
        int room = maxTokens - prefix.Length - suffix.Length;
        if (room < 1) throw new ArgumentException($"the instruction alone needs {prefix.Length + suffix.Length} tokens, more than the {maxTokens} allowed");
        var body = Encode(bodyText);
        return [.. prefix, .. body.Take(room), .. suffix];
    }

    /// <summary>Completion tokens (guess and answer both <paramref name="label"/>) followed by the end id.</summary>
    public int[] Completion(CompletionTemplate template, string label, string think) =>
        [.. AfterPromptEnd(CompletionTags.Render(template, label, label, think)), EndOfText];

    /// <summary>
    /// The teacher-forced guess for SFT: &lt;guess&gt;GOLD&lt;/guess&gt; as tokens that follow a prompt. See
    /// <see cref="AfterPromptEnd"/>; with special tags it is the plain encoding of the span.
    /// </summary>
    public int[] Guess(string label) => AfterPromptEnd(CompletionTags.GuessSpan(label));

    /// <summary>
    /// Tokens of a completion text as they follow a prompt. A BPE tokenizer may tokenize a text
    /// differently after other text (":" + "&lt;" may merge into ":&lt;"), so the text is encoded together with
    /// the prompt's fixed end (<see cref="PromptEnd"/>) and the tokens after the end's bytes are taken,
    /// provided the joint encoding splits exactly there and starts with the end's own tokens — the
    /// prompt's tokens are fixed (rollouts condition on them), so only then is the joint tokenization a
    /// continuation of them. Otherwise the text alone is encoded. Either way the tokens' bytes must be the
    /// text's UTF-8 (checked). With special tags every completion starts with a tag, a token boundary, so
    /// the joint encoding would split there anyway: the text is encoded alone, as before (and unchecked:
    /// a compact vocabulary writes words it never saw as &lt;|unk|&gt;, whose bytes do not spell them).
    /// </summary>
    public int[] AfterPromptEnd(string completionText)
    {
        if (Options.Tags == TagMode.SpecialTokens) return Encode(completionText);
        var end = Encode(PromptEnd);
        var joint = Encode(PromptEnd + completionText);
        int endBytes = Encoding.UTF8.GetByteCount(PromptEnd), at = 0, k = 0;
        while (k < joint.Length && at < endBytes) at += _tokenizer.TokenBytes(joint[k++]).Length;
        int[] tokens = at == endBytes && joint.AsSpan(0, k).SequenceEqual(end) ? joint[k..] : Encode(completionText);
        if (!Bytes(tokens).AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(completionText)))
            throw new InvalidOperationException($"the tokens of '{completionText}' do not spell it");
        return tokens;
    }

    /// <summary>The concatenated bytes of tokens (<see cref="ITextTokenizer.TokenBytes"/>).</summary>
    public byte[] Bytes(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids) bytes.AddRange(_tokenizer.TokenBytes(id));
        return bytes.ToArray();
    }

    /// <summary>
    /// A short "reasoning" used when priming the format: the first words of the text, quoted. It gives
    /// the think span content that depends on the input without knowing anything of the task.
    /// </summary>
    public static string PrimingThought(string text, int words = 3)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return " it says " + string.Join(' ', parts.Take(words)) + " ";
    }

    /// <summary>
    /// Tokens of a string. With special tags, tags and end-of-text are special tokens; in both modes the
    /// chat template's specials that the tokenizer has are single tokens; the rest goes through its BPE.
    /// </summary>
    public int[] Encode(string text) => _specialStrings.Length == 0
        ? _tokenizer.Encode(text)
        : SpecialTokenSplitter.Encode(text, _specialStrings, SpecialId, _tokenizer.Encode);

    private static readonly string[] TagSpecials = [.. CompletionTags.All, CompletionTags.EndOfText];

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids);

    /// <summary>Decoded completion text without the trailing end-of-text (the reward parser's input).</summary>
    public string DecodeCompletion(IReadOnlyList<int> completion)
    {
        int length = completion.Count;
        int eot = -1;
        for (int i = 0; i < completion.Count; i++) if (completion[i] == EndOfText) { eot = i; break; }
        if (eot >= 0) length = eot;
        // A model's embedding may have rows past its tokenizer (Qwen's 151,936 over 151,665 tokens): such an
        // id sampled in a rollout decodes as U+FFFD instead of stopping the run.
        var text = new System.Text.StringBuilder();
        int start = 0;
        for (int i = 0; i <= length; i++)
        {
            if (i < length && IsKnown(completion[i])) continue;
            if (i > start) text.Append(_tokenizer.Decode(completion.Skip(start).Take(i - start)));
            if (i < length) text.Append('\uFFFD');
            start = i + 1;
        }
        return text.ToString();
    }

    private bool IsKnown(int id) => id >= 0 && id < _tokenizer.VocabularySize;

    private static readonly byte[] Replacement = [0xEF, 0xBF, 0xBD];

    /// <summary>A token's bytes; an id past the tokenizer's vocabulary stands for U+FFFD, as it decodes.</summary>
    private byte[] BytesOf(int id) => IsKnown(id) ? _tokenizer.TokenBytes(id) : Replacement;

    /// <summary>
    /// Index range [start, end) of the guess span in completion tokens; (0, 0) when the completion has no
    /// guess. Located by bytes, the same rule whether the tags are special tokens or text: in the
    /// concatenated <see cref="ITextTokenizer.TokenBytes"/> of the completion, the guess runs from the first
    /// "&lt;guess&gt;" through the end of the first "&lt;/guess&gt;" after it, and the span is every token whose
    /// bytes overlap that byte range. With special tags each tag is one token, so this is today's span
    /// from the &lt;guess&gt; token through the &lt;/guess&gt; token.
    /// <para>Straddling tokens: a token that overlaps the guess by even one byte belongs to the guess span
    /// (a piece "&gt;A" that opens the label with the tag's last byte; a piece "&lt;/guess&gt;&lt;" that also starts
    /// &lt;think&gt;). The guess span is what the SFT cross-entropy trains (its target, the encoded
    /// &lt;guess&gt;GOLD&lt;/guess&gt;, spells exactly the guess), so RL never trains such a token and no token is
    /// trained by both losses.</para>
    /// <para>A guess that is never closed runs to the end of the completion: every token after &lt;guess&gt;
    /// is still inside the guess by the format's own structure, and the guess is the cross-entropy's span,
    /// not RL's. The missing &lt;/guess&gt; is what the SFT target (&lt;guess&gt;GOLD&lt;/guess&gt;) teaches, so such a
    /// completion gets no RL gradient at all and its zero format reward acts only through its group's
    /// advantages. The alternative — ending the span before the next tag, so RL trains the token written
    /// instead of &lt;/guess&gt; — was tried on the default run: validation accuracy at step 120 fell from
    /// 75.0% to 69.5% (one seed), so it was not kept.</para>
    /// </summary>
    public (int Start, int End) GuessSpan(IReadOnlyList<int> completion)
    {
        var starts = new int[completion.Count + 1]; // starts[k]: byte offset of token k; starts[Count]: total
        var bytes = new List<byte>();
        for (int k = 0; k < completion.Count; k++)
        {
            starts[k] = bytes.Count;
            bytes.AddRange(BytesOf(completion[k]));
        }
        starts[completion.Count] = bytes.Count;
        var span = CollectionsMarshal.AsSpan(bytes);
        int open = span.IndexOf(GuessOpenBytes);
        if (open < 0) return (0, 0);
        int afterOpen = open + GuessOpenBytes.Length;
        int close = span[afterOpen..].IndexOf(GuessCloseBytes);
        // The first token overlapping [open, end): the last token starting at or before the open byte.
        int first = 0;
        while (starts[first + 1] <= open) first++;
        if (close < 0) return (first, completion.Count);
        int endByte = afterOpen + close + GuessCloseBytes.Length;
        int last = first; // one past the last token that starts before endByte
        while (last < completion.Count && starts[last] < endByte) last++;
        return (first, last);
    }

    private static readonly byte[] GuessOpenBytes = Encoding.UTF8.GetBytes(CompletionTags.GuessOpen);
    private static readonly byte[] GuessCloseBytes = Encoding.UTF8.GetBytes(CompletionTags.GuessClose);

    /// <summary>Vocabulary for a dataset: its texts, label names and the template words, plus the tags as specials.</summary>
    public static CompactVocabulary BuildVocabulary(IEnumerable<string> texts, IReadOnlyList<string> labels, string taskName)
    {
        var probe = labels.Select(l => $"{l} {l}");
        var template = new[] { CompletionTemplate.GuessThinkAnswer, CompletionTemplate.ThinkAnswer, CompletionTemplate.Answer }
            .Select(t => $"Task: {taskName}. Classify the text as one of: {string.Join(", ", labels)}. {FormatHint(t)}\nText: x\nReply: it says ");
        return CompactVocabulary.Build(texts.Concat(probe).Concat(template).Concat(labels), Tags);
    }

    /// <summary>Where a model folder records a format other than the default (special tags, &lt;|endoftext|&gt;, no chat).</summary>
    public const string OptionsFile = "gta_format.json";

    /// <summary>The options file's text, or null for the default format (whose folders carry no such file, as before).</summary>
    public string? OptionsJson()
    {
        if (Options.Tags == TagMode.SpecialTokens && Options.EndId is null && Chat is null && Options.Begin is null) return null;
        var json = new System.Text.Json.Nodes.JsonObject
        {
            ["tags"] = Options.Tags == TagMode.Text ? "text" : "special",
            ["end_id"] = EndOfText,
            ["chat"] = Chat?.Name,
            ["begin"] = Options.Begin,
        };
        return json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes <see cref="OptionsFile"/> into a model folder when the format is not the default.</summary>
    public void SaveOptions(string folder)
    {
        if (OptionsJson() is { } json) Common.AtomicFile.WriteText(Path.Combine(folder, OptionsFile), json);
    }

    /// <summary>The options a folder recorded; the default format when it has no <see cref="OptionsFile"/>.</summary>
    public static PromptOptions LoadOptions(string folder)
    {
        string path = Path.Combine(folder, OptionsFile);
        if (!File.Exists(path)) return new PromptOptions();
        try
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty");
            var tags = json["tags"]?.GetValue<string>() switch
            {
                "text" => TagMode.Text,
                "special" => TagMode.SpecialTokens,
                var other => throw new InvalidDataException($"{path}: tags '{other}' is neither text nor special"),
            };
            int? endId = json["end_id"]?.GetValue<int>();
            var chat = json["chat"]?.GetValue<string>() is { } name ? ChatTemplate.ByName(name, path) : null;
            return new PromptOptions(tags, endId, chat, json["begin"]?.GetValue<string>());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a format options file ({e.Message})");
        }
    }
}
