using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Evaluation;

/// <summary>
/// One evaluated example: the gold label, the model's answer and guess as written (null when absent;
/// matched to the label set trimmed and case-insensitively), and whether the completion was format-valid.
/// </summary>
public readonly record struct Prediction(string Gold, string? Answer, bool FormatValid = true, string? Guess = null);

/// <summary>Precision, recall and F1 of one label (0 where undefined, as sklearn with zero_division=0).</summary>
public sealed record ClassMetrics(string Label, double Precision, double Recall, double F1, int Support, int Predicted);

/// <summary>Rows are gold labels, columns the labels followed by "invalid" (no answer, or one outside the label set).</summary>
public sealed record ConfusionMatrix(IReadOnlyList<string> Rows, IReadOnlyList<string> Columns, int[][] Counts);

/// <summary>
/// Classification metrics of an evaluation, serialised with snake_case keys (eval.json): accuracy,
/// macro_f1, weighted_f1, format_valid_rate, guess_accuracy, answer_corrects_guess_rate, ... Decisions:
/// <list type="bullet">
/// <item>The prediction is the completion's answer (<see cref="ParsedCompletion.Answer"/>), matched to the
/// label set; a missing answer or one outside the set is "invalid" and counts as wrong. Accuracy does not
/// require a valid format; the format-valid rate is reported beside it.</item>
/// <item>Per-class F1 follows sklearn (zero_division = 0). Macro-F1 averages over the labels that occur in
/// the gold labels or the valid predictions (sklearn's default label set; invalid predictions do not form a
/// class of their own — they are false negatives of their gold class). Weighted-F1 weights by gold support.</item>
/// <item>Guess statistics exist only for the GTA template (null otherwise). A missing or out-of-set guess is
/// a wrong guess. answer_corrects_guess_rate = P(answer right | guess wrong);
/// answer_spoils_guess_rate = P(answer wrong | guess right); null when the condition never occurs.</item>
/// </list>
/// </summary>
public sealed record ClassificationMetrics
{
    public const string InvalidColumn = "invalid";

    public int Count { get; init; }
    public double Accuracy { get; init; }
    public double MacroF1 { get; init; }
    public double WeightedF1 { get; init; }
    public double FormatValidRate { get; init; }
    /// <summary>Fraction of examples whose answer is missing or not in the label set.</summary>
    public double InvalidRate { get; init; }
    public double? GuessAccuracy { get; init; }
    public double? AnswerCorrectsGuessRate { get; init; }
    public double? AnswerSpoilsGuessRate { get; init; }
    public int? GuessWrong { get; init; }
    public int? AnswerCorrected { get; init; }
    public int? GuessRight { get; init; }
    public int? AnswerSpoiled { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];
    public IReadOnlyList<ClassMetrics> PerClass { get; init; } = [];
    public ConfusionMatrix ConfusionMatrix { get; init; } = new([], [], []);

    /// <param name="labels">The label set (training labels in their order); every gold label must be in it.</param>
    /// <param name="hasGuess">True for the GTA template: compute the guess statistics.</param>
    public static ClassificationMetrics Compute(IReadOnlyList<string> labels, IEnumerable<Prediction> predictions, bool hasGuess)
    {
        if (labels.Count == 0) throw new ArgumentException("the label set is empty", nameof(labels));
        if (labels.Distinct(StringComparer.OrdinalIgnoreCase).Count() != labels.Count)
            throw new ArgumentException("the label set has labels that differ only in case or are repeated", nameof(labels));
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++) index[labels[i]] = i;
        int k = labels.Count;
        var counts = new int[k][];
        for (int i = 0; i < k; i++) counts[i] = new int[k + 1];

