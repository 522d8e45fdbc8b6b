using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GtaIlgpu.Common;

/// <summary>
/// bfloat16 as bit patterns: the top 16 bits of a float32 (sign, the same 8 exponent bits, 7 mantissa
/// bits). Widening is exact (append 16 zero bits), so a frozen bf16 weight computes exactly what its
/// float32 widening would; narrowing rounds to nearest, ties to even, as PyTorch's
/// <c>tensor.to(torch.bfloat16)</c> does. Kernels widen with the same shift (see MatmulBf16Kernels).
/// </summary>
public static class BFloat16
{
    /// <summary>
    /// The nearest bfloat16, ties to even. A finite float beyond the largest bfloat16 rounds to ±∞ (as the
    /// rounding dictates), ±∞ and ±0 stay exact, denormals round like any other value, and a NaN stays a
    /// NaN with its sign: the quiet bit is set, since dropping the low payload bits of a signalling NaN
    /// could otherwise leave the bits of ∞.
    /// </summary>
    public static ushort FromFloat(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((bits >> 16) | 0x0040u);
        // Adding 0x7FFF rounds up past the halfway point; the kept bit's own value breaks the tie to even.
        // A carry out of the mantissa moves into the exponent, which is the right answer (up to ∞).
        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The float32 with these 16 bits on top: exact for every pattern (a NaN stays the same NaN).</summary>
    public static float ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>destination[i] = FromFloat(source[i]) for i &lt; source.Length.</summary>
    public static void Narrow(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"bfloat16 narrow: destination has {destination.Length} elements, source {source.Length}", nameof(destination));
        for (int i = 0; i < source.Length; i++) destination[i] = FromFloat(source[i]);
    }

    /// <summary>destination[i] = ToFloat(source[i]) for i &lt; source.Length, eight at a time.</summary>
    public static void Widen(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException($"bfloat16 widen: destination has {destination.Length} elements, source {source.Length}", nameof(destination));
        ref ushort s = ref MemoryMarshal.GetReference(source);
        ref float d = ref MemoryMarshal.GetReference(destination);
        int i = 0, n = source.Length;
        for (; i <= n - 8; i += 8)
            Widen8(Vector128.LoadUnsafe(ref s, (nuint)i)).StoreUnsafe(ref d, (nuint)i);
        for (; i < n; i++) destination[i] = ToFloat(source[i]);
    }

    /// <summary>Eight bfloat16 patterns widened to eight floats (zero-extend, shift into the top half).</summary>
    internal static Vector256<float> Widen8(Vector128<ushort> bits)
    {
        var (low, high) = Vector128.Widen(bits);
        return Vector256.ShiftLeft(Vector256.Create(low, high), 16).AsSingle();
    }
}
