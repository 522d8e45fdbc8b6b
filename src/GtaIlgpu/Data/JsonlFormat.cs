using System.Globalization;
using System.Text.Json;

namespace GtaIlgpu.Data;

/// <summary>
/// JSON Lines: one object per line with a string "text" and a "label" that is a string or an integer
/// (an integer is kept as its decimal string). Other fields are ignored; blank lines are skipped.
/// </summary>
internal static class JsonlFormat
{
    public static IEnumerable<RawRow> Read(string path) => LineRecords.Read(path, ParseLine);

    internal static RawRow ParseLine(string line, int lineNumber)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            return RawRow.Bad(lineNumber, $"malformed JSON ({FirstSentence(e.Message)})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return RawRow.Bad(lineNumber, $"expected a JSON object, found {Kind(root.ValueKind)}");
            if (!root.TryGetProperty("text", out var text)) return RawRow.Bad(lineNumber, "missing field \"text\"");
            if (text.ValueKind != JsonValueKind.String) return RawRow.Bad(lineNumber, $"field \"text\" must be a string, found {Kind(text.ValueKind)}");
            if (!root.TryGetProperty("label", out var label)) return RawRow.Bad(lineNumber, "missing field \"label\"");
            string? labelText = label.ValueKind switch
            {
                JsonValueKind.String => label.GetString(),
                JsonValueKind.Number when label.TryGetInt64(out long n) => n.ToString(CultureInfo.InvariantCulture),
                _ => null,
            };
            if (labelText is null) return RawRow.Bad(lineNumber, $"field \"label\" must be a string or an integer, found {(label.ValueKind == JsonValueKind.Number ? $"the number {label.GetRawText()}" : Kind(label.ValueKind))}");
            return RawRow.Ok(lineNumber, text.GetString()!, labelText);
        }
    }

    private static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(". ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message.TrimEnd('.');
    }
}
