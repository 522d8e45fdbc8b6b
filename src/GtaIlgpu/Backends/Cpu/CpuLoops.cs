namespace GtaIlgpu.Backends.Cpu;

/// <summary>The arrays behind a host view, for parallel bodies (structs that cross threads cannot hold spans).</summary>
internal readonly struct HostArray<T> where T : unmanaged
{
    private readonly T[] _array;
    private readonly int _offset;

    public HostArray(BufferView<T> view)
    {
        if (view.IsEmpty)
        {
            _array = Array.Empty<T>();
            _offset = 0;
            Length = 0;
            return;
        }
        (_array, _offset) = view.Raw();
        Length = (int)view.Length;
    }

    public int Length { get; }
    public bool IsEmpty => Length == 0;
    public Span<T> Span => new(_array, _offset, Length);
    public Span<T> Slice(int start, int length) => new(_array, _offset + start, length);
    public ref T this[int index] => ref _array[_offset + index];
}

/// <summary>A kernel over a contiguous element range [start, start + count).</summary>
internal interface IRangeKernel
{
    void Run(int start, int count);
}

/// <summary>A kernel over one independent row (or any other independent work item).</summary>
internal interface IRowKernel
{
    void Run(int row);
}

/// <summary>
/// Chunked loops over <see cref="CpuParallel"/>. Work items are sized from the problem alone (never
/// from the thread count) and every item writes disjoint memory, so results do not depend on which
/// thread ran what, and a loop that runs serially (small sizes, or CpuParallel busy) gives the same bits.
/// </summary>
internal static class CpuLoops
{
    /// <summary>Elements per work item: enough to amortise waking and claiming, small enough to balance.</summary>
    public const int ItemElements = 1 << 14;

    public static void Range<TKernel>(int n, in TKernel kernel) where TKernel : struct, IRangeKernel
    {
        if (n <= 0) return;
        if (n <= ItemElements)
        {
            var local = kernel;
            local.Run(0, n);
            return;
        }
        CpuParallel.For((n + ItemElements - 1) / ItemElements, new RangeItems<TKernel>(kernel, n));
    }

    /// <summary>Runs rows [0, rows), grouping cheap rows so that one item costs about <see cref="ItemElements"/>.</summary>
    public static void Rows<TKernel>(int rows, long costPerRow, in TKernel kernel) where TKernel : struct, IRowKernel
    {
        if (rows <= 0) return;
        int perItem = (int)Math.Max(1, ItemElements / Math.Max(1, costPerRow));
        int items = (rows + perItem - 1) / perItem;
        if (items == 1)
        {
            var local = kernel;
            for (int r = 0; r < rows; r++) local.Run(r);
            return;
        }
        CpuParallel.For(items, new RowItems<TKernel>(kernel, rows, perItem));
    }

    private readonly struct RangeItems<TKernel>(TKernel kernel, int n) : IParallelBody where TKernel : struct, IRangeKernel
    {
        private readonly TKernel _kernel = kernel;

        public void Run(int index)
        {
            int start = index * ItemElements;
            var local = _kernel;
            local.Run(start, Math.Min(ItemElements, n - start));
        }
    }

    private readonly struct RowItems<TKernel>(TKernel kernel, int rows, int perItem) : IParallelBody where TKernel : struct, IRowKernel
    {
        private readonly TKernel _kernel = kernel;

        public void Run(int index)
        {
            int end = Math.Min(rows, (index + 1) * perItem);
            var local = _kernel;
            for (int r = index * perItem; r < end; r++) local.Run(r);
        }
    }
}

/// <summary>Scratch arrays that grow on demand and are then reused: nothing is allocated in steady state.</summary>
internal static class CpuScratch
{
    public static T[] Get<T>(ref T[]? slot, int length)
    {
        if (slot is null || slot.Length < length) slot = new T[Math.Max(length, (slot?.Length ?? 0) * 2)];
        return slot;
    }
}
