using System.Text.Json;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Evaluation;

/// <summary>Metrics of a 3-class example checked against values computed by hand (see the comments).</summary>
public class ClassificationMetricsTests
{
    private static readonly string[] Labels = ["a", "b", "c"];

    // gold, answer, format-valid, guess
    private static readonly Prediction[] Example =
    [
        new("a", "a", true, "a"),    // 1  guess right, answer right
        new("a", " A ", true, "b"),  // 2  guess wrong, answer right (corrected); answer matched trimmed, any case
        new("a", "b", false, "a"),   // 3  guess right, answer wrong (spoiled)
        new("a", null, false, null), // 4  no guess, no answer (invalid)
        new("b", "b", true, "b"),    // 5  right, right
        new("b", "c", true, "b"),    // 6  guess right, answer wrong (spoiled)
        new("c", "c", true, "a"),    // 7  guess wrong, answer right (corrected)
        new("c", "a", true, "c"),    // 8  guess right, answer wrong (spoiled)
        new("b", "b", true, "B"),    // 9  right, right (guess case ignored)
        new("c", "d", false, "c"),   // 10 guess right, answer outside the label set (invalid, spoiled)
    ];

    [Fact]
    public void Three_class_example_matches_hand_computed_values()
    {
        var m = ClassificationMetrics.Compute(Labels, Example, hasGuess: true);
        // Correct: rows 1, 2, 5, 7, 9.
        Assert.Equal(10, m.Count);
        Assert.Equal(0.5, m.Accuracy, 12);
        // tp/fp/fn: a 2/1/2 → F1 4/7; b 2/1/1 → 2/3; c 1/1/2 → 2/5.
        Assert.Equal([4.0 / 7, 2.0 / 3, 2.0 / 5], m.PerClass.Select(c => Math.Round(c.F1, 12)), new RoundedComparer());
        Assert.Equal([2.0 / 3, 2.0 / 3, 0.5], m.PerClass.Select(c => c.Precision), new RoundedComparer());
        Assert.Equal([0.5, 2.0 / 3, 1.0 / 3], m.PerClass.Select(c => c.Recall), new RoundedComparer());
        Assert.Equal([4, 3, 3], m.PerClass.Select(c => c.Support));
        Assert.Equal(172.0 / 315, m.MacroF1, 12); // (4/7 + 2/3 + 2/5) / 3
        Assert.Equal(192.0 / 350, m.WeightedF1, 12); // (4·4/7 + 3·2/3 + 3·2/5) / 10
        Assert.Equal(0.7, m.FormatValidRate, 12);
        Assert.Equal(0.2, m.InvalidRate, 12);
        // Guess right: 1, 3, 5, 6, 8, 9, 10 (7); spoiled among them: 3, 6, 8, 10 (4). Guess wrong: 2, 4, 7; corrected: 2, 7.
        Assert.Equal(0.7, m.GuessAccuracy!.Value, 12);
        Assert.Equal(2.0 / 3, m.AnswerCorrectsGuessRate!.Value, 12);
        Assert.Equal(4.0 / 7, m.AnswerSpoilsGuessRate!.Value, 12);
        Assert.Equal((3, 2, 7, 4), (m.GuessWrong, m.AnswerCorrected, m.GuessRight, m.AnswerSpoiled));
        Assert.Equal(["a", "b", "c", "invalid"], m.ConfusionMatrix.Columns);
        Assert.Equal([2, 1, 0, 1], m.ConfusionMatrix.Counts[0]);
        Assert.Equal([0, 2, 1, 0], m.ConfusionMatrix.Counts[1]);
        Assert.Equal([1, 0, 1, 1], m.ConfusionMatrix.Counts[2]);
    }

