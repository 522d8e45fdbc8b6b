namespace GtaIlgpu.Rewards;

/// <summary>The shape a completion must have, per method.</summary>
public enum CompletionTemplate
{
    /// <summary>`gta`: `&lt;guess&gt;L&lt;/guess&gt;&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;L&lt;/answer&gt;`.</summary>
    GuessThinkAnswer,
    /// <summary>`grpo` baseline: `&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;L&lt;/answer&gt;`.</summary>
    ThinkAnswer,
    /// <summary>`sft` baseline target: `&lt;answer&gt;L&lt;/answer&gt;`.</summary>
    Answer,
}

/// <summary>The six tags (single special tokens in the vocabulary) and how templates are written.</summary>
public static class CompletionTags
{
    public const string GuessOpen = "<guess>", GuessClose = "</guess>";
    public const string ThinkOpen = "<think>", ThinkClose = "</think>";
    public const string AnswerOpen = "<answer>", AnswerClose = "</answer>";
    public const string EndOfText = "<|endoftext|>";

    /// <summary>The six tags in template order.</summary>
    public static IReadOnlyList<string> All { get; } = [GuessOpen, GuessClose, ThinkOpen, ThinkClose, AnswerOpen, AnswerClose];

    /// <summary>The tags a template consists of, in order.</summary>
    public static IReadOnlyList<string> Sequence(CompletionTemplate template) => template switch
    {
        CompletionTemplate.GuessThinkAnswer => All,
        CompletionTemplate.ThinkAnswer => [ThinkOpen, ThinkClose, AnswerOpen, AnswerClose],
        CompletionTemplate.Answer => [AnswerOpen, AnswerClose],
        _ => throw new ArgumentOutOfRangeException(nameof(template)),
    };

    /// <summary>`&lt;guess&gt;LABEL&lt;/guess&gt;`: the teacher-forced span of GTA's SFT loss.</summary>
    public static string GuessSpan(string label) => $"{GuessOpen}{label}{GuessClose}";

    /// <summary>A whole completion in the template's format (guess and think ignored where the template has none).</summary>
    public static string Render(CompletionTemplate template, string answer, string? guess = null, string? think = null) => template switch
    {
        CompletionTemplate.GuessThinkAnswer =>
            $"{GuessSpan(guess ?? throw new ArgumentNullException(nameof(guess), "the GTA template needs a guess"))}{ThinkOpen}{think}{ThinkClose}{AnswerOpen}{answer}{AnswerClose}",
        CompletionTemplate.ThinkAnswer => $"{ThinkOpen}{think}{ThinkClose}{AnswerOpen}{answer}{AnswerClose}",
        CompletionTemplate.Answer => $"{AnswerOpen}{answer}{AnswerClose}",
        _ => throw new ArgumentOutOfRangeException(nameof(template)),
    };
}

/// <summary>
/// A parsed completion. <see cref="Guess"/>, <see cref="Think"/> and <see cref="Answer"/> are the raw
/// contents of their tag pair when that pair occurs exactly once, opening before closing, with no other
/// tag inside; otherwise null. They are extracted whether or not the whole completion is format-valid,
/// so the accuracy reward and the evaluation's prediction do not depend on the format reward.
/// </summary>
public sealed record ParsedCompletion(
    CompletionTemplate Template,
    string Text,
    bool FormatValid,
    string? FormatProblem,
    string? Guess,
    string? Think,
    string? Answer)
{
    /// <summary>The label of the set that the answer names (trimmed, case-insensitive), in the set's spelling; null if none.</summary>
    public string? AnswerLabel(IReadOnlyList<string> labels) => CompletionParser.MatchLabel(Answer, labels);

    public string? GuessLabel(IReadOnlyList<string> labels) => CompletionParser.MatchLabel(Guess, labels);

    public bool AnswerInLabelSet(IReadOnlyList<string> labels) => AnswerLabel(labels) is not null;

    public bool GuessInLabelSet(IReadOnlyList<string> labels) => GuessLabel(labels) is not null;

    public bool AnswerCorrect(string gold) => CompletionParser.LabelEquals(Answer, gold);

    public bool GuessCorrect(string gold) => CompletionParser.LabelEquals(Guess, gold);
}

