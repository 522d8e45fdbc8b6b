namespace GtaIlgpu.Kernels;

/// <summary>
/// Host-side shape checks shared by every implementation of an op (CPU backend, ILGPU launchers).
/// An out-of-range index inside an ILGPU kernel aborts the whole process on the CPU accelerator, so
/// every launch is validated here first, with a message that names the op and the argument.
/// Lengths are the lengths of the views passed in; a view may be longer than needed.
/// </summary>
public static class OpShapes
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

    public static void Matmul(string op, int N, int C, int OC)
    {
        Positive(op, "N", N);
        Positive(op, "C", C);
        Positive(op, "OC", OC);
    }
}
