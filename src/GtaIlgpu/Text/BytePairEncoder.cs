using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace GtaIlgpu.Text;

/// <summary>
/// Byte-level BPE over token byte strings. A piece of text (one pre-tokenizer match) starts as its UTF-8 bytes,
/// each the id of its single-byte token; then the adjacent pair of lowest merge rank is merged, the leftmost of
/// equal ranks first, until no pair merges. Merge ranks come either from a merge list (merges.txt, tokenizer.json:
/// rank = position in the list) or, for tiktoken files, from the token table itself (a pair merges when the
/// concatenation of its bytes is a token, and its rank is that token's rank, which is also its id). With
/// <c>wholePieceFirst</c> (tiktoken, and tokenizer.json's ignore_merges) a piece that is itself a token is that token.
/// </summary>
internal sealed class BytePairEncoder
{
    private const int CacheLimit = 100_000;

    private readonly byte[]?[] _bytesOf;
    private readonly Dictionary<string, int> _idOf;
    private readonly int[] _byteIds = new int[256];
    private readonly Dictionary<long, (int Rank, int Id)>? _merges;
    private readonly bool _wholePieceFirst;
    private readonly Regex _split;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);

    /// <param name="tokens">id → token bytes.</param>
    /// <param name="merges">The merge list in rank order as pairs of ids, or null to rank merges by the token table (tiktoken).</param>
    /// <exception cref="ArgumentException">A byte has no single-byte token, two ids share bytes, or a merge's result is not a token.</exception>
    public BytePairEncoder(IReadOnlyDictionary<int, byte[]> tokens, IReadOnlyList<(int Left, int Right)>? merges, bool wholePieceFirst, Regex split)
    {
        _bytesOf = new byte[]?[tokens.Count == 0 ? 0 : tokens.Keys.Max() + 1];
        _idOf = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        foreach (var (id, bytes) in tokens)
        {
            if (id < 0) throw new ArgumentException($"token id {id} is negative");
            if (bytes.Length == 0) throw new ArgumentException($"token {id} is empty");
            if (!_idOf.TryAdd(ByteLevel.Key(bytes), id))
                throw new ArgumentException($"tokens {_idOf[ByteLevel.Key(bytes)]} and {id} are the same bytes '{ByteLevel.ToToken(bytes)}'");
            _bytesOf[id] = bytes;
        }
        for (int b = 0; b < 256; b++)
            _byteIds[b] = _idOf.TryGetValue(ByteLevel.Key([(byte)b]), out int id) ? id
                : throw new ArgumentException($"byte 0x{b:X2} ('{ByteLevel.CharOf((byte)b)}') has no token of its own");
        if (merges is not null)
        {
            _merges = new Dictionary<long, (int, int)>(merges.Count);
            for (int rank = 0; rank < merges.Count; rank++)
            {
                var (left, right) = merges[rank];
                string merged = ByteLevel.Key([.. _bytesOf[left]!, .. _bytesOf[right]!]);
                if (!_idOf.TryGetValue(merged, out int id))
                    throw new ArgumentException($"merge {rank} makes '{ByteLevel.ToToken(ByteLevel.ToBytes(merged))}', which is not a token");
                _merges.TryAdd(PairKey(left, right), (rank, id)); // a repeated merge keeps its first rank
            }
        }
        _wholePieceFirst = wholePieceFirst;
        _split = split;
    }

    /// <summary>One past the largest token id.</summary>
    public int Size => _bytesOf.Length;

    public byte[]? BytesOf(int id) => id >= 0 && id < _bytesOf.Length ? _bytesOf[id] : null;

    public bool TryGetId(ReadOnlySpan<byte> bytes, out int id) => _idOf.TryGetValue(ByteLevel.Key(bytes), out id);

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Appends the ids of a text without special tokens.</summary>
    public void Encode(string text, List<int> ids)
    {
        foreach (var (start, length) in PreTokenizers.Split(_split, text))
        {
            string piece = text.Substring(start, length);
            if (!_cache.TryGetValue(piece, out var pieceIds))
            {
                pieceIds = EncodePiece(Encoding.UTF8.GetBytes(piece));
                if (_cache.Count < CacheLimit) _cache.TryAdd(piece, pieceIds);
            }
            ids.AddRange(pieceIds);
        }
    }

    private int[] EncodePiece(byte[] bytes)
    {
        if (_wholePieceFirst && _idOf.TryGetValue(ByteLevel.Key(bytes), out int whole)) return [whole];
        var symbols = new List<int>(bytes.Length);
        foreach (byte b in bytes) symbols.Add(_byteIds[b]);
        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue, bestAt = -1, bestId = -1;
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                if (!TryMerge(symbols[i], symbols[i + 1], out int rank, out int id) || rank >= bestRank) continue;
                (bestRank, bestAt, bestId) = (rank, i, id);
            }
            if (bestAt < 0) break;
            symbols[bestAt] = bestId;
            symbols.RemoveAt(bestAt + 1);
        }
        return symbols.ToArray();
    }

    private bool TryMerge(int left, int right, out int rank, out int id)
    {
        if (_merges is not null)
        {
            bool found = _merges.TryGetValue(PairKey(left, right), out var merge);
            (rank, id) = merge;
            return found;
        }
        // tiktoken: the pair merges into the token of its concatenated bytes, at that token's rank (= its id).
        byte[] a = _bytesOf[left]!, b = _bytesOf[right]!;
        Span<byte> joined = a.Length + b.Length <= 256 ? stackalloc byte[a.Length + b.Length] : new byte[a.Length + b.Length];
        a.CopyTo(joined);
        b.CopyTo(joined[a.Length..]);
        bool ok = _idOf.TryGetValue(ByteLevel.Key(joined), out id);
        rank = id;
        return ok;
    }
}