    private sealed class RoundedComparer : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) < 1e-12;
        public int GetHashCode(double obj) => 0;
    }

    [Fact]
    public void Perfect_and_all_invalid_predictions()
    {
        var perfect = ClassificationMetrics.Compute(Labels, Labels.Select(l => new Prediction(l, l)), hasGuess: false);
        Assert.Equal((1.0, 1.0, 1.0), (perfect.Accuracy, perfect.MacroF1, perfect.WeightedF1));
        Assert.Null(perfect.GuessAccuracy);
        Assert.Null(perfect.AnswerCorrectsGuessRate);

        var none = ClassificationMetrics.Compute(Labels, Labels.Select(l => new Prediction(l, null, false, null)), hasGuess: true);
        Assert.Equal((0.0, 0.0, 0.0, 0.0, 1.0), (none.Accuracy, none.MacroF1, none.WeightedF1, none.FormatValidRate, none.InvalidRate));
        Assert.Equal(0.0, none.GuessAccuracy);
        Assert.Equal(0.0, none.AnswerCorrectsGuessRate);
        Assert.Null(none.AnswerSpoilsGuessRate); // no guess was right
    }

    [Fact]
    public void Macro_f1_averages_over_labels_present_in_gold_or_predictions()
    {
        // Gold has no "c" and nothing predicts it: sklearn's default label set leaves it out of the average.
        var m = ClassificationMetrics.Compute(Labels, [new("a", "a"), new("b", "a")], hasGuess: false);
        // a: tp 1, fp 1, fn 0 → 2/3; b: tp 0 → 0. Macro (2/3 + 0) / 2; weighted (2/3·1 + 0·1) / 2.
        Assert.Equal(1.0 / 3, m.MacroF1, 12);
        Assert.Equal(1.0 / 3, m.WeightedF1, 12);
        Assert.Equal(0, m.PerClass[2].F1);
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute(Labels, [new("z", "a")], false));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute(Labels, [], false));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Compute(["a", "A"], [new("a", "a")], false));
    }

    [Fact]
    public void Json_has_the_snake_case_keys_and_round_trips()
    {
        var m = ClassificationMetrics.Compute(Labels, Example, hasGuess: true);
        string json = m.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        foreach (var key in new[] { "accuracy", "macro_f1", "weighted_f1", "format_valid_rate", "guess_accuracy", "answer_corrects_guess_rate", "answer_spoils_guess_rate", "confusion_matrix", "per_class", "count" })
            Assert.True(root.TryGetProperty(key, out _), $"missing key {key}");
        Assert.Equal(0.5, root.GetProperty("accuracy").GetDouble());
        Assert.Equal(2, root.GetProperty("confusion_matrix").GetProperty("counts")[0][0].GetInt32());
        Assert.Equal("a", root.GetProperty("per_class")[0].GetProperty("label").GetString());

        var back = ClassificationMetrics.FromJson(json);
        Assert.Equal(m.MacroF1, back.MacroF1);
        Assert.Equal(m.GuessAccuracy, back.GuessAccuracy);
        Assert.Equal(m.ConfusionMatrix.Counts[2], back.ConfusionMatrix.Counts[2]);
        Assert.Equal(m.Labels, back.Labels);

        var noGuess = ClassificationMetrics.Compute(Labels, [new("a", "a")], hasGuess: false).ToJson();
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(noGuess).RootElement.GetProperty("guess_accuracy").ValueKind);
    }

    [Fact]
    public void Confusion_matrix_renders_as_markdown()
    {
        var m = ClassificationMetrics.Compute(["x|y", "b"], [new("x|y", "x|y"), new("b", null), new("b", "X|Y")], hasGuess: false);
        Assert.Equal(
            "| gold \\ predicted | x\\|y | b | invalid |\n" +
            "|---|---:|---:|---:|\n" +
            "| x\\|y | 1 | 0 | 0 |\n" +
            "| b | 1 | 0 | 1 |\n",
            m.ConfusionMarkdown());
    }

    [Fact]
    public void From_parsed_completions()
    {
        const CompletionTemplate gta = CompletionTemplate.GuessThinkAnswer;
        var items = new[]
        {
            ("a", CompletionParser.Parse("<guess>b</guess><think>hm</think><answer>a</answer>", gta)),
            ("b", CompletionParser.Parse("<guess>b</guess><think>hm</think>b", gta)),
        };
        var m = ClassificationMetrics.FromCompletions(Labels, items);
        Assert.Equal((0.5, 0.5, 0.5), (m.Accuracy, m.FormatValidRate, m.GuessAccuracy!.Value));
        Assert.Equal(1.0, m.AnswerCorrectsGuessRate);
        Assert.Equal(1.0, m.AnswerSpoilsGuessRate);

        var sft = ClassificationMetrics.FromCompletions(Labels, [("a", CompletionParser.Parse("<answer>a</answer>", CompletionTemplate.Answer))]);
        Assert.Null(sft.GuessAccuracy);
        Assert.Equal(1.0, sft.Accuracy);
    }
}
