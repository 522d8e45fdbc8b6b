using System.Text.RegularExpressions;

namespace GtaIlgpu.Gta;

/// <summary>Rewards and parsed labels of one completion.</summary>
public readonly record struct ScoredCompletion(float FormatReward, float AccuracyReward, string? Guess, string? Answer)
{
    public float Reward => FormatReward + AccuracyReward;
}

/// <summary>Scores completions for the training loop and evaluation (format reward + accuracy reward).</summary>
public static partial class CompletionScoring
{
    public static ScoredCompletion Score(CompletionTemplate template, string completion, string gold)
    {
        var match = (template switch
        {
            CompletionTemplate.GuessThinkAnswer => GtaPattern(),
            CompletionTemplate.ThinkAnswer => ThinkAnswerPattern(),
            _ => AnswerPattern(),
        }).Match(completion);
        string? guess = match.Success && match.Groups["guess"].Success ? match.Groups["guess"].Value.Trim() : null;
        string? answer = match.Success ? match.Groups["answer"].Value.Trim() : null;
        float format = match.Success ? 1f : 0f;
        float accuracy = answer is not null && string.Equals(answer, gold.Trim(), StringComparison.OrdinalIgnoreCase) ? 1f : 0f;
        return new ScoredCompletion(format, accuracy, guess, answer);
    }

    [GeneratedRegex(@"^\s*<guess>(?<guess>(?:(?!</?(?:guess|think|answer)>).)*)</guess>\s*<think>(?:(?!</?(?:guess|think|answer)>).)*</think>\s*<answer>(?<answer>(?:(?!</?(?:guess|think|answer)>).)*)</answer>\s*$", RegexOptions.Singleline)]
    private static partial Regex GtaPattern();

    [GeneratedRegex(@"^\s*<think>(?:(?!</?(?:guess|think|answer)>).)*</think>\s*<answer>(?<answer>(?:(?!</?(?:guess|think|answer)>).)*)</answer>\s*$", RegexOptions.Singleline)]
    private static partial Regex ThinkAnswerPattern();

    [GeneratedRegex(@"^\s*<answer>(?<answer>(?:(?!</?(?:guess|think|answer)>).)*)</answer>\s*$", RegexOptions.Singleline)]
    private static partial Regex AnswerPattern();
}
