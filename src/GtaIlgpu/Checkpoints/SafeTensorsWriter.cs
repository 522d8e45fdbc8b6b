using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Writes the safetensors format: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to dtype, shape and [begin, end) byte offsets into the data that follows, then the raw
/// little-endian data. Only F32 is written. The header is padded with spaces to 8-byte alignment.
/// </summary>
public static class SafeTensorsWriter
{
    public sealed record Tensor(string Name, int[] Shape, float[] Data);

    public static void Write(Stream output, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var t in tensors)
        {
            long count = t.Shape.Aggregate(1L, (a, b) => a * b);
            if (count != t.Data.Length) throw new ArgumentException($"tensor {t.Name}: shape [{string.Join(",", t.Shape)}] holds {count} values, data has {t.Data.Length}");
            long bytes = count * sizeof(float);
            header[t.Name] = new { dtype = "F32", shape = t.Shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header);
        int padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        json.CopyTo(headerBytes, 0);
        for (int i = json.Length; i < padded; i++) headerBytes[i] = (byte)' ';
        Span<byte> length = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        output.Write(length);
        output.Write(headerBytes);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine");
        foreach (var t in tensors) output.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
    }
}
