using System.Buffers.Binary;
using System.Runtime.InteropServices;
using GtaIlgpu.Common;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Writes the safetensors format (see <see cref="SafeTensorsHeader"/>): the header, then each tensor's
/// raw little-endian data in order. Only F32 is written. The header needs only names and shapes, so a tensor's
/// values are asked for when the writer reaches them and dropped once written: a model larger than any
/// array passes through memory one tensor at a time.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>A tensor to write: its name, its shape, and its values, produced when the writer reaches it.</summary>
    public sealed class Tensor(string name, int[] shape, Func<float[]> values)
    {
        /// <summary>A tensor whose values are already in memory.</summary>
        public Tensor(string name, int[] shape, float[] data) : this(name, shape, () => data)
        {
            if (data.Length != Count) throw new ArgumentException($"tensor {name}: shape [{string.Join(",", shape)}] holds {Count} values, data has {data.Length}");
        }

        public string Name { get; } = name;
        public int[] Shape { get; } = shape;
        public long Count { get; } = shape.Aggregate(1L, (a, b) => a * b);
        public long Bytes => 4 * Count;

        /// <summary>The values (row-major, <see cref="Count"/> of them); a lazy tensor produces them anew on each call.</summary>
        public float[] Values() => values();
    }

    public static void Write(Stream output, IReadOnlyList<Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine");
        var duplicate = tensors.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"tensor name '{duplicate.Key}' is given twice");
        var header = SafeTensorsHeader.Contiguous(tensors.Select(t => (t.Name, "F32", t.Shape.Select(d => (long)d).ToArray())), metadata);
        byte[] headerBytes = header.ToBytes();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
        output.Write(length);
        output.Write(headerBytes);
        foreach (var t in tensors)
        {
            var data = t.Values();
            if (data.Length != t.Count) throw new ArgumentException($"tensor {t.Name}: shape [{string.Join(",", t.Shape)}] holds {t.Count} values, data has {data.Length}");
            // In pieces: a tensor above 512M values is more bytes than one span holds.
            int chunk = HostArrays.ChunkLength;
            for (int start = 0; start < data.Length; start += chunk)
                output.Write(MemoryMarshal.AsBytes(data.AsSpan(start, Math.Min(chunk, data.Length - start))));
        }
    }
}
