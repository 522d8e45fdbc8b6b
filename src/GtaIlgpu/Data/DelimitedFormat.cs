using System.Text;

namespace GtaIlgpu.Data;

/// <summary>
/// CSV (RFC 4180) and TSV files with a header row. The columns named "text" and "label" (any case,
/// surrounding spaces ignored) are used; other columns are ignored; every record must have as many
/// fields as the header. CSV fields may be quoted, with doubled quotes inside and embedded commas and
/// line breaks; the reported line is the one where a record starts. TSV follows the IANA text/tab-separated-values
/// definition: no quoting at all, one record per line, fields split at every tab (a quote is an ordinary character).
/// Blank lines are skipped in both.
/// </summary>
internal static class DelimitedFormat
{
    public static IEnumerable<RawRow> ReadCsv(string path) => Read(path, ParseCsv(path), "CSV");

    public static IEnumerable<RawRow> ReadTsv(string path) => Read(path, ParseTsv(path), "TSV");

    private static IEnumerable<RawRow> Read(string path, IEnumerable<Record> records, string kind)
    {
        int textColumn = -1, labelColumn = -1, columns = 0;
        bool header = true;
        foreach (var record in records)
        {
            if (header)
            {
                header = false;
                if (record.Error is not null) throw new InvalidDataException($"{path}:{record.Line}: malformed {kind} header ({record.Error})");
                columns = record.Fields.Count;
                for (int i = 0; i < columns; i++)
                {
                    string name = record.Fields[i].Trim().TrimStart('\uFEFF');
                    if (name.Equals("text", StringComparison.OrdinalIgnoreCase))
                    {
                        if (textColumn >= 0) throw new InvalidDataException($"{path}:{record.Line}: the header names the column \"text\" twice");
                        textColumn = i;
                    }
                    else if (name.Equals("label", StringComparison.OrdinalIgnoreCase))
                    {
                        if (labelColumn >= 0) throw new InvalidDataException($"{path}:{record.Line}: the header names the column \"label\" twice");
                        labelColumn = i;
                    }
                }
                if (textColumn < 0 || labelColumn < 0)
                    throw new InvalidDataException(
                        $"{path}:{record.Line}: the {kind} header must name the columns \"text\" and \"label\"; found {string.Join(", ", record.Fields.Select(f => $"\"{f}\""))}");
                continue;
            }
            if (record.Error is not null) { yield return RawRow.Bad(record.Line, record.Error); continue; }
            if (record.Fields.Count != columns)
            {
                yield return RawRow.Bad(record.Line, $"expected {columns} columns as in the header, found {record.Fields.Count}");
                continue;
            }
            yield return RawRow.Ok(record.Line, record.Fields[textColumn], record.Fields[labelColumn]);
        }
        if (header) throw new InvalidDataException($"{path}: empty {kind} file (expected a header with the columns \"text\" and \"label\")");
    }

    internal readonly record struct Record(int Line, IReadOnlyList<string> Fields, string? Error);

    private static IEnumerable<Record> ParseTsv(string path)
    {
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (line.Length == 0 || (lineNumber > 1 && string.IsNullOrWhiteSpace(line))) continue;
            yield return new Record(lineNumber, line.Split('\t'), null);
        }
    }

    private static IEnumerable<Record> ParseCsv(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        foreach (var record in ParseCsv(reader)) yield return record;
    }

    /// <summary>RFC 4180 records from a reader; a record with a quoting error carries the error and is skipped to its end.</summary>
    internal static IEnumerable<Record> ParseCsv(TextReader reader)
    {
        int line = 1;
        var fields = new List<string>();
        var field = new StringBuilder();
        string? error = null;
        int recordLine = 1;
        bool inQuotes = false, fieldWasQuoted = false, afterClosingQuote = false, recordHasContent = false;

        while (true)
        {
            int c = reader.Read();
            if (c < 0)
            {
                if (inQuotes) error ??= "unterminated quoted field (a quote opened here is never closed)";
                if (recordHasContent || fields.Count > 0 || field.Length > 0)
                {
                    fields.Add(field.ToString());
                    yield return new Record(recordLine, fields.ToArray(), error);
                }
                yield break;
            }
            char ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else { inQuotes = false; afterClosingQuote = true; }
                }
                else
                {
                    if (ch == '\n') line++;
                    else if (ch == '\r' && reader.Peek() != '\n') line++;
                    field.Append(ch);
                }
                continue;
            }
            if (ch == '\r' || ch == '\n')
            {
                if (ch == '\r' && reader.Peek() == '\n') reader.Read();
                if (recordHasContent || fields.Count > 0 || field.Length > 0)
                {
                    fields.Add(field.ToString());
                    yield return new Record(recordLine, fields.ToArray(), error);
                }
                line++;
                fields.Clear(); field.Clear(); error = null;
                recordLine = line;
                fieldWasQuoted = afterClosingQuote = recordHasContent = false;
                continue;
            }
            recordHasContent = true;
            if (ch == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                fieldWasQuoted = afterClosingQuote = false;
                continue;
            }
            if (afterClosingQuote)
            {
                error ??= $"unexpected character '{ch}' after a closing quote (a quote inside a quoted field must be doubled)";
                field.Append(ch);
                continue;
            }
            if (ch == '"' && field.Length == 0 && !fieldWasQuoted)
            {
                inQuotes = true; fieldWasQuoted = true;
                continue;
            }
            field.Append(ch); // a quote inside an unquoted field is kept literally, as most CSV readers do
        }
    }
}
