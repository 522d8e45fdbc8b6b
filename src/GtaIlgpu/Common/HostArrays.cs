namespace GtaIlgpu.Common;

/// <summary>
/// Host arrays of model data. A 3–4B model has more parameters than one .NET array can hold (Array.MaxLength), so
/// loading, saving, checkpointing and merging go tensor by tensor; every host buffer they allocate comes from here
/// and is checked against <see cref="MaxLength"/>; what is converted or compared on the way goes a bounded
/// <see cref="ChunkLength"/> at a time. Tests lower both (for their own flow only): the limit below a model's size and
/// at its largest tensor, so a whole-model array that creeps back fails there, not on a 3B model; the chunk to a few
/// values, so the chunked loops run many times with a remainder at tiny shapes.
/// </summary>
public static class HostArrays
{
    private static readonly AsyncLocal<(long Length, int Chunk)?> Limit = new();

    /// <summary>The most elements one host buffer of model data may hold: Array.MaxLength, unless lowered by <see cref="LimitTo"/>.</summary>
    public static long MaxLength => Limit.Value?.Length ?? Array.MaxLength;

    /// <summary>Values converted, read or compared per step where a tensor is handled in pieces (16 MB of floats).</summary>
    public static int ChunkLength => Limit.Value?.Chunk ?? 1 << 22;

    /// <summary>Lowers <see cref="MaxLength"/> and <see cref="ChunkLength"/> for the calling flow (and what it starts) until the result is disposed.</summary>
    internal static IDisposable LimitTo(long length, int chunkLength)
    {
        if (chunkLength <= 0) throw new ArgumentOutOfRangeException(nameof(chunkLength), chunkLength, "a chunk holds at least one value");
        var previous = Limit.Value;
        Limit.Value = (length, chunkLength);
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

    private sealed class Restore((long, int)? previous) : IDisposable
    {
        public void Dispose() => Limit.Value = previous;
    }
}
