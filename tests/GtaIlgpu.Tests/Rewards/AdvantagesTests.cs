using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Rewards;

/// <summary>Group-relative advantages against hand-computed values.</summary>
public class AdvantagesTests
{
    [Fact]
    public void Standardised_with_population_std()
    {
        // Group 1: rewards 0, 2 → mean 1, population std 1 → ∓1/(1+ε).
        // Group 2: 2, 1, 1, 0 → mean 1, std sqrt(0.5) → ±1/(0.70711+ε), 0, 0.
        float[] rewards = [0, 2, 2, 1, 1, 0];
        var a = Advantages.GroupRelative(rewards.AsSpan(0, 2), 2, epsilon: 0);
        Assert.Equal([-1f, 1f], a);
        var b = Advantages.GroupRelative(rewards.AsSpan(2), 4, epsilon: 0);
        Assert.Equal(Math.Sqrt(2), b[0], 6);
        Assert.Equal(0f, b[1]);
        Assert.Equal(-Math.Sqrt(2), b[3], 6);

        var withEps = Advantages.GroupRelative([0f, 2f], 2);
        Assert.Equal(1.0 / (1.0 + 1e-4), withEps[1], 6);
    }

    [Fact]
    public void Without_std_scaling_only_the_mean_is_removed()
    {
        var a = Advantages.GroupRelative([2f, 1f, 1f, 0f, 0f, 0f, 0f, 2f], 4, scaleByStd: false);
        Assert.Equal([1f, 0f, 0f, -1f, -0.5f, -0.5f, -0.5f, 1.5f], a);
    }

    [Fact]
    public void Batch_scaling_divides_by_the_std_of_the_whole_batch()
    {
        // Rewards 0, 2 | 1, 1: batch mean 1, population std sqrt((1 + 1 + 0 + 0)/4) = sqrt(0.5).
        // Group 1 centred: −1, +1 → ∓1/sqrt(0.5); group 2 has no spread → 0 (not divided by anything).
        var a = new float[4];
        Advantages.GroupRelative([0f, 2f, 1f, 1f], 2, a, RewardScaling.Batch, epsilon: 0);
        Assert.Equal(-Math.Sqrt(2), a[0], 5);
        Assert.Equal(Math.Sqrt(2), a[1], 5);
        Assert.Equal([0f, 0f], a[2..]);
        // Group scaling of the same rewards divides group 1 by its own std (1); none leaves −1, +1.
        Advantages.GroupRelative([0f, 2f, 1f, 1f], 2, a, RewardScaling.Group, epsilon: 0);
        Assert.Equal([-1f, 1f, 0f, 0f], a);
        Advantages.GroupRelative([0f, 2f, 1f, 1f], 2, a, RewardScaling.None, epsilon: 0);
        Assert.Equal([-1f, 1f, 0f, 0f], a);
        Advantages.GroupRelative([0f, 4f, 1f, 1f], 2, a, RewardScaling.None, epsilon: 0);
        Assert.Equal([-2f, 2f, 0f, 0f], a);
    }

    [Fact]
    public void All_equal_groups_get_exactly_zero_and_are_counted()
    {
        float third = 0.1f;
        float[] rewards = [third, third, third, 2, 2, 2, 0, 1, 2];
        var advantages = new float[rewards.Length];
        var stats = Advantages.GroupRelative(rewards, 3, advantages);
        Assert.All(advantages.Take(6), v => Assert.Equal(0f, v));
        Assert.Equal(0f, advantages[7]);
        Assert.True(advantages[6] < 0 && advantages[8] > 0);
        Assert.Equal(3, stats.Groups);
        Assert.Equal(2.0 / 3, stats.ZeroSpreadFraction, 12);
        Assert.Equal(Math.Sqrt(2.0 / 3) / 3, stats.MeanGroupStd, 6); // only the third group has spread
        Assert.Equal(rewards.Average(v => (double)v), stats.RewardMean, 6);
        Assert.All(Advantages.GroupRelative([1f, 1f], 2, scaleByStd: false), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Standardised_groups_have_zero_mean_and_unit_population_std()
    {
        var rng = new GtaIlgpu.Common.Rng(3);
        var rewards = Enumerable.Range(0, 64).Select(_ => (float)rng.NextInt(3)).ToArray();
        var a = Advantages.GroupRelative(rewards, 16, epsilon: 0);
        for (int g = 0; g < 4; g++)
        {
            var group = a.Skip(16 * g).Take(16).Select(v => (double)v).ToArray();
            Assert.Equal(0, group.Average(), 6);
            Assert.Equal(1, Math.Sqrt(group.Average(v => v * v)), 5);
        }
    }

    [Fact]
    public void Bad_shapes_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Advantages.GroupRelative([1f, 2f, 3f], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Advantages.GroupRelative([1f], 0));
        Assert.Throws<ArgumentException>(() => Advantages.GroupRelative([1f, float.NaN], 2));
        Assert.Throws<ArgumentException>(() => Advantages.GroupRelative([1f, 2f], 2, new float[3]));
    }
}
