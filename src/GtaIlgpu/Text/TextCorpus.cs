using System.Text.Json;

namespace GtaIlgpu.Text;

/// <summary>
/// Documents for language-model pretraining: a JSONL file (the "text" field of each line), or a plain
/// text file whose documents are separated by blank lines.
/// </summary>
public static class TextCorpus
{
    public static List<string> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"text file not found: {path}", path);
        var documents = new List<string>();
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            int lineNumber = 0;
            foreach (var line in File.ReadLines(path))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                string? text;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    text = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String
                        ? t.GetString() : null;
                }
                catch (JsonException e)
                {
                    throw new InvalidDataException($"{path}:{lineNumber}: malformed JSON ({e.Message})");
                }
                if (text is null) throw new InvalidDataException($"{path}:{lineNumber}: expected an object with a string field \"text\"");
                if (!string.IsNullOrWhiteSpace(text)) documents.Add(text);
            }
        }
        else
        {
            var current = new System.Text.StringBuilder();
            foreach (var line in File.ReadLines(path))
            {
                if (string.IsNullOrWhiteSpace(line))
                {
                    if (current.Length > 0) { documents.Add(current.ToString()); current.Clear(); }
                    continue;
                }
                if (current.Length > 0) current.Append('\n');
                current.Append(line);
            }
            if (current.Length > 0) documents.Add(current.ToString());
        }
        if (documents.Count == 0) throw new InvalidDataException($"{path}: contains no text");
        return documents;
    }

    /// <summary>All documents as one token stream, each followed by end-of-text.</summary>
    public static int[] Tokenize(IEnumerable<string> documents, CompactVocabulary vocabulary)
    {
        var stream = new List<int>();
        foreach (var doc in documents)
        {
            stream.AddRange(vocabulary.Encode(doc));
            stream.Add(vocabulary.EndOfTextId);
        }
        return stream.ToArray();
    }
}
