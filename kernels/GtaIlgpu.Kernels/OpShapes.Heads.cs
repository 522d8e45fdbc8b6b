namespace GtaIlgpu.Kernels;

public static partial class OpShapes
{
    /// <summary>
    /// The row width (NH + 2·NKV)·hs of qkv rows [q (NH heads) | k (NKV heads) | v (NKV heads)] for the
    /// per-head ops (QkNorm, rotary), after checking N, NH, NKV and hs are positive and N rows are addressable.
    /// </summary>
    public static long HeadRowWidth(string op, int N, int NH, int NKV, int hs)
    {
        Positive(op, "N", N);
        Positive(op, "NH", NH);
        Positive(op, "NKV", NKV);
        Positive(op, "hs", hs);
        long width = (NH + 2L * NKV) * hs;
        if ((long)N * width > MaxElements)
            throw new ArgumentException($"{op}: N={N} rows of (NH + 2·NKV)·hs = {width} need more elements than one view can address ({MaxElements})");
        return width;
    }

    /// <summary>Rotate-half pairs element i with i + hs/2, so the head size must be even.</summary>
    public static void EvenHeadSize(string op, int hs)
    {
        if (hs % 2 != 0) throw new ArgumentException($"{op}: head size hs={hs} must be even (rotate-half pairs i with i + hs/2)");
    }
}
