using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Writes the safetensors format (see <see cref="SafeTensorsHeader"/>): the header, then each tensor's
/// raw little-endian data in order. Only F32 is written.
/// </summary>
public static class SafeTensorsWriter
{
    public sealed record Tensor(string Name, int[] Shape, float[] Data);

    public static void Write(Stream output, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine");
        foreach (var t in tensors)
        {
            long count = t.Shape.Aggregate(1L, (a, b) => a * b);
            if (count != t.Data.Length) throw new ArgumentException($"tensor {t.Name}: shape [{string.Join(",", t.Shape)}] holds {count} values, data has {t.Data.Length}");
        }
        var duplicate = tensors.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"tensor name '{duplicate.Key}' is given twice");
        var header = SafeTensorsHeader.Contiguous(tensors.Select(t => (t.Name, "F32", t.Shape.Select(d => (long)d).ToArray())), metadata);
        byte[] headerBytes = header.ToBytes();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
        output.Write(length);
        output.Write(headerBytes);
        foreach (var t in tensors) output.Write(MemoryMarshal.AsBytes(t.Data.AsSpan()));
    }
}
