namespace GtaIlgpu.Data;

/// <summary>Formats with one example per line (JSONL, fastText): blank lines skipped, line numbers kept for errors.</summary>
internal static class LineRecords
{
    public static IEnumerable<RawRow> Read(string path, Func<string, int, RawRow> parseLine)
    {
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            yield return parseLine(line, lineNumber);
        }
    }
}
