namespace GtaIlgpu.Backends.Cpu;

/// <summary>One unit of parallel work: <see cref="Run"/> is called once for each index in [0, count).</summary>
public interface IParallelBody
{
    void Run(int index);
}

/// <summary>
/// A parallel-for over persistent worker threads that allocates nothing per call, so the CPU
/// backend's training step stays allocation-free (Parallel.For allocates closures and tasks).
/// The body is a struct handed to workers through a per-type static slot; items are claimed with an
/// atomic counter, so uneven items balance themselves. One loop runs at a time: a second caller
/// (another test thread, or a body that itself calls For) runs its loop serially instead of waiting.
/// </summary>
public static class CpuParallel
{
    /// <summary>1 while a loop runs. Not a Monitor: Monitor is reentrant, so a body calling For on
    /// the caller's thread would take it again and overwrite the running loop's state.</summary>
    private static int _busy;
    private static readonly Worker[] Workers;
    private static Action? _currentRun;
    private static int _nextIndex;
    private static int _count;
    private static int _pending;
    private static readonly ManualResetEventSlim AllDone = new(false);

    static CpuParallel()
    {
        int threads = Math.Max(1, Environment.ProcessorCount);
        Workers = new Worker[threads - 1];
        for (int i = 0; i < Workers.Length; i++) Workers[i] = new Worker(i);
    }

    /// <summary>Threads that take part in a loop, the caller included.</summary>
    public static int ThreadCount => Workers.Length + 1;

    public static void For<TBody>(int count, in TBody body) where TBody : struct, IParallelBody
    {
        if (count <= 0) return;
        if (count == 1 || Workers.Length == 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            var local = body;
            for (int i = 0; i < count; i++) local.Run(i);
            return;
        }
        try
        {
            Slot<TBody>.Body = body;
            _currentRun = Slot<TBody>.RunItems;
            _count = count;
            _nextIndex = 0;
            int helpers = Math.Min(Workers.Length, count - 1);
            _pending = helpers;
            AllDone.Reset();
            for (int i = 0; i < helpers; i++) Workers[i].Wake();
            Slot<TBody>.RunItems();
            if (helpers > 0) WaitAll();
            var error = Interlocked.Exchange(ref _error, null);
            if (error is not null) throw new AggregateException("a parallel CPU op failed", error);
        }
        finally
        {
            Slot<TBody>.Body = default;
            _currentRun = null;
            Volatile.Write(ref _busy, 0);
        }
    }

    private static Exception? _error;

    private static void WaitAll()
    {
        var spinner = new SpinWait();
        while (Volatile.Read(ref _pending) > 0)
        {
            if (spinner.Count > 64)
            {
                // A worker signals AllDone after its decrement, so a Set from the previous loop can
                // land after this loop's Reset and end a Wait early: reset, re-check, wait, repeat.
                AllDone.Reset();
                if (Volatile.Read(ref _pending) == 0) return;
                AllDone.Wait();
            }
            else spinner.SpinOnce(-1);
        }
    }

    private static class Slot<TBody> where TBody : struct, IParallelBody
    {
        public static TBody Body;
        public static readonly Action RunItems = Drain;

        private static void Drain()
        {
            try
            {
                int index;
                while ((index = Interlocked.Increment(ref _nextIndex) - 1) < _count) Body.Run(index);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, e, null);
                Volatile.Write(ref _nextIndex, _count); // stop handing out work
            }
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _wake = new(0);

        public Worker(int id)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"gta-cpu-{id}" };
            thread.Start();
        }

        public void Wake() => _wake.Release();

        private void Loop()
        {
            while (true)
            {
                _wake.Wait();
                _currentRun!();
                if (Interlocked.Decrement(ref _pending) == 0) AllDone.Set();
            }
        }
    }
}
