using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Rewards;

/// <summary>The format and accuracy rewards of DESIGN §4 on the edge cases that matter for reward hacking.</summary>
public class CompletionParserTests
{
    private const CompletionTemplate Gta = CompletionTemplate.GuessThinkAnswer;
    private static readonly string[] Labels = ["positive", "negative", "very negative"];

    private static (float Format, float Accuracy) Score(string completion, string gold = "positive", CompletionTemplate template = Gta)
    {
        var r = CompletionRewards.Score(completion, gold, template);
        return (r.Format, r.Accuracy);
    }

    [Fact]
    public void A_well_formed_correct_completion_scores_two()
    {
        var p = CompletionParser.Parse("<guess>negative</guess><think>the film is fun</think><answer>positive</answer>", Gta);
        Assert.True(p.FormatValid);
        Assert.Null(p.FormatProblem);
        Assert.Equal(("negative", "the film is fun", "positive"), (p.Guess, p.Think, p.Answer));
        Assert.Equal(2f, CompletionRewards.Score(p, "positive").Total);
        Assert.Equal(1f, CompletionRewards.Score(p, "negative").Total); // format only
        Assert.True(p.GuessCorrect("negative"));
        Assert.False(p.AnswerCorrect("negative"));
    }

    [Theory]
    [InlineData("  <guess>positive</guess>\n<think>x</think> \t <answer>positive</answer>\n\n")] // whitespace at the ends and between
    [InlineData("<guess>positive</guess><think></think><answer>positive</answer>")] // empty think is fine
    [InlineData("<guess>positive</guess><think>  multi\nline <b>html</b> </think><answer>positive</answer>")] // non-tag markup inside think
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer><|endoftext|>")] // end-of-text cut
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer><|endoftext|>garbage <guess>")] // after end-of-text: ignored
    public void Valid_formats(string completion) => Assert.Equal((1f, 1f), Score(completion));

    [Theory]
    [InlineData("<think>x</think><answer>positive</answer>", "found <think></think><answer></answer>")] // missing guess
    [InlineData("<guess>positive</guess><answer>positive</answer>", "expected the tags")] // missing think
    [InlineData("<guess>positive</guess><think>x</think><think>y</think><answer>positive</answer>", "expected the tags")] // repeated think
    [InlineData("<think>x</think><guess>positive</guess><answer>positive</answer>", "expected the tags")] // reordered
    [InlineData("<guess>positive</guess><think>x<answer>positive</answer></think>", "expected the tags")] // nested
    [InlineData("Sure! <guess>positive</guess><think>x</think><answer>positive</answer>", "text outside")] // prefix
    [InlineData("<guess>positive</guess>so<think>x</think><answer>positive</answer>", "text outside")] // between
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer>.", "text outside")] // suffix
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer><|endofte", "text outside")] // a partial marker is text
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer><Answer>", "text outside")] // tags are case-sensitive
    public void Invalid_formats_keep_a_uniquely_tagged_answer_for_accuracy(string completion, string problem)
    {
        var p = CompletionParser.Parse(completion, Gta);
        Assert.False(p.FormatValid);
        Assert.Contains(problem, p.FormatProblem);
        Assert.Equal((0f, 1f), Score(completion)); // accuracy does not depend on the format
    }

    [Theory]
    [InlineData("<guess>positive</guess><think>x</think><answer>positive")] // unterminated answer
    [InlineData("<guess>positive</guess><think>x</think>positive</answer>")] // no opening tag
    [InlineData("<guess>positive</guess><think>x</think><answer>positive</answer><answer>negative</answer>")] // repeated answer
    [InlineData("<guess>positive</guess><think>x</think></answer>positive<answer>")] // closing before opening
    [InlineData("<guess>positive</guess><think>x</think><answer>pos<think>itive</answer>")] // a tag inside the answer
    [InlineData("<guess>positive</guess><think>x</think><|endoftext|><answer>positive</answer>")] // answer after end-of-text
    public void Malformed_answers_score_nothing(string completion)
    {
        var p = CompletionParser.Parse(completion, Gta);
        Assert.Null(p.Answer);
        Assert.Equal((0f, 0f), Score(completion));
    }

