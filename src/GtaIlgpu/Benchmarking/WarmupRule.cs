using System.Globalization;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// Decides when a benchmark's warm-up is over. .NET runs a method unoptimised first and recompiles the
/// hot ones in the background (tiered compilation, with profile-guided optimisation), so the first
/// steps of a loop are slow and a fixed two-step warm-up measured half-optimised code. Warm-up is
/// over once, over the last <see cref="Window"/> steps, the JIT spent at most <see cref="JitFraction"/>
/// of their time compiling (the hot loops are optimised; a few cold methods may still trickle in)
/// and their times lie within <see cref="Tolerance"/> of each other; or at <see cref="Cap"/> steps,
/// unsettled, which the report then says. Both tests are needed: times can sit on a plateau before
/// a tier-up, and the JIT can go quiet while steps are still noisy. The default cap, 40, lies past
/// .NET's call-count threshold of 30: a method called once per step is recompiled around step 31.
/// </summary>
public sealed class WarmupRule
{
    private readonly List<double> _seconds = [];
    private readonly List<double> _jitSeconds = [];

    public WarmupRule(int window = 3, double tolerance = 0.05, double jitFraction = 0.01, int cap = 40)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "the settling window needs at least one step");
        if (tolerance is not (> 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "the tolerance is a fraction in (0, 1)");
        if (jitFraction is not (>= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(jitFraction), jitFraction, "the JIT fraction is in [0, 1)");
        if (cap < window) throw new ArgumentOutOfRangeException(nameof(cap), cap, $"the cap must allow at least the window ({window} steps)");
        Window = window;
        Tolerance = tolerance;
        JitFraction = jitFraction;
        Cap = cap;
    }

    public int Window { get; }
    public double Tolerance { get; }
    public double JitFraction { get; }
    public int Cap { get; }

    /// <summary>Every warm-up step's time, in order.</summary>
    public IReadOnlyList<double> Seconds => _seconds;

    /// <summary>Records one warm-up step: its time and the time the JIT spent compiling while it ran (all threads).</summary>
    public void Add(double seconds, double jitSeconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "a step time is finite and non-negative");
        if (!double.IsFinite(jitSeconds) || jitSeconds < 0) throw new ArgumentOutOfRangeException(nameof(jitSeconds), jitSeconds, "a JIT time is finite and non-negative");
        _seconds.Add(seconds);
        _jitSeconds.Add(jitSeconds);
    }

    /// <summary>Over the last Window steps: JIT time within its fraction of their time, and their spread within the tolerance.</summary>
    public bool Settled => _seconds.Count >= Window && JitShare(Window) <= JitFraction && Spread(Last(_seconds, Window)) <= Tolerance;

    /// <summary>Warm-up stops: settled, or the cap is reached.</summary>
    public bool Done => Settled || _seconds.Count >= Cap;

    /// <summary>(max − min) / min: how far apart a run of step times lies (0 = identical).</summary>
    public static double Spread(IReadOnlyCollection<double> seconds)
    {
        if (seconds.Count == 0) return 0;
        double min = seconds.Min();
        return min > 0 ? (seconds.Max() - min) / min : seconds.Max() > 0 ? double.PositiveInfinity : 0;
    }

    /// <summary>Time the JIT has spent compiling in this process so far, on all threads (tier-ups included).</summary>
    public static TimeSpan JitTime() => System.Runtime.JitInfo.GetCompilationTime(currentThread: false);

    /// <summary>The rule in words, for a results file's configuration.</summary>
    public string Criterion => string.Create(CultureInfo.InvariantCulture,
        $"until over the last {Window} steps the JIT compiled for at most {JitFraction:P0} of their time and they lie within {Tolerance:P0} of each other, at most {Cap} steps");

    /// <summary>One line for a results file, e.g. "settled after 7 warm-up steps (last 3: JIT 0.2% of the time, spread 3%)".</summary>
    public string Describe()
    {
        int window = Math.Min(Window, _seconds.Count);
        string last = string.Create(CultureInfo.InvariantCulture, $"last {window}: JIT {JitShare(window):P1} of the time, spread {Spread(Last(_seconds, window)):P0}");
        return Settled
            ? string.Create(CultureInfo.InvariantCulture, $"settled after {_seconds.Count} warm-up steps ({last})")
            : string.Create(CultureInfo.InvariantCulture, $"NOT settled after {_seconds.Count} warm-up steps, the cap ({last})");
    }

    private double JitShare(int window)
    {
        double total = Last(_seconds, window).Sum();
        double jit = Last(_jitSeconds, window).Sum();
        return total > 0 ? jit / total : jit > 0 ? double.PositiveInfinity : 0;
    }

    private static List<double> Last(List<double> values, int count) => values.Skip(Math.Max(0, values.Count - count)).ToList();
}
