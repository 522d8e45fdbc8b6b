using GtaIlgpu.Common;

namespace GtaIlgpu.Tests;

/// <summary>
/// bfloat16 narrowing (round to nearest, ties to even) and exact widening. Rounding is checked against an
/// independent rule — pick whichever of the two neighbouring bfloat16 values is nearer in double, the even
/// one on a tie — rather than against the bit trick it is implemented with.
/// </summary>
public sealed class BFloat16Tests
{
    private static float Bits(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    [Theory]
    [InlineData(0x3F80_0000u, 0x3F80)] // 1.0 exactly
    [InlineData(0x3F80_8000u, 0x3F80)] // halfway between 0x3F80 and 0x3F81: to the even one, down
    [InlineData(0x3F81_8000u, 0x3F82)] // halfway between 0x3F81 and 0x3F82: to the even one, up
    [InlineData(0x3F80_8001u, 0x3F81)] // just past halfway: up
    [InlineData(0x3F80_7FFFu, 0x3F80)] // just below halfway: down
    [InlineData(0xBF81_8000u, 0xBF82)] // the sign does not change the rule
    [InlineData(0x3FFF_8000u, 0x4000)] // a carry out of the mantissa moves into the exponent
    [InlineData(0x7F7F_FFFFu, 0x7F80)] // float.MaxValue rounds past the largest bfloat16, to +∞
    [InlineData(0x7F7F_7FFFu, 0x7F7F)] // the largest bfloat16 neighbourhood, just below halfway
    [InlineData(0x7F80_0000u, 0x7F80)] // +∞
    [InlineData(0xFF80_0000u, 0xFF80)] // −∞
    [InlineData(0x0000_0000u, 0x0000)] // +0
    [InlineData(0x8000_0000u, 0x8000)] // −0 keeps its sign
    [InlineData(0x0000_0001u, 0x0000)] // the smallest denormal rounds to +0
    [InlineData(0x8000_0001u, 0x8000)] // … and its negative to −0
    [InlineData(0x0000_8000u, 0x0000)] // a denormal tie, to even (0)
    [InlineData(0x0001_8000u, 0x0002)] // a denormal tie, to even (2)
    [InlineData(0x007F_FFFFu, 0x0080)] // the largest denormal rounds up to the smallest normal
    [InlineData(0x0001_0000u, 0x0001)] // the smallest bfloat16 denormal is exact
    public void Narrowing_rounds_to_nearest_even(uint floatBits, int expected)
    {
        Assert.Equal((ushort)expected, BFloat16.FromFloat(Bits(floatBits)));
        Assert.Equal((ushort)expected, Nearest(Bits(floatBits)));
    }

    [Theory]
    [InlineData(0x7FC0_0000u)] // the canonical quiet NaN
    [InlineData(0xFFC0_0000u)] // a negative quiet NaN
    [InlineData(0x7F80_0001u)] // a signalling NaN whose payload lies in the dropped bits: truncation would give +∞
    [InlineData(0xFF80_0001u)]
    [InlineData(0x7FFF_FFFFu)] // rounding up would carry into the sign bit
    [InlineData(0x7FA0_0000u)] // a signalling NaN with a kept payload
    public void NaN_stays_a_quiet_NaN_with_its_sign(uint floatBits)
    {
        ushort b = BFloat16.FromFloat(Bits(floatBits));
        Assert.True(float.IsNaN(BFloat16.ToFloat(b)), $"0x{floatBits:X8} narrowed to 0x{b:X4}, not a NaN");
        Assert.Equal(0x0040, b & 0x0040);                      // quiet
        Assert.Equal(floatBits >> 31, (uint)b >> 15);          // sign kept
        Assert.Equal((floatBits >> 16) & 0x003F, b & 0x003Fu); // the payload bits that fit are kept
    }

    [Fact]
    public void Every_pattern_that_is_not_NaN_survives_a_round_trip_and_widens_exactly()
    {
        int nans = 0;
        for (int i = 0; i <= ushort.MaxValue; i++)
        {
            ushort b = (ushort)i;
            float f = BFloat16.ToFloat(b);
            Assert.Equal((uint)b << 16, BitConverter.SingleToUInt32Bits(f));
            if (float.IsNaN(f)) { nans++; continue; }
            Assert.Equal(b, BFloat16.FromFloat(f));
        }
        Assert.Equal(2 * 127, nans); // exponent all ones and a nonzero 7-bit mantissa, either sign
    }

    [Fact]
    public void Random_floats_round_to_the_nearest_bfloat16()
    {
        var random = new Random(16);
        for (int i = 0; i < 200_000; i++)
        {
            float f = Bits((uint)random.NextInt64(0, 1L << 32));
            if (float.IsNaN(f)) continue;
            ushort expected = Nearest(f), actual = BFloat16.FromFloat(f);
            Assert.True(expected == actual, $"{f:R} (0x{BitConverter.SingleToUInt32Bits(f):X8}): nearest 0x{expected:X4}, got 0x{actual:X4}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(37)]
    public void Span_converters_match_the_scalar_ones_and_leave_the_rest_alone(int n)
    {
        var random = new Random(n);
        var floats = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 6 - 3)).ToArray();
        var narrow = new ushort[n + 2];
        narrow[n] = narrow[n + 1] = 0xABCD;
        BFloat16.Narrow(floats, narrow);
        for (int i = 0; i < n; i++) Assert.Equal(BFloat16.FromFloat(floats[i]), narrow[i]);
        Assert.Equal(0xABCD, narrow[n]);

        var wide = new float[n + 1];
        wide[n] = 42f;
        BFloat16.Widen(narrow.AsSpan(0, n), wide);
        for (int i = 0; i < n; i++) Assert.Equal(BFloat16.ToFloat(narrow[i]), wide[i]);
        Assert.Equal(42f, wide[n]);
    }

    [Fact]
    public void Span_converters_reject_a_short_destination()
    {
        Assert.Throws<ArgumentException>(() => BFloat16.Narrow(new float[3], new ushort[2]));
        Assert.Throws<ArgumentException>(() => BFloat16.Widen(new ushort[9], new float[8]));
    }

    /// <summary>
    /// The independent rule: the bfloat16 values just below and just above |f| in magnitude (truncation and
    /// its successor), the nearer one in exact double arithmetic, the one with an even last bit on a tie.
    /// </summary>
    private static ushort Nearest(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        ushort down = (ushort)(bits >> 16);
        if ((bits & 0xFFFF) == 0 || float.IsInfinity(f)) return down;
        ushort up = (ushort)(down + 1); // the next magnitude, possibly ∞
        double below = Math.Abs((double)f - BFloat16.ToFloat(down));
        double above = Math.Abs((double)f - (double)BitConverter.UInt32BitsToSingle((uint)up << 16));
        if (float.IsInfinity(BFloat16.ToFloat(up)))
        {
            // ∞ is "nearer" when f is at least halfway to the next power of two past the largest bfloat16.
            above = Math.Abs(Math.Abs((double)f) - Math.Pow(2, 128));
        }
        if (below < above) return down;
        if (above < below) return up;
        return (down & 1) == 0 ? down : up;
    }
}
