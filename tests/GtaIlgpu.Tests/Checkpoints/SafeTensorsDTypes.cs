using System.Buffers.Binary;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>
/// What the test folders write in a dtype the way torch stores it, independently of our reader: values
/// rounded to the dtype first (so they load back exactly) and encoded little-endian; BF16 is the top half
/// of a float32 (the test values are rounded by truncation, so the top half is the value).
/// </summary>
internal static class SafeTensorsDTypes
{
    public static float Round(string dtype, float v) => dtype switch
    {
        "F16" => (float)(Half)v,
        "BF16" => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(v) & unchecked((int)0xFFFF0000)),
        _ => v,
    };

    public static byte[] Encode(string dtype, float[] values)
    {
        int size = dtype == "F32" ? 4 : 2;
        var bytes = new byte[values.Length * size];
        for (int i = 0; i < values.Length; i++)
        {
            var span = bytes.AsSpan(i * size);
            if (dtype == "F32") BinaryPrimitives.WriteSingleLittleEndian(span, values[i]);
            else if (dtype == "F16") BinaryPrimitives.WriteHalfLittleEndian(span, (Half)values[i]);
            else BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)(BitConverter.SingleToInt32Bits(values[i]) >>> 16));
        }
        return bytes;
    }
}
