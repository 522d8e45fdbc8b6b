namespace GtaIlgpu.Rewards;

/// <summary>The two rule rewards of one completion; <see cref="Total"/> = format + accuracy, in {0, 1, 2}.</summary>
public readonly record struct CompletionReward(float Format, float Accuracy)
{
    public float Total => Format + Accuracy;
}

/// <summary>
/// DESIGN §4 step 2: r_format = 1 when the completion is format-valid for its template
/// (<see cref="CompletionParser"/>), r_accuracy = 1 when its answer (trimmed, case-insensitive) equals the
/// gold label; each 0 otherwise, independently of the other. (Named CompletionRewards, not Rewards, so it
/// does not clash with the namespace GtaIlgpu.Rewards when used from GtaIlgpu.*.)
/// </summary>
public static class CompletionRewards
{
    public static CompletionReward Score(ParsedCompletion parsed, string gold) =>
        new(parsed.FormatValid ? 1f : 0f, parsed.AnswerCorrect(gold) ? 1f : 0f);

    public static CompletionReward Score(string completion, string gold, CompletionTemplate template) =>
        Score(CompletionParser.Parse(completion, template), gold);
}
