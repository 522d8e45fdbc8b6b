using GtaIlgpu.Benchmarking;

namespace GtaIlgpu.Tests.Benchmarks;

/// <summary>
/// The end-to-end benchmark's warm-up ends when the JIT is quiet and step times are flat, not before
/// (a plateau before a tier-up, a quiet JIT with noisy steps) and not never (the cap).
/// </summary>
public sealed class WarmupRuleTests
{
    private static WarmupRule Feed(params (double Seconds, double Jit)[] steps)
    {
        var rule = new WarmupRule(window: 3, tolerance: 0.05, jitFraction: 0.01, cap: 10);
        foreach (var (seconds, jit) in steps) rule.Add(seconds, jit);
        return rule;
    }

    [Fact]
    public void Settles_once_the_last_window_is_flat_and_the_jit_quiet()
    {
        var rule = Feed((4.0, 2.0), (0.40, 0.1), (0.21, 0.02), (0.20, 0.001), (0.205, 0), (0.202, 0));
        Assert.True(rule.Settled);
        Assert.True(rule.Done);
        Assert.StartsWith("settled after 6 warm-up steps", rule.Describe());
    }

    [Fact]
    public void Fewer_steps_than_the_window_never_settle()
    {
        Assert.False(Feed((0.2, 0), (0.2, 0)).Settled);
    }

    [Fact]
    public void Flat_times_while_the_jit_still_compiles_are_not_settled()
    {
        // A plateau before a tier-up: times agree, but 3% of them went to the JIT.
        var rule = Feed((0.40, 0.012), (0.40, 0.012), (0.40, 0.012));
        Assert.False(rule.Settled);
        Assert.False(rule.Done);
    }

    [Fact]
    public void A_quiet_jit_with_spread_times_is_not_settled()
    {
        Assert.False(Feed((0.20, 0), (0.22, 0), (0.20, 0)).Settled); // 10% apart
        Assert.True(Feed((0.20, 0), (0.209, 0), (0.20, 0)).Settled); // 4.5% apart
    }

    [Fact]
    public void Only_the_last_window_counts()
    {
        Assert.True(Feed((0.5, 0.4), (0.3, 0), (0.2, 0), (0.2, 0), (0.2, 0)).Settled);
        Assert.False(Feed((0.2, 0), (0.2, 0), (0.2, 0), (0.3, 0)).Settled);
    }

    [Fact]
    public void The_cap_ends_an_unsettled_warmup_and_the_report_says_so()
    {
        var rule = Feed(Enumerable.Range(0, 10).Select(i => (i % 2 == 0 ? 0.2 : 0.3, 0.0)).ToArray());
        Assert.False(rule.Settled);
        Assert.True(rule.Done);
        Assert.StartsWith("NOT settled after 10 warm-up steps", rule.Describe());
        Assert.Equal(10, rule.Seconds.Count);
    }

    [Fact]
    public void Spread_is_max_minus_min_over_min()
    {
        Assert.Equal(0.5, WarmupRule.Spread([0.2, 0.3, 0.25]), 12);
        Assert.Equal(0, WarmupRule.Spread([]));
    }

    [Fact]
    public void Bad_settings_and_steps_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupRule(window: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupRule(tolerance: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupRule(window: 5, cap: 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupRule().Add(double.NaN, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupRule().Add(0.1, -1));
    }
}
