using System.Text;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// A test tokenizer that spells every GTA tag with several ordinary tokens, as a pretrained Qwen/Llama
/// BPE does: greedy longest match over a list of pieces (some of which straddle a tag's edge, e.g.
/// "s&gt;p" or "&lt;/guess&gt;&lt;th"), falling back to single characters; its specials (end-of-text, chat
/// tokens) are single ids. Greedy matching makes the tokenization depend on what precedes a text
/// (":" + "&lt;gu…" becomes ":&lt;" + "gu…"), like a real BPE's merges across a boundary.
/// </summary>
internal sealed class PieceTokenizer : ITextTokenizer
{
    private readonly List<string> _tokens = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly HashSet<string> _specials;
    private readonly int _longest;

    public PieceTokenizer(IEnumerable<string> specials, IEnumerable<string> pieces)
    {
        _specials = [.. specials];
        foreach (var s in _specials) Add(s);
        foreach (var p in pieces) Add(p);
        for (char c = ' '; c <= '~'; c++) Add(c.ToString());
        Add("\n");
        _longest = _tokens.Where(t => !_specials.Contains(t)).Max(t => t.Length);
    }

    private void Add(string token)
    {
        if (_ids.TryAdd(token, _tokens.Count)) _tokens.Add(token);
    }

    public int VocabularySize => _tokens.Count;
    public int EndOfTextId => _ids.GetValueOrDefault("<|endoftext|>", -1);
    public string Piece(int id) => _tokens[id];
    public int Id(string piece) => _ids[piece];

    public int[] Encode(string text) => SpecialTokenSplitter.Encode(text, _specials, s => _ids[s], EncodePlain);

    private IEnumerable<int> EncodePlain(string text)
    {
        var ids = new List<int>();
        for (int i = 0; i < text.Length;)
        {
            for (int length = Math.Min(_longest, text.Length - i); length > 0; length--)
            {
                string candidate = text.Substring(i, length);
                if (_specials.Contains(candidate) || !_ids.TryGetValue(candidate, out int id)) continue;
                ids.Add(id);
                i += length;
                break;
            }
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids) => string.Concat(ids.Select(id => _tokens[id]));

    public byte[] TokenBytes(int id) => Encoding.UTF8.GetBytes(_tokens[id]);

    public bool TryGetSpecialId(string token, out int id)
    {
        id = -1;
        return _specials.Contains(token) && _ids.TryGetValue(token, out id);
    }

    public void Save(string folder) => throw new NotSupportedException();

    /// <summary>
    /// The pieces of the tests: instruction and text words (short prompts), and tag pieces that split
    /// every tag, several of them across a tag's edge: "s&gt;p"/"s&gt;n" (the end of &lt;guess&gt; and the label's
    /// start), "ve&lt;/" and "guess&gt;&lt;th" (the label's end and the start of &lt;/guess&gt;; the close's rest and
    /// the start of &lt;think&gt;), "&lt;/guess&gt;&lt;th" (the whole close and the start of &lt;think&gt;), ":&lt;" (the plain prompt's last character and the completion's first).
    /// </summary>
    public static PieceTokenizer ForTests(params string[] extraSpecials) => new(
        ["<|endoftext|>", .. extraSpecials],
        [
            "Task: ", "sentiment", ". Classify the text as one of: ", "positive, negative", ". Reply with ",
            "a guess, a thought and an answer.", "a thought and an answer.", "an answer.", "\nText:", "\nReply",
            "the ", " was ", " overall", " it says ", "food", "great",
            "<gu", "es", "s>p", "s>n", "ositi", "ve</", "guess><th", "egativ", "</guess><th", "<th", "ink>", "</th", "<ans", "wer>", "</ans", ":<",
            "system", "user", "assistant",
        ]);
}
