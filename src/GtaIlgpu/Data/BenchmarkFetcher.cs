using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using GtaIlgpu.Common;

namespace GtaIlgpu.Data;

/// <summary>Where one benchmark lives on the Hugging Face hub and which columns hold its text and label.</summary>
/// <param name="LabelTextColumn">A column with the label's name (SetFit datasets); otherwise a ClassLabel's names are used, or the label as written.</param>
public sealed record HuggingFaceSource(string Name, string Dataset, string Config, IReadOnlyList<string> Splits, string TextColumn, string LabelColumn, string? LabelTextColumn);

/// <summary>
/// `gta data fetch`: downloads a paper benchmark through the Hugging Face dataset viewer API
/// (GET {endpoint}/rows?dataset=…&amp;config=…&amp;split=…&amp;offset=…&amp;length=100, up to 100 rows a page),
/// normalises it to our JSONL layout (one {"text","label"} object per line, label = the class name) and
/// writes `train.jsonl`, `validation.jsonl` (where the source has one) and `test.jsonl` atomically, only
/// after every split downloaded. The endpoint can be overridden with GTA_HF_ENDPOINT (used by tests).
/// </summary>
public static class BenchmarkFetcher
{
    public const string DefaultEndpoint = "https://datasets-server.huggingface.co";
    public const string EndpointVariable = "GTA_HF_ENDPOINT";
    public const int PageSize = 100;

    public static IReadOnlyDictionary<string, HuggingFaceSource> Sources { get; } = new Dictionary<string, HuggingFaceSource>(StringComparer.OrdinalIgnoreCase)
    {
        ["sst5"] = new("sst5", "SetFit/sst5", "default", ["train", "validation", "test"], "text", "label", "label_text"),
        ["emotion"] = new("emotion", "dair-ai/emotion", "split", ["train", "validation", "test"], "text", "label", null),
        ["massive"] = new("massive", "AmazonScience/massive", "en-US", ["train", "validation", "test"], "utt", "scenario", null),
        ["bbc"] = new("bbc", "SetFit/bbc-news", "default", ["train", "test"], "text", "label", "label_text"),
    };