    [Theory]
    [InlineData("<guess></guess><think>x</think><answer>positive</answer>", "empty guess")]
    [InlineData("<guess>positive</guess><think>x</think><answer> \n</answer>", "empty answer")]
    public void Blank_guess_or_answer_is_not_a_valid_format(string completion, string problem)
    {
        var p = CompletionParser.Parse(completion, Gta);
        Assert.False(p.FormatValid);
        Assert.Equal(problem, p.FormatProblem);
    }

    [Theory]
    [InlineData(" Positive ", true)]
    [InlineData("POSITIVE\n", true)]
    [InlineData("positive.", false)]
    [InlineData("pos itive", false)]
    [InlineData("very  negative", false)] // inner whitespace must match
    public void Labels_compare_trimmed_and_case_insensitive(string answer, bool correct)
    {
        string gold = answer.Contains("negative") ? "very negative" : "positive";
        var (format, accuracy) = Score($"<guess>positive</guess><think>x</think><answer>{answer}</answer>", gold);
        Assert.Equal(1f, format);
        Assert.Equal(correct ? 1f : 0f, accuracy);
    }

    [Fact]
    public void Labels_not_in_the_set_are_format_valid_but_flagged()
    {
        var p = CompletionParser.Parse("<guess> Very Negative </guess><think>x</think><answer>mixed</answer>", Gta);
        Assert.True(p.FormatValid);
        Assert.True(p.GuessInLabelSet(Labels));
        Assert.Equal("very negative", p.GuessLabel(Labels)); // the set's spelling
        Assert.False(p.AnswerInLabelSet(Labels));
        Assert.Null(p.AnswerLabel(Labels));
        Assert.Equal((1f, 0f), Score(p.Text, "negative"));
    }

    [Fact]
    public void Grpo_template_has_no_guess()
    {
        const CompletionTemplate grpo = CompletionTemplate.ThinkAnswer;
        Assert.Equal((1f, 1f), Score(" <think>because</think>\n<answer>positive</answer>", template: grpo));
        Assert.Equal((0f, 1f), Score("<guess>positive</guess><think>x</think><answer>positive</answer>", template: grpo));
        Assert.Equal((0f, 1f), Score("<answer>positive</answer>", template: grpo));
        var p = CompletionParser.Parse("<think></think><answer>negative</answer>", grpo);
        Assert.True(p.FormatValid);
        Assert.Null(p.Guess);
    }

    [Fact]
    public void Sft_template_is_the_answer_alone()
    {
        const CompletionTemplate sft = CompletionTemplate.Answer;
        Assert.Equal((1f, 1f), Score("<answer>positive</answer><|endoftext|>", template: sft));
        Assert.Equal((0f, 1f), Score("<think></think><answer>positive</answer>", template: sft));
        Assert.Equal((0f, 0f), Score("positive", template: sft));
    }

    [Fact]
    public void Render_writes_what_the_parser_accepts()
    {
        Assert.Equal("<guess>a</guess><think>t</think><answer>b</answer>", CompletionTags.Render(Gta, "b", guess: "a", think: "t"));
        Assert.Equal("<think></think><answer>b</answer>", CompletionTags.Render(CompletionTemplate.ThinkAnswer, "b"));
        Assert.Equal("<answer>b</answer>", CompletionTags.Render(CompletionTemplate.Answer, "b", guess: "ignored"));
        Assert.Equal("<guess>a</guess>", CompletionTags.GuessSpan("a"));
        Assert.Throws<ArgumentNullException>(() => CompletionTags.Render(Gta, "b"));
        foreach (var template in Enum.GetValues<CompletionTemplate>())
            Assert.True(CompletionParser.Parse(CompletionTags.Render(template, "b", "a", "t"), template).FormatValid);
        Assert.Equal(6, CompletionTags.All.Distinct().Count());
    }

    [Fact]
    public void Empty_completion_scores_zero()
    {
        var p = CompletionParser.Parse("", Gta);
        Assert.False(p.FormatValid);
        Assert.Equal("expected the tags <guess></guess><think></think><answer></answer>, found none", p.FormatProblem);
        Assert.Equal((0f, 0f), Score(""));
    }
}
