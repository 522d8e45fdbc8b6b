using System.Buffers.Binary;
using System.Text;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>The safetensors reader: exact round trips, F16/BF16 widening, and a clear error for every malformed file.</summary>
public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-st-{Guid.NewGuid():N}");

    public SafeTensorsTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>A file from raw parts: the 8-byte length (given or true), the header text, and the data bytes.</summary>
    private string Raw(string header, byte[] data, ulong? declaredLength = null, string name = "t.safetensors")
    {
        string path = Path.Combine(_folder, name);
        var json = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, declaredLength ?? (ulong)json.Length);
        f.Write(length);
        f.Write(json);
        f.Write(data);
        return path;
    }

    [Fact]
    public void Round_trip_through_our_writer_is_bit_exact_and_keeps_metadata()
    {
        var rng = new Rng(3);
        var a = Enumerable.Range(0, 12).Select(_ => (float)rng.NextNormal()).ToArray();
        a[0] = float.Epsilon; a[1] = -0f; a[2] = float.MaxValue; a[3] = BitConverter.Int32BitsToSingle(0x7FC00123); // denormal, −0, max, a NaN payload
        var b = new[] { 1.5f, -2.25f, 3f };
        string path = Path.Combine(_folder, "rt.safetensors");
        AtomicFile.Write(path, s => SafeTensorsWriter.Write(s, [new("a", [3, 4], a), new("b", [3], b), new("empty", [0, 2], [])],
            new Dictionary<string, string> { ["format"] = "pt" }));
        using var reader = SafeTensorsReader.Open(path);
        Assert.Equal(a.Select(BitConverter.SingleToInt32Bits), reader.ReadFloat32("a").Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(b, reader.ReadFloat32("b"));
        Assert.Empty(reader.ReadFloat32("empty"));
        Assert.Equal([3L, 4L], reader["a"].Shape);
        Assert.Equal("pt", reader.Header.Metadata["format"]);
        Assert.Equal(0, (int)(new FileInfo(path).Length - 8 - reader.Header.DataLength) % 8); // header padded to 8 bytes
    }

    [Fact]
    public void F16_and_bf16_are_widened_to_float32_exactly()
    {
        float[] values = [1f, -2.5f, 0.099975586f, 65504f];
        var f16 = new byte[8];
        var bf16 = new byte[8];
        for (int i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(f16.AsSpan(2 * i), (Half)values[i]);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16.AsSpan(2 * i), (ushort)(BitConverter.SingleToInt32Bits(values[i]) >> 16));
        }
        string path = Raw("{\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}", [.. f16, .. bf16]);
        using var reader = SafeTensorsReader.Open(path);
        Assert.Equal(values.Select(v => (float)(Half)v), reader.ReadFloat32("h"));
        Assert.Equal(values.Select(v => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) & unchecked((int)0xFFFF0000))), reader.ReadFloat32("b"));
    }

    public static TheoryData<string, string, int, ulong?, string> Malformed => new()
    {
        // name, header, data bytes, declared header length (null: true length), expected message fragment
        { "short", "", 0, 0, "too short" },
        { "huge length", "{}", 0, 1UL << 40, "exceeds the format's limit" },
        { "length past end", "{}", 0, 1000, "runs past the end" },
        { "not json", "{\"a\": [1, 2", 0, null, "not valid JSON" },
        { "not an object", "[1, 2]", 0, null, "not a JSON object" },
        { "unknown dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, null, "unknown dtype 'Q4'" },
        { "missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, null, "data_offsets" },
        { "negative shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, null, "non-negative integers" },
        { "shape size mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, null, "needs 2×4 bytes" },
        { "offsets reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, null, "begin ≤ end" },
        { "overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, null, "overlap" },
        { "hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, null, "hole of 4 bytes" },
        { "offsets out of range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, null, "truncated" },
        { "trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, null, "not described by the header" },
        { "duplicate names", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, null, "appears twice" },
        { "bad metadata", "{\"__metadata__\":{\"k\":1}}", 0, null, "must be a string" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_files_are_rejected_with_the_file_and_the_problem_named(string name, string header, int dataBytes, ulong? declaredLength, string expected)
    {
        string path = name == "short" ? Path.Combine(_folder, "short.safetensors") : Raw(header, new byte[dataBytes], declaredLength);
        if (name == "short") File.WriteAllBytes(path, [1, 2, 3]);
        var error = Assert.Throws<InvalidDataException>(() => SafeTensorsReader.Open(path).Dispose());
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_dtype_that_is_not_a_float_is_listed_but_not_read_as_float32()
    {
        string path = Raw("{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
        using var reader = SafeTensorsReader.Open(path);
        Assert.Contains("only F32, F16 and BF16", Assert.Throws<InvalidDataException>(() => reader.ReadFloat32("i")).Message);
        Assert.Contains("no tensor named 'x'", Assert.Throws<InvalidDataException>(() => reader.ReadFloat32("x")).Message);
    }
}
