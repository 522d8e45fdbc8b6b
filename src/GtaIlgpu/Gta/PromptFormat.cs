using GtaIlgpu.Rewards;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>
/// The prompt and completion formats, as text and as token ids. The six tags and end-of-text are
/// single special tokens of the tokenizer; everything else goes through its BPE (the compact vocabulary
/// of a model built from scratch, or a Hugging Face GPT-2's vocabulary with the tags added).
/// </summary>
public sealed class PromptFormat
{
    public static IReadOnlyList<string> Tags => CompletionTags.All;

    private readonly ITextTokenizer _tokenizer;

    public PromptFormat(ITextTokenizer tokenizer, string taskName, IReadOnlyList<string> labels)
    {
        _tokenizer = tokenizer;
        TaskName = taskName;
        Labels = labels;
        foreach (var special in SpecialStrings) // fails early if the tokenizer lacks a tag
            if (!tokenizer.TryGetSpecialId(special, out _))
                throw new ArgumentException($"the tokenizer has no single token for {special}; the GTA format needs the six tags and end-of-text as special tokens");
        EndOfText = SpecialId(CompletionTags.EndOfText);
        GuessOpenId = SpecialId(CompletionTags.GuessOpen);
        GuessCloseId = SpecialId(CompletionTags.GuessClose);
    }


    public string TaskName { get; }
    public IReadOnlyList<string> Labels { get; }
    public int EndOfText { get; }
    public int GuessOpenId { get; }
    public int GuessCloseId { get; }
    public ITextTokenizer Tokenizer => _tokenizer;

    private int SpecialId(string special) => _tokenizer.TryGetSpecialId(special, out int id) ? id : throw new KeyNotFoundException(special);

    /// <summary>The instruction line names the reply format, so one base model can follow each template on request.</summary>
    public static string FormatHint(CompletionTemplate template) => template switch
    {
        CompletionTemplate.GuessThinkAnswer => "Reply with a guess, a thought and an answer.",
        CompletionTemplate.ThinkAnswer => "Reply with a thought and an answer.",
        _ => "Reply with an answer.",
    };

    private string Head(CompletionTemplate template) =>
        $"Task: {TaskName}. Classify the text as one of: {string.Join(", ", Labels)}. {FormatHint(template)}\nText:";

    /// <summary>The instruction, the label set, the reply format and the text, ending where the completion starts.</summary>
    public string PromptText(string text, CompletionTemplate template) => $"{Head(template)} {text}\nReply:";

    public int[] Prompt(string text, CompletionTemplate template) => Encode(PromptText(text, template));

    /// <summary>Tokens of the prompt without its text: the instruction line (with the label list) and "Reply:".</summary>
    public int InstructionTokens(CompletionTemplate template) => Encode(Head(template)).Length + Encode("\nReply:").Length;

    /// <summary>The longest instruction over the three templates: what a window must hold besides text and completion.</summary>
    public int LongestInstructionTokens => Enum.GetValues<CompletionTemplate>().Max(InstructionTokens);

    /// <summary>The prompt's tokens, cutting the text (not the instruction) so it fits in maxTokens.</summary>
    public int[] Prompt(string text, CompletionTemplate template, int maxTokens)
    {
        var full = Prompt(text, template);
        if (full.Length <= maxTokens) return full;
        var prefix = Encode(Head(template));
        var suffix = Encode("\nReply:");
        int room = maxTokens - prefix.Length - suffix.Length;
        if (room < 1) throw new ArgumentException($"the instruction alone needs {prefix.Length + suffix.Length} tokens, more than the {maxTokens} allowed");
        var body = Encode(" " + text);
        return [.. prefix, .. body.Take(room), .. suffix];
    }

    /// <summary>Completion tokens (guess and answer both <paramref name="label"/>) followed by end-of-text.</summary>
    public int[] Completion(CompletionTemplate template, string label, string think)
    {
        var ids = Encode(CompletionTags.Render(template, label, label, think)).ToList();
        ids.Add(EndOfText);
        return ids.ToArray();
    }

    /// <summary>The teacher-forced guess for SFT: &lt;guess&gt;GOLD&lt;/guess&gt;.</summary>
    public int[] Guess(string label) => Encode(CompletionTags.GuessSpan(label));

    /// <summary>
    /// A short "reasoning" used when priming the format: the first words of the text, quoted. It gives
    /// the think span content that depends on the input without knowing anything of the task.
    /// </summary>
    public static string PrimingThought(string text, int words = 3)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return " it says " + string.Join(' ', parts.Take(words)) + " ";
    }

    /// <summary>Tokens of a string in which tags and end-of-text are special tokens.</summary>
    public int[] Encode(string text) => SpecialTokenSplitter.Encode(text, SpecialStrings, SpecialId, _tokenizer.Encode);

    private static readonly string[] SpecialStrings = [.. CompletionTags.All, CompletionTags.EndOfText];

    public string Decode(IEnumerable<int> ids) => _tokenizer.Decode(ids);

    /// <summary>Decoded completion text without the trailing end-of-text (the reward parser's input).</summary>
    public string DecodeCompletion(IReadOnlyList<int> completion)
    {
        int length = completion.Count;
        int eot = -1;
        for (int i = 0; i < completion.Count; i++) if (completion[i] == EndOfText) { eot = i; break; }
        if (eot >= 0) length = eot;
        return _tokenizer.Decode(completion.Take(length));
    }

    /// <summary>
    /// Index range [start, end) of the guess span in completion tokens: from &lt;guess&gt; through the first
    /// &lt;/guess&gt;; (0, 0) when the completion has no guess. A guess that is never closed runs to the end
    /// of the completion: every token after &lt;guess&gt; is still inside the guess by the format's own
    /// structure, and the guess is the cross-entropy's span, not RL's. The missing &lt;/guess&gt; is what the
    /// SFT target (&lt;guess&gt;GOLD&lt;/guess&gt;) teaches, so such a completion gets no RL gradient at all and
    /// its zero format reward acts only through its group's advantages. The alternative — ending the span
    /// before the next tag, so RL trains the token written instead of &lt;/guess&gt; — was tried on the default
    /// run: validation accuracy at step 120 fell from 75.0% to 69.5% (one seed), so it was not kept.
    /// </summary>
    public (int Start, int End) GuessSpan(IReadOnlyList<int> completion)
    {
        int open = -1;
        for (int i = 0; i < completion.Count; i++)
        {
            if (open < 0)
            {
                if (completion[i] == GuessOpenId) open = i;
            }
            else if (completion[i] == GuessCloseId) return (open, i + 1);
        }
        return open < 0 ? (0, 0) : (open, completion.Count);
    }

    /// <summary>Vocabulary for a dataset: its texts, label names and the template words, plus the tags as specials.</summary>
    public static CompactVocabulary BuildVocabulary(IEnumerable<string> texts, IReadOnlyList<string> labels, string taskName)
    {
        var probe = labels.Select(l => $"{l} {l}");
        var template = new[] { CompletionTemplate.GuessThinkAnswer, CompletionTemplate.ThinkAnswer, CompletionTemplate.Answer }
            .Select(t => $"Task: {taskName}. Classify the text as one of: {string.Join(", ", labels)}. {FormatHint(t)}\nText: x\nReply: it says ");
        return CompactVocabulary.Build(texts.Concat(probe).Concat(template).Concat(labels), Tags);
    }
}
