using System.Globalization;
using System.Text.Json;
using GtaIlgpu.Evaluation;

namespace GtaIlgpu.Gta;

/// <summary>One line of validation.jsonl: the periodic validation metrics of a run at a step.</summary>
public sealed record ValidationPoint(int Step, double Accuracy, double MacroF1, double WeightedF1, double FormatValidRate, double? GuessAccuracy)
{
    public static ValidationPoint Of(int step, ClassificationMetrics m) => new(step, m.Accuracy, m.MacroF1, m.WeightedF1, m.FormatValidRate, m.GuessAccuracy);

    /// <summary>Round-trip ("R") numbers, so a line read back and written again is the same text.</summary>
    public string ToJsonLine() => string.Create(CultureInfo.InvariantCulture,
        $"{{\"step\":{Step},\"accuracy\":{Accuracy:R},\"macro_f1\":{MacroF1:R},\"weighted_f1\":{WeightedF1:R},\"format_valid_rate\":{FormatValidRate:R},\"guess_accuracy\":{(GuessAccuracy is double g ? g.ToString("R", CultureInfo.InvariantCulture) : "null")}}}");

    public static ValidationPoint Parse(string line, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var guess = r.GetProperty("guess_accuracy");
            return new ValidationPoint(r.GetProperty("step").GetInt32(), r.GetProperty("accuracy").GetDouble(), r.GetProperty("macro_f1").GetDouble(),
                r.GetProperty("weighted_f1").GetDouble(), r.GetProperty("format_valid_rate").GetDouble(),
                guess.ValueKind == JsonValueKind.Null ? null : guess.GetDouble());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: not a validation line ({e.Message})");
        }
    }
}
