namespace GtaIlgpu.Kernels;

/// <summary>
/// Host-side shape checks shared by every implementation of an op (CPU backend, ILGPU launchers).
/// An out-of-range index inside an ILGPU kernel aborts the whole process on the CPU accelerator, so
/// every launch is validated here first, with a message that names the op and the argument.
/// Lengths are the lengths of the views passed in; a view may be longer than needed.
/// </summary>
public static partial class OpShapes
{
    /// <summary>Largest element count one view may cover: kernels index with 32-bit ints.</summary>
    public const long MaxElements = int.MaxValue;

    public static void Positive(string op, string name, int value)
    {
        if (value <= 0) throw new ArgumentException($"{op}: {name} must be positive, got {value}");
    }

    public static void AtLeast(string op, string name, long length, long required)
    {
        if (required > MaxElements)
            throw new ArgumentException($"{op}: {name} needs {required} elements, more than one view can address ({MaxElements})");
        if (length < required)
            throw new ArgumentException($"{op}: {name} has {length} elements but the shape needs {required}");
    }

    /// <summary>An optional argument: empty (length 0) or at least the required length.</summary>
    public static void Optional(string op, string name, long length, long required)
    {
        if (length != 0) AtLeast(op, name, length, required);
    }

    public static void HeadsDivide(string op, int C, int NH)
    {
        Positive(op, "C", C);
        Positive(op, "NH", NH);
        if (C % NH != 0) throw new ArgumentException($"{op}: channels C={C} are not divisible by heads NH={NH}");
    }

    /// <summary>
    /// Grouped-query attention sizes: NH query heads over NKV key/value heads (NH a multiple of NKV) of size hs.
    /// Returns the qkv row width (NH+2·NKV)·hs after checking that every derived length fits a view.
    /// </summary>
    public static int AttentionHeads(string op, int NH, int NKV, int hs)
    {
        Positive(op, "NH", NH);
        Positive(op, "NKV", NKV);
        Positive(op, "hs", hs);
        if (NH % NKV != 0) throw new ArgumentException($"{op}: query heads NH={NH} are not a multiple of key/value heads NKV={NKV}");
        long width = ((long)NH + 2L * NKV) * hs;
        if (width > MaxElements) throw new ArgumentException($"{op}: a qkv row of {width} elements is more than one view can address ({MaxElements})");
        return (int)width;
    }

    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC, optional): one check for every implementation.</summary>
    public static void MatmulForward(int N, int C, int OC, long output, long input, long weight, long bias) =>
        MatmulForward("matmul_forward", N, C, OC, output, input, weight, bias);

    /// <summary>The same shapes with a bfloat16 weight (its length counted in bf16 elements).</summary>
    public static void MatmulForwardBf16(int N, int C, int OC, long output, long input, long weight, long bias) =>
        MatmulForward("matmul_forward_bf16", N, C, OC, output, input, weight, bias);

    /// <summary>dinput (N,C, required: it is the only output) += doutput (N,OC) · weight (OC,C, bfloat16).</summary>
    public static void MatmulBackwardInputBf16(int N, int C, int OC, long dinput, long doutput, long weight)
    {
        const string op = "matmul_backward_input_bf16";
        MatmulDims(op, N, C, OC);
        AtLeast(op, "dinput", dinput, (long)N * C);
        AtLeast(op, "doutput", doutput, (long)N * OC);
        AtLeast(op, "weight", weight, (long)OC * C);
    }

    private static void MatmulForward(string op, int N, int C, int OC, long output, long input, long weight, long bias)
    {
        MatmulDims(op, N, C, OC);
        AtLeast(op, "output", output, (long)N * OC);
        AtLeast(op, "input", input, (long)N * C);
        AtLeast(op, "weight", weight, (long)OC * C);
        Optional(op, "bias", bias, OC);
    }

    /// <summary>dinput (N,C, optional), dweight (OC,C, optional), dbias (OC, optional) from doutput (N,OC), input, weight.</summary>
    public static void MatmulBackward(int N, int C, int OC, long dinput, long dweight, long dbias, long doutput, long input, long weight)
    {
        const string op = "matmul_backward";
        MatmulDims(op, N, C, OC);
        Optional(op, "dinput", dinput, (long)N * C);
        Optional(op, "dweight", dweight, (long)OC * C);
        Optional(op, "dbias", dbias, OC);
        AtLeast(op, "doutput", doutput, (long)N * OC);
        AtLeast(op, "input", input, (long)N * C);
        AtLeast(op, "weight", weight, (long)OC * C);
    }

    /// <summary>
    /// Gather/scatter between a compact (R,width) matrix and a full one of at least width-wide rows:
    /// R ≥ 0 indices. Index values are checked where they are set (<see cref="RowIndices"/>), not here.
    /// </summary>
    public static void RowGather(string op, int R, int width, long compact, long full, long rows)
    {
        if (R < 0) throw new ArgumentException($"{op}: R must not be negative, got {R}");
        Positive(op, "width", width);
        AtLeast(op, "compact", compact, (long)R * width);
        AtLeast(op, "rows", rows, R);
        if (R > 0) AtLeast(op, "full", full, width);
    }

    /// <summary>Row indices for gather/scatter: strictly ascending (so distinct) and inside [0, rowCount).</summary>
    public static void RowIndices(string op, ReadOnlySpan<int> rows, int rowCount)
    {
        for (int r = 0; r < rows.Length; r++)
        {
            if (rows[r] < 0 || rows[r] >= rowCount) throw new ArgumentException($"{op}: row index {rows[r]} (entry {r}) is outside [0, {rowCount})");
            if (r > 0 && rows[r] <= rows[r - 1]) throw new ArgumentException($"{op}: row indices must be strictly ascending, entry {r} is {rows[r]} after {rows[r - 1]}");
        }
    }

    /// <summary>
    /// A block of columns [column, column + width) of a matrix with N rows of wideWidth (named wide) and
    /// a compact (N,width) matrix (named narrow): the block must lie inside the wide rows.
    /// </summary>
    public static void ColumnBlock(string op, int N, int wideWidth, int column, int width, string wideName, long wide, string narrowName, long narrow)
    {
        Positive(op, "N", N);
        Positive(op, "width", width);
        if (wideWidth <= 0) throw new ArgumentException($"{op}: {wideName} rows must be positive wide, got {wideWidth}");
        if (column < 0 || (long)column + width > wideWidth)
            throw new ArgumentException($"{op}: columns [{column}, {(long)column + width}) do not fit in {wideName} rows of {wideWidth}");
        AtLeast(op, wideName, wide, (long)N * wideWidth);
        AtLeast(op, narrowName, narrow, (long)N * width);
    }

    private static void MatmulDims(string op, int N, int C, int OC)
    {
        Positive(op, "N", N);
        Positive(op, "C", C);
        Positive(op, "OC", OC);
    }
}
