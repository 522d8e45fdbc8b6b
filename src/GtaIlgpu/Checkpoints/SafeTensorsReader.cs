using System.Buffers.Binary;
using System.Runtime.InteropServices;
using GtaIlgpu.Common;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Reads a safetensors file: the header is parsed and validated when the file is opened (a malformed
/// file is rejected with the file and the problem named); tensors are then read one at a time (or any range of
/// one), F32, F16 and BF16 converted to float32.
/// </summary>
public sealed class SafeTensorsReader : ITensorSource
{
    private readonly FileStream _stream;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorsEntry> _byName;

    private SafeTensorsReader(string path, FileStream stream, SafeTensorsHeader header, long dataStart)
    {
        Path = path;
        _stream = stream;
        Header = header;
        _dataStart = dataStart;
        _byName = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public SafeTensorsHeader Header { get; }
    public IReadOnlyCollection<string> Names => _byName.Keys;

    public static SafeTensorsReader Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            long fileLength = stream.Length;
            if (fileLength < 8) throw new InvalidDataException($"{path}: truncated: {fileLength} bytes, too short for the 8-byte header length");
            Span<byte> prefix = stackalloc byte[8];
            stream.ReadExactly(prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > SafeTensorsHeader.MaxHeaderBytes)
                throw new InvalidDataException($"{path}: header length {headerLength} exceeds the format's limit of {SafeTensorsHeader.MaxHeaderBytes} bytes (not a safetensors file?)");
            if ((long)headerLength > fileLength - 8)
                throw new InvalidDataException($"{path}: header length {headerLength} runs past the end of the {fileLength}-byte file");
            if (headerLength < 2) throw new InvalidDataException($"{path}: header length {headerLength} is too short for a JSON object");
            var json = new byte[headerLength];
            stream.ReadExactly(json);
            long dataStart = 8 + (long)headerLength;
            var header = SafeTensorsHeader.Parse(json, fileLength - dataStart, path);
            return new SafeTensorsReader(path, stream, header, dataStart);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafeTensorsEntry this[string name] =>
        _byName.TryGetValue(name, out var e) ? e : throw new InvalidDataException($"{Path}: no tensor named '{name}'");

    /// <summary>The tensor's values as float32 (F32 as is; F16 and BF16 widened exactly).</summary>
    public float[] ReadFloat32(string name)
    {
        var e = this[name];
        if (e.ElementCount > Array.MaxLength) throw new InvalidDataException($"{Path}: tensor '{name}' has {e.ElementCount} values, too many for one array");
        var values = HostArrays.Allocate<float>(e.ElementCount, $"{Path}: tensor '{name}'");
        ReadFloat32(name, 0, values);
        return values;
    }

    /// <summary>Values [start, start + destination.Length) of the tensor (row-major) as float32, read a bounded chunk at a time.</summary>
    public void ReadFloat32(string name, long start, Span<float> destination)
    {
        var e = this[name];
        int width = e.DType switch
        {
            "F32" => 4,
            "F16" or "BF16" => 2,
            _ => throw new InvalidDataException($"{Path}: tensor '{name}' has dtype {e.DType}; only F32, F16 and BF16 can be read as float32"),
        };
        if (start < 0 || start + destination.Length > e.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(start), $"{Path}: values [{start}, {start + destination.Length}) of tensor '{name}', which has {e.ElementCount}");
        _stream.Position = _dataStart + e.Begin + start * width;
        int chunk = HostArrays.ChunkLength;
        if (e.DType == "F32" && BitConverter.IsLittleEndian)
        {
            for (int done = 0; done < destination.Length; done += chunk)
                _stream.ReadExactly(MemoryMarshal.AsBytes(destination.Slice(done, Math.Min(chunk, destination.Length - done))));
            return;
        }
        var raw = new byte[width * Math.Min(chunk, destination.Length)];
        for (int done = 0; done < destination.Length; done += chunk)
        {
            var values = destination.Slice(done, Math.Min(chunk, destination.Length - done));
            var bytes = raw.AsSpan(0, width * values.Length);
            _stream.ReadExactly(bytes);
            switch (e.DType)
            {
                case "F32":
                    for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
                    break;
                case "F16":
                    for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(2 * i)..]);
                    break;
                default:
                    if (BitConverter.IsLittleEndian) BFloat16.Widen(MemoryMarshal.Cast<byte, ushort>(bytes), values);
                    else for (int i = 0; i < values.Length; i++) values[i] = BFloat16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                    break;
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