        int n = 0, correct = 0, formatValid = 0, invalid = 0, guessRight = 0, guessWrong = 0, corrected = 0, spoiled = 0;
        foreach (var p in predictions)
        {
            if (!index.TryGetValue(p.Gold, out int gold))
                throw new ArgumentException($"gold label \"{p.Gold}\" is not in the label set", nameof(predictions));
            string? answer = CompletionParser.MatchLabel(p.Answer, labels);
            int column = answer is null ? k : index[answer];
            counts[gold][column]++;
            n++;
            bool answerRight = column == gold;
            if (answerRight) correct++;
            if (answer is null) invalid++;
            if (p.FormatValid) formatValid++;
            if (hasGuess)
            {
                bool guessIsRight = CompletionParser.MatchLabel(p.Guess, labels) == p.Gold;
                if (guessIsRight) { guessRight++; if (!answerRight) spoiled++; }
                else { guessWrong++; if (answerRight) corrected++; }
            }
        }
        if (n == 0) throw new ArgumentException("no predictions to evaluate", nameof(predictions));

        var perClass = new ClassMetrics[k];
        double macroSum = 0, weightedSum = 0;
        int macroCount = 0;
        for (int c = 0; c < k; c++)
        {
            int tp = counts[c][c], support = counts[c].Sum(), predicted = 0;
            for (int r = 0; r < k; r++) predicted += counts[r][c];
            double precision = predicted > 0 ? (double)tp / predicted : 0;
            double recall = support > 0 ? (double)tp / support : 0;
            double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
            perClass[c] = new ClassMetrics(labels[c], precision, recall, f1, support, predicted);
            if (support > 0 || predicted > 0) { macroSum += f1; macroCount++; }
            weightedSum += f1 * support;
        }

        static double? Rate(int numerator, int denominator) => denominator > 0 ? (double)numerator / denominator : null;
        return new ClassificationMetrics
        {
            Count = n,
            Accuracy = (double)correct / n,
            MacroF1 = macroCount > 0 ? macroSum / macroCount : 0,
            WeightedF1 = weightedSum / n,
            FormatValidRate = (double)formatValid / n,
            InvalidRate = (double)invalid / n,
            GuessAccuracy = hasGuess ? (double)guessRight / n : null,
            AnswerCorrectsGuessRate = hasGuess ? Rate(corrected, guessWrong) : null,
            AnswerSpoilsGuessRate = hasGuess ? Rate(spoiled, guessRight) : null,
            GuessWrong = hasGuess ? guessWrong : null,
            AnswerCorrected = hasGuess ? corrected : null,
            GuessRight = hasGuess ? guessRight : null,
            AnswerSpoiled = hasGuess ? spoiled : null,
            Labels = labels.ToArray(),
            PerClass = perClass,
            ConfusionMatrix = new ConfusionMatrix(labels.ToArray(), [.. labels, InvalidColumn], counts),
        };
    }

    /// <summary>From parsed completions; the guess statistics are computed when they use the GTA template.</summary>
    public static ClassificationMetrics FromCompletions(IReadOnlyList<string> labels, IEnumerable<(string Gold, ParsedCompletion Completion)> items)
    {
        var list = items.ToList();
        bool hasGuess = list.Count > 0 && list[0].Completion.Template == CompletionTemplate.GuessThinkAnswer;
        return Compute(labels, list.Select(x => new Prediction(x.Gold, x.Completion.Answer, x.Completion.FormatValid, x.Completion.Guess)), hasGuess);
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static ClassificationMetrics FromJson(string json) =>
        JsonSerializer.Deserialize<ClassificationMetrics>(json, JsonOptions) ?? throw new InvalidDataException("empty metrics JSON");

    /// <summary>The confusion matrix as a Markdown table (rows gold, columns predicted, last column invalid).</summary>
    public string ConfusionMarkdown()
    {
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
        var sb = new StringBuilder();
        sb.Append("| gold \\ predicted |");
        foreach (var c in ConfusionMatrix.Columns) sb.Append(' ').Append(Cell(c)).Append(" |");
        sb.Append("\n|---|");
        foreach (var _ in ConfusionMatrix.Columns) sb.Append("---:|");
        sb.Append('\n');
        for (int r = 0; r < ConfusionMatrix.Rows.Count; r++)
        {
            sb.Append("| ").Append(Cell(ConfusionMatrix.Rows[r])).Append(" |");
            foreach (var v in ConfusionMatrix.Counts[r]) sb.Append(' ').Append(v.ToString(CultureInfo.InvariantCulture)).Append(" |");
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
