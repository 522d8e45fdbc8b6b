namespace GtaIlgpu.Text;

/// <summary>
/// Encodes text in which some strings are special tokens: each occurrence becomes its single id, and
/// the text between them goes through the ordinary encoder. Where two specials start at the same
/// place the longer one wins, so a special that is a prefix of another cannot split it.
/// </summary>
public static class SpecialTokenSplitter
{
    public static int[] Encode(string text, IEnumerable<string> specials, Func<string, int> specialId, Func<string, IEnumerable<int>> encodePlain)
    {
        var ids = new List<int>();
        int start = 0;
        while (start < text.Length)
        {
            int foundAt = text.Length;
            string? found = null;
            foreach (var special in specials)
            {
                int at = text.IndexOf(special, start, StringComparison.Ordinal);
                if (at < 0) continue;
                if (at < foundAt || (at == foundAt && found is not null && special.Length > found.Length)) { foundAt = at; found = special; }
            }
            if (foundAt > start) ids.AddRange(encodePlain(text[start..foundAt]));
            if (found is null) break;
            ids.Add(specialId(found));
            start = foundAt + found.Length;
        }
        return ids.ToArray();
    }
}