    public static string Endpoint =>
        Environment.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } e ? e.TrimEnd('/') : DefaultEndpoint;

    /// <summary>Downloads, normalises and writes one benchmark into outFolder; returns the rows per split.</summary>
    public static IReadOnlyDictionary<string, int> Fetch(string name, string outFolder, string? endpoint = null,
        TimeSpan? timeout = null, Action<string, int, int>? progress = null)
    {
        if (!Sources.TryGetValue(name, out var source))
            throw new ArgumentException($"unknown benchmark '{name}'; choose one of {string.Join(", ", Sources.Keys)}");
        endpoint = (endpoint ?? Endpoint).TrimEnd('/');
        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), AutomaticDecompression = DecompressionMethods.All };
        using var http = new HttpClient(handler) { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("gta-ilgpu/1.0");

        var splits = new Dictionary<string, List<string>>();
        bool reachedOnce = false;
        foreach (var split in source.Splits)
        {
            var lines = new List<string>();
            int total = -1;
            for (int offset = 0; total < 0 || offset < total; offset += PageSize)
            {
                string json = Get(http, RowsUrl(endpoint, source, split, offset, PageSize), ref reachedOnce);
                var page = NormalizeRowsPage(json, source);
                total = page.TotalRows;
                foreach (var row in page.Rows)
                {
                    var r = row;
                    if (r.Truncated)
                    {
                        // The viewer truncates large cells in big pages: ask for that row alone.
                        var single = NormalizeRowsPage(Get(http, RowsUrl(endpoint, source, split, r.RowIndex, 1), ref reachedOnce), source);
                        r = single.Rows.Count == 1 ? single.Rows[0] : r;
                        if (r.Truncated)
                            throw new InvalidOperationException($"{source.Dataset} {split} row {r.RowIndex}: the datasets server truncates its text; download the dataset another way");
                    }
                    lines.Add(r.JsonLine);
                }
                if (page.Rows.Count == 0 && offset < total)
                    throw new InvalidOperationException($"{source.Dataset} {split}: the datasets server returned no rows at offset {offset} of {total}");
                progress?.Invoke(split, lines.Count, total);
            }
            if (lines.Count == 0) throw new InvalidOperationException($"{source.Dataset} {split}: no rows");
            splits[split] = lines;
        }
        Directory.CreateDirectory(outFolder);
        foreach (var (split, lines) in splits)
            AtomicFile.WriteText(Path.Combine(outFolder, split + ".jsonl"), string.Concat(lines.Select(l => l + "\n")));
        return splits.ToDictionary(kv => kv.Key, kv => kv.Value.Count);
    }

    internal static string RowsUrl(string endpoint, HuggingFaceSource source, string split, int offset, int length) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{endpoint}/rows?dataset={Uri.EscapeDataString(source.Dataset)}&config={Uri.EscapeDataString(source.Config)}&split={Uri.EscapeDataString(split)}&offset={offset}&length={length}");

    private static string Get(HttpClient http, string url, ref bool reachedOnce)
    {
        const int attempts = 4;
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage response;
            try
            {
                response = http.GetAsync(url).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                string reason = e is TaskCanceledException ? $"no answer within {http.Timeout.TotalSeconds:F0} s" : Innermost(e).Message;
                if (!reachedOnce)
                    throw new InvalidOperationException($"cannot reach huggingface.co: {reason} ({new Uri(url).GetLeftPart(UriPartial.Authority)}) — the four datasets are also in ../shared/datasets");
                if (attempt < attempts) { Thread.Sleep(1000 * attempt); continue; }
                throw new InvalidOperationException($"download from huggingface.co failed: {reason} — the four datasets are also in ../shared/datasets");
            }
            using (response)
            {
                reachedOnce = true;
                string body = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
                if (response.IsSuccessStatusCode) return body;
                bool retry = response.StatusCode == HttpStatusCode.TooManyRequests || (int)response.StatusCode >= 500;
                if (retry && attempt < attempts) { Thread.Sleep(2000 * attempt); continue; }
                string snippet = body.Length > 200 ? body[..200] + "…" : body;
                throw new InvalidOperationException($"huggingface.co answered {(int)response.StatusCode} {response.ReasonPhrase} for {url}: {snippet.ReplaceLineEndings(" ")}");
            }
        }
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    internal readonly record struct NormalizedRow(int RowIndex, string JsonLine, bool Truncated);

    internal sealed record RowsPage(IReadOnlyList<NormalizedRow> Rows, int TotalRows);

    private static readonly JsonWriterOptions LineOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One page of the viewer's /rows answer as our JSONL lines; labels become class names.</summary>
    internal static RowsPage NormalizeRowsPage(string json, HuggingFaceSource source)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("rows", out var rows) || rows.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{source.Dataset}: unexpected answer from the datasets server (no \"rows\" array)");
        int total = root.TryGetProperty("num_rows_total", out var t) && t.TryGetInt32(out int n) ? n : rows.GetArrayLength();

        string[]? classNames = null;
        if (root.TryGetProperty("features", out var features) && features.ValueKind == JsonValueKind.Array)
            foreach (var feature in features.EnumerateArray())
                if (feature.TryGetProperty("name", out var fname) && fname.GetString() == source.LabelColumn
                    && feature.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.Object
                    && type.TryGetProperty("_type", out var kind) && kind.GetString() == "ClassLabel"
                    && type.TryGetProperty("names", out var names) && names.ValueKind == JsonValueKind.Array)
                    classNames = names.EnumerateArray().Select(x => x.GetString() ?? "").ToArray();

        var result = new List<NormalizedRow>();
        foreach (var item in rows.EnumerateArray())
        {
            int index = item.TryGetProperty("row_idx", out var ri) && ri.TryGetInt32(out int idx) ? idx : -1;
            var row = item.GetProperty("row");
            bool truncated = item.TryGetProperty("truncated_cells", out var tc) && tc.ValueKind == JsonValueKind.Array
                && tc.EnumerateArray().Any(c => c.GetString() == source.TextColumn);
            if (!row.TryGetProperty(source.TextColumn, out var textElement) || textElement.ValueKind != JsonValueKind.String)
                throw new InvalidDataException($"{source.Dataset} row {index}: no string column \"{source.TextColumn}\"");
            string label = Label(row, source, classNames, index);
            var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, LineOptions))
            {
                writer.WriteStartObject();
                writer.WriteString("text", textElement.GetString());
                writer.WriteString("label", label);
                writer.WriteEndObject();
            }
            result.Add(new NormalizedRow(index, Encoding.UTF8.GetString(buffer.ToArray()), truncated));
        }
        return new RowsPage(result, total);
    }

    private static string Label(JsonElement row, HuggingFaceSource source, string[]? classNames, int index)
    {
        if (source.LabelTextColumn is { } textColumn && row.TryGetProperty(textColumn, out var lt) && lt.ValueKind == JsonValueKind.String
            && lt.GetString() is { Length: > 0 } named)
            return named;
        if (!row.TryGetProperty(source.LabelColumn, out var label))
            throw new InvalidDataException($"{source.Dataset} row {index}: no column \"{source.LabelColumn}\"");
        if (label.ValueKind == JsonValueKind.String) return label.GetString()!;
        if (label.ValueKind == JsonValueKind.Number && label.TryGetInt32(out int id))
        {
            if (classNames is null) return id.ToString(CultureInfo.InvariantCulture);
            if (id >= 0 && id < classNames.Length) return classNames[id];
            throw new InvalidDataException($"{source.Dataset} row {index}: label {id} is outside the {classNames.Length} class names");
        }
        throw new InvalidDataException($"{source.Dataset} row {index}: column \"{source.LabelColumn}\" is neither a string nor an integer");
    }
}
