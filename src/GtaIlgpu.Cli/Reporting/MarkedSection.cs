namespace GtaIlgpu.Cli.Reporting;

/// <summary>
/// A generated block inside a hand-edited Markdown file: the tool owns the text between the two
/// markers and never touches what people wrote around it.
/// </summary>
public static class MarkedSection
{
    public const string Begin = "<!-- report:begin -->";
    public const string End = "<!-- report:end -->";

    /// <summary>
    /// The file's new text: <paramref name="existing"/> with the block between the markers replaced by
    /// <paramref name="generated"/>, or, for a new file (null), the block between <paramref name="before"/>
    /// and <paramref name="after"/>. A file without exactly one pair of markers in order is refused,
    /// because there is no place to put the block that cannot destroy someone's text.
    /// </summary>
    public static string Merge(string? existing, string generated, string before, string after, string path)
    {
        string block = $"{Begin}\n{generated.TrimEnd('\n')}\n{End}";
        if (existing is null) return $"{before}{block}\n{after}";
        int begin = existing.IndexOf(Begin, StringComparison.Ordinal);
        int end = existing.IndexOf(End, StringComparison.Ordinal);
        bool onePair = begin >= 0 && end > begin
            && existing.IndexOf(Begin, begin + Begin.Length, StringComparison.Ordinal) < 0
            && existing.IndexOf(End, end + End.Length, StringComparison.Ordinal) < 0;
        if (!onePair)
            throw new InvalidDataException(
                $"{path}: expected one {Begin} line followed by one {End} line to replace the generated block between; the file is left as it is (add the markers where the report belongs, or write to another --out)");
        return existing[..begin] + block + existing[(end + End.Length)..];
    }
}
