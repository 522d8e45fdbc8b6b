namespace GtaIlgpu.Data;

/// <summary>
/// fastText supervised format: one example per line, `__label__NAME text…`. The label is the first
/// whitespace-separated token; a second `__label__` token anywhere on the line is an error (this loader
/// is single-label). Blank lines are skipped.
/// </summary>
internal static class FastTextFormat
{
    public const string Prefix = "__label__";

    public static IEnumerable<RawRow> Read(string path) => LineRecords.Read(path, ParseLine);

    internal static RawRow ParseLine(string line, int lineNumber)
    {
        string trimmed = line.Trim();
        if (!trimmed.StartsWith(Prefix, StringComparison.Ordinal))
            return RawRow.Bad(lineNumber, $"expected the line to start with {Prefix}LABEL");
        int end = 0;
        while (end < trimmed.Length && !char.IsWhiteSpace(trimmed[end])) end++;
        string label = trimmed[Prefix.Length..end];
        if (label.Length == 0) return RawRow.Bad(lineNumber, $"empty label after {Prefix}");
        string text = trimmed[end..].Trim();
        foreach (var token in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            if (token.StartsWith(Prefix, StringComparison.Ordinal))
                return RawRow.Bad(lineNumber, $"more than one label ({Prefix}{label} and {token}); only single-label classification is supported");
        return RawRow.Ok(lineNumber, text, label);
    }
}
