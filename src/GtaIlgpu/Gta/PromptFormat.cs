using System.Text;
using GtaIlgpu.Rewards;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>
/// The prompt and completion formats, as text and as token ids. The six tags and end-of-text are
/// single special tokens; everything else goes through the GPT-2 BPE of the compact vocabulary.
/// </summary>
public sealed class PromptFormat
{
    public static IReadOnlyList<string> Tags => CompletionTags.All;

    private readonly CompactVocabulary _vocabulary;

    public PromptFormat(CompactVocabulary vocabulary, string taskName, IReadOnlyList<string> labels)
    {
        _vocabulary = vocabulary;
        TaskName = taskName;
        Labels = labels;
        foreach (var tag in Tags) _vocabulary.SpecialId(tag); // fails early if the vocabulary lacks the tags
        EndOfText = vocabulary.EndOfTextId;
        GuessOpenId = vocabulary.SpecialId(CompletionTags.GuessOpen);
        GuessCloseId = vocabulary.SpecialId(CompletionTags.GuessClose);
    }

    public string TaskName { get; }
    public IReadOnlyList<string> Labels { get; }
    public int EndOfText { get; }
    public int GuessOpenId { get; }
    public int GuessCloseId { get; }
    public CompactVocabulary Vocabulary => _vocabulary;

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
    public int[] Encode(string text)
    {
        var ids = new List<int>();
        int start = 0;
        while (start < text.Length)
        {
            int best = -1, bestAt = text.Length;
            string? found = null;
            foreach (var special in SpecialStrings)
            {
                int at = text.IndexOf(special, start, StringComparison.Ordinal);
                if (at >= 0 && at < bestAt) { bestAt = at; found = special; best = _vocabulary.SpecialId(special); }
            }
            if (bestAt > start) ids.AddRange(_vocabulary.Encode(text[start..bestAt]));
            if (found is null) break;
            ids.Add(best);
            start = bestAt + found.Length;
        }
        return ids.ToArray();
    }

    private static readonly string[] SpecialStrings = [.. CompletionTags.All, CompactVocabulary.EndOfText];

    public string Decode(IEnumerable<int> ids) => _vocabulary.Decode(ids);

    /// <summary>Decoded completion text without the trailing end-of-text (the reward parser's input).</summary>
    public string DecodeCompletion(IReadOnlyList<int> completion)
    {
        int length = completion.Count;
        int eot = -1;
        for (int i = 0; i < completion.Count; i++) if (completion[i] == EndOfText) { eot = i; break; }
        if (eot >= 0) length = eot;
        var sb = new StringBuilder(_vocabulary.Decode(completion.Take(length)));
        return sb.ToString();
    }

    /// <summary>
    /// Index range [start, end) of the guess span in completion tokens: from &lt;guess&gt; through the first
    /// &lt;/guess&gt; (or to the end when unterminated); (0, 0) when the completion has no guess.
    /// </summary>
    public (int Start, int End) GuessSpan(IReadOnlyList<int> completion)
    {
        int open = -1;
        for (int i = 0; i < completion.Count; i++)
        {
            if (open < 0 && completion[i] == GuessOpenId) open = i;
            else if (open >= 0 && completion[i] == GuessCloseId) return (open, i + 1);
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
