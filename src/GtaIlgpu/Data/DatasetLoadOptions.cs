namespace GtaIlgpu.Data;

/// <summary>How dataset files are read and validated.</summary>
public sealed record DatasetLoadOptions
{
    /// <summary>
    /// Texts longer than this many characters are bad rows. The default is generous enough for the
    /// longest BBC News article (25,485 characters) and still catches a file read with the wrong format.
    /// </summary>
    public int MaxTextChars { get; init; } = 50_000;

    /// <summary>Skip bad rows and count them per reason instead of stopping at the first one.</summary>
    public bool SkipBadRows { get; init; }

    /// <summary>Seed of the stratified 10% validation carve when a folder has no validation file.</summary>
    public ulong Seed { get; init; } = 1234;

    public static DatasetLoadOptions Default { get; } = new();
}

/// <summary>Why a row was rejected.</summary>
public enum BadRowReason
{
    /// <summary>Not parseable in the file's format: bad JSON, a missing field, a wrong column count, two labels.</summary>
    Malformed,
    /// <summary>The text is empty or only whitespace.</summary>
    EmptyText,
    /// <summary>A validation or test label that the training split does not have.</summary>
    UnknownLabel,
    /// <summary>The text is longer than <see cref="DatasetLoadOptions.MaxTextChars"/>.</summary>
    TooLong,
}

/// <summary>A rejected row: where it is, why, and the message an exception would have carried.</summary>
public sealed record BadRow(string Path, int Line, BadRowReason Reason, string Message)
{
    public override string ToString() => $"{Path}:{Line}: {Message}";
}

/// <summary>What a load read and what it skipped (only non-empty when <see cref="DatasetLoadOptions.SkipBadRows"/>).</summary>
public sealed class DatasetLoadReport
{
    private readonly List<BadRow> _skipped = [];
    private readonly Dictionary<string, int> _rowsRead = new(StringComparer.Ordinal);

    public IReadOnlyList<BadRow> Skipped => _skipped;

    /// <summary>Rows kept, per file path.</summary>
    public IReadOnlyDictionary<string, int> RowsRead => _rowsRead;

    /// <summary>Skipped rows per reason (every reason present, zero when none).</summary>
    public IReadOnlyDictionary<BadRowReason, int> SkippedByReason =>
        Enum.GetValues<BadRowReason>().ToDictionary(r => r, r => _skipped.Count(b => b.Reason == r));

    public int SkippedCount => _skipped.Count;

    /// <summary>Rows carved out of train into validation (0 when the folder had a validation file).</summary>
    public int CarvedValidationRows { get; internal set; }

    internal void AddSkipped(BadRow row) => _skipped.Add(row);

    internal void AddRead(string path, int rows) => _rowsRead[path] = _rowsRead.GetValueOrDefault(path) + rows;

    /// <summary>One line, e.g. "skipped 3 bad rows (malformed 1, empty text 2)" or "no bad rows".</summary>
    public string Summary()
    {
        if (_skipped.Count == 0) return "no bad rows";
        var parts = SkippedByReason.Where(kv => kv.Value > 0).Select(kv => $"{Describe(kv.Key)} {kv.Value}");
        return $"skipped {_skipped.Count} bad row{(_skipped.Count == 1 ? "" : "s")} ({string.Join(", ", parts)})";
    }

    public static string Describe(BadRowReason reason) => reason switch
    {
        BadRowReason.Malformed => "malformed",
        BadRowReason.EmptyText => "empty text",
        BadRowReason.UnknownLabel => "unknown label",
        BadRowReason.TooLong => "too long",
        _ => reason.ToString(),
    };
}

/// <summary>A row as a format reader sees it: either a text and a label, or what is wrong with it.</summary>
internal readonly record struct RawRow(int Line, string? Text, string? Label, string? Error)
{
    public static RawRow Ok(int line, string text, string label) => new(line, text, label, null);
    public static RawRow Bad(int line, string error) => new(line, null, null, error);
}