/// <summary>
/// Parses completions exactly as DESIGN §4 defines the format reward. Decisions:
/// <list type="bullet">
/// <item>The completion is cut at its first `&lt;|endoftext|&gt;` (generation stops there); whatever follows is ignored.</item>
/// <item>Format-valid means: the tags occurring are exactly the template's sequence (each once, in order, no
/// other tag anywhere, no nesting), and everything outside the tagged segments — before the first, between
/// two, after the last — is whitespace only (possibly empty). Any other character outside is invalid.</item>
/// <item>Guess and answer contents must be non-blank for the format to be valid; think may be empty.
/// Whether a label is in the label set is not part of the format (see the *InLabelSet helpers).</item>
/// <item>Tags are matched case-sensitively (`&lt;Answer&gt;` is plain text, hence text outside the tags).</item>
/// <item>Labels compare after trimming whitespace, ignoring case (ordinal); inner whitespace must match.</item>
/// </list>
/// </summary>
public static class CompletionParser
{
    public static ParsedCompletion Parse(string completion, CompletionTemplate template)
    {
        ArgumentNullException.ThrowIfNull(completion);
        int eot = completion.IndexOf(CompletionTags.EndOfText, StringComparison.Ordinal);
        string text = eot >= 0 ? completion[..eot] : completion;

        var tags = FindTags(text);
        string? guess = Extract(text, tags, 0);
        string? think = Extract(text, tags, 2);
        string? answer = Extract(text, tags, 4);
        string? problem = FormatProblem(text, tags, template, guess, answer);
        return new ParsedCompletion(template, text, problem is null, problem, guess, think, answer);
    }

    /// <summary>Trimmed, case-insensitive equality; false when the candidate is null.</summary>
    public static bool LabelEquals(string? candidate, string gold) =>
        candidate is not null && string.Equals(candidate.Trim(), gold.Trim(), StringComparison.OrdinalIgnoreCase);

    /// <summary>The label of the set that the candidate names (trimmed, case-insensitive), or null.</summary>
    public static string? MatchLabel(string? candidate, IReadOnlyList<string> labels)
    {
        if (candidate is null) return null;
        foreach (var label in labels)
            if (LabelEquals(candidate, label)) return label;
        return null;
    }

    /// <summary>Every tag occurrence: (index into <see cref="CompletionTags.All"/>, position), in text order.</summary>
    private static List<(int Tag, int Position)> FindTags(string text)
    {
        var found = new List<(int, int)>();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '<') continue;
            for (int t = 0; t < CompletionTags.All.Count; t++)
                if (string.CompareOrdinal(text, i, CompletionTags.All[t], 0, CompletionTags.All[t].Length) == 0)
                {
                    found.Add((t, i));
                    break;
                }
        }
        return found;
    }

    /// <summary>The content between the one opening tag (index open) and the one closing tag (open + 1), with no tag between.</summary>
    private static string? Extract(string text, List<(int Tag, int Position)> tags, int open)
    {
        int openAt = -1, closeAt = -1, openIndex = -1, closeIndex = -1;
        for (int k = 0; k < tags.Count; k++)
        {
            if (tags[k].Tag == open) { if (openAt >= 0) return null; openAt = tags[k].Position; openIndex = k; }
            else if (tags[k].Tag == open + 1) { if (closeAt >= 0) return null; closeAt = tags[k].Position; closeIndex = k; }
        }
        if (openAt < 0 || closeAt < 0 || closeIndex != openIndex + 1) return null;
        int start = openAt + CompletionTags.All[open].Length;
        return text[start..closeAt];
    }

    private static string? FormatProblem(string text, List<(int Tag, int Position)> tags, CompletionTemplate template, string? guess, string? answer)
    {
        var expected = CompletionTags.Sequence(template);
        if (tags.Count != expected.Count || tags.Where((t, k) => CompletionTags.All[t.Tag] != expected[k]).Any())
            return $"expected the tags {string.Concat(expected)}, found {(tags.Count == 0 ? "none" : string.Concat(tags.Select(t => CompletionTags.All[t.Tag])))}";
        // Outside the segments: before the first opening tag, between a closing and the next opening tag, after the last.
        int cursor = 0;
        for (int k = 0; k < tags.Count; k += 2)
        {
            if (!IsWhitespace(text, cursor, tags[k].Position)) return "text outside the tagged segments";
            cursor = tags[k + 1].Position + CompletionTags.All[tags[k + 1].Tag].Length;
        }
        if (!IsWhitespace(text, cursor, text.Length)) return "text outside the tagged segments";
        if (template == CompletionTemplate.GuessThinkAnswer && string.IsNullOrWhiteSpace(guess)) return "empty guess";
        if (string.IsNullOrWhiteSpace(answer)) return "empty answer";
        return null;
    }

    private static bool IsWhitespace(string text, int from, int to)
    {
        for (int i = from; i < to; i++)
            if (!char.IsWhiteSpace(text[i])) return false;
        return true;
    }
}
