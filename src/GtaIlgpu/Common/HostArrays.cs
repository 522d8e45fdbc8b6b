namespace GtaIlgpu.Common;

/// <summary>
/// Host arrays of model data. A 3–4B model has more parameters than one .NET array can hold (Array.MaxLength), so
/// loading, saving, checkpointing and merging go tensor by tensor; every host buffer they allocate comes from here
/// and is checked against <see cref="MaxLength"/>. Tests lower it (for their own flow only) below a model's size
/// and above its largest tensor, so a whole-model array that creeps back fails there, not on a 3B model.
/// </summary>
public static class HostArrays
{
    private static readonly AsyncLocal<long?> Limit = new();

    /// <summary>The most elements one host buffer of model data may hold: Array.MaxLength, unless lowered by <see cref="LimitTo"/>.</summary>
    public static long MaxLength => Limit.Value ?? Array.MaxLength;

    /// <summary>Lowers <see cref="MaxLength"/> for the calling flow (and what it starts) until the result is disposed.</summary>
    internal static IDisposable LimitTo(long length)
    {
        var previous = Limit.Value;
        Limit.Value = length;
        return new Restore(previous);
    }

    /// <summary>A host buffer for <paramref name="what"/>; a clear error when it is over <see cref="MaxLength"/>.</summary>
    public static T[] Allocate<T>(long length, string what) where T : unmanaged
    {
        Check(length, what);
        return new T[length];
    }

    public static void Check(long length, string what)
    {
        if (length > MaxLength)
            throw new InvalidOperationException($"{what}: {length:N0} values in one host array, more than the {MaxLength:N0} it may hold");
    }

    private sealed class Restore(long? previous) : IDisposable
    {
        public void Dispose() => Limit.Value = previous;
    }
}
