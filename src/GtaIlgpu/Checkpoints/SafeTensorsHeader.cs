using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GtaIlgpu.Checkpoints;

/// <summary>The element types the safetensors format names, with their sizes in bytes.</summary>
public static class SafeTensorsDType
{
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E5M2"] = 1, ["F8_E4M3"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    public static bool TryGetSize(string dtype, out int size) => Sizes.TryGetValue(dtype, out size);
}

/// <summary>One tensor's header entry: its dtype, shape and [Begin, End) byte range within the data section.</summary>
public sealed record SafeTensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
}

/// <summary>
/// The safetensors header, shared by the reader and the writer: an 8-byte little-endian length, then
/// that many bytes of JSON mapping each tensor name to {dtype, shape, data_offsets}, plus an optional
/// "__metadata__" map of strings. The data section that follows must be covered by the tensors exactly:
/// sorted by offset they are contiguous from 0 to its end, with no holes and no overlaps.
/// </summary>
public sealed class SafeTensorsHeader
{
    /// <summary>The format's own limit on the JSON header (100 MB) guards against absurd lengths.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    public SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        Entries = entries;
        Metadata = metadata ?? new Dictionary<string, string>();
    }

    /// <summary>Entries in file order (ascending data offsets).</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public long DataLength => Entries.Count == 0 ? 0 : Entries[^1].End;

    /// <summary>Lays tensors out back to back in the given order.</summary>
    public static SafeTensorsHeader Contiguous(IEnumerable<(string Name, string DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var entries = new List<SafeTensorsEntry>();
        long offset = 0;
        foreach (var (name, dtype, shape) in tensors)
        {
            if (!SafeTensorsDType.TryGetSize(dtype, out int size)) throw new ArgumentException($"tensor {name}: unknown dtype {dtype}");
            long bytes = shape.Aggregate(1L, (a, b) => a * b) * size;
            entries.Add(new SafeTensorsEntry(name, dtype, shape, offset, offset + bytes));
            offset += bytes;
        }
        var header = new SafeTensorsHeader(entries, metadata);
        header.Validate("(header being written)");
        return header;
    }

    /// <summary>The JSON, padded with spaces to a multiple of 8 bytes so the data section starts aligned.</summary>
    public byte[] ToBytes()
    {
        var root = new JsonObject();
        if (Metadata.Count > 0)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in Metadata) meta[k] = v;
            root[MetadataKey] = meta;
        }
        foreach (var e in Entries)
        {
            var shape = new JsonArray();
            foreach (long d in e.Shape) shape.Add(d);
            root[e.Name] = new JsonObject { ["dtype"] = e.DType, ["shape"] = shape, ["data_offsets"] = new JsonArray(e.Begin, e.End) };
        }
        byte[] json = Encoding.UTF8.GetBytes(root.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        var bytes = new byte[padded];
        json.CopyTo(bytes, 0);
        bytes.AsSpan(json.Length).Fill((byte)' ');
        return bytes;
    }

    /// <summary>Parses and validates the JSON header of a file whose data section holds dataLength bytes.</summary>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: the safetensors header is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: the safetensors header is not a JSON object");
            var entries = new List<SafeTensorsEntry>();
            Dictionary<string, string>? metadata = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!seen.Add(property.Name)) throw new InvalidDataException($"{source}: tensor name '{property.Name}' appears twice in the header");
                if (property.Name == MetadataKey)
                {
                    metadata = ParseMetadata(property.Value, source);
                    continue;
                }
                entries.Add(ParseEntry(property.Name, property.Value, source));
            }
            entries.Sort((a, b) => a.Begin.CompareTo(b.Begin));
            var header = new SafeTensorsHeader(entries, metadata);
            header.Validate(source);
            if (header.DataLength != dataLength)
                throw new InvalidDataException(dataLength < header.DataLength
                    ? $"{source}: truncated: the header describes {header.DataLength} bytes of tensor data but the file holds {dataLength}"
                    : $"{source}: {dataLength - header.DataLength} bytes after the last tensor are not described by the header");
            return header;
        }
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement value, string source)
    {
        if (value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{source}: {MetadataKey} must be an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw new InvalidDataException($"{source}: {MetadataKey}.{p.Name} must be a string");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!)) throw new InvalidDataException($"{source}: {MetadataKey}.{p.Name} appears twice");
        }
        return metadata;
    }

    private static SafeTensorsEntry ParseEntry(string name, JsonElement value, string source)
    {
        string where = $"{source}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{where}: expected an object with dtype, shape and data_offsets");
        if (!value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{where}: missing string field 'dtype'");
        string type = dtype.GetString()!;
        if (!SafeTensorsDType.TryGetSize(type, out _)) throw new InvalidDataException($"{where}: unknown dtype '{type}'");
        if (!value.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where}: missing array field 'shape'");
        var dims = new List<long>();
        foreach (var d in shape.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0)
                throw new InvalidDataException($"{where}: shape entries must be non-negative integers");
            dims.Add(n);
        }
        if (!value.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new InvalidDataException($"{where}: 'data_offsets' must be an array [begin, end]");
        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new InvalidDataException($"{where}: data_offsets must be integers with 0 ≤ begin ≤ end");
        return new SafeTensorsEntry(name, type, dims.ToArray(), begin, end);
    }

    /// <summary>Sizes match shapes, and the sorted ranges tile [0, DataLength) with no hole or overlap.</summary>
    private void Validate(string source)
    {
        long expected = 0;
        foreach (var e in Entries)
        {
            SafeTensorsDType.TryGetSize(e.DType, out int size);
            long count;
            try { count = e.Shape.Aggregate(1L, (a, b) => checked(a * b)); }
            catch (OverflowException) { throw new InvalidDataException($"{source}: tensor '{e.Name}': shape [{string.Join(", ", e.Shape)}] is too large"); }
            if (count > long.MaxValue / size || count * size != e.ByteLength)
                throw new InvalidDataException($"{source}: tensor '{e.Name}': shape [{string.Join(", ", e.Shape)}] of {e.DType} needs {count}×{size} bytes but data_offsets [{e.Begin}, {e.End}] span {e.ByteLength}");
            if (e.Begin < expected)
                throw new InvalidDataException($"{source}: tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] overlap the previous tensor (which ends at {expected})");
            if (e.Begin > expected)
                throw new InvalidDataException($"{source}: tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] leave a hole of {e.Begin - expected} bytes after offset {expected}");
            expected = e.End;
        }
    }
}
