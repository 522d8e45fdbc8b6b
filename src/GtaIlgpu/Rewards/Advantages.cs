namespace GtaIlgpu.Rewards;

/// <summary>
/// Which standard deviation divides the group-centred rewards (TRL's scale_rewards): the group's own
/// (the original GRPO), the whole batch's (more robust when a group's rewards barely differ), or none
/// (Dr. GRPO: no difficulty bias).
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RewardScaling>))]
public enum RewardScaling
{
    [System.Text.Json.Serialization.JsonStringEnumMemberName("group")] Group,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("batch")] Batch,
    [System.Text.Json.Serialization.JsonStringEnumMemberName("none")] None,
}

/// <summary>Per-batch statistics of the group-relative advantages, for metrics.jsonl.</summary>
public readonly record struct AdvantageStats(int Groups, double RewardMean, double RewardStd, double MeanGroupStd, double ZeroSpreadFraction);

/// <summary>
/// DESIGN §4 step 3: A_i = (r_i − mean_group) / (std_group + ε), or r_i − mean_group without std scaling.
/// Rewards are laid out group by group (G consecutive completions of one prompt). Decisions:
/// <list type="bullet">
/// <item>std_group is the POPULATION standard deviation (divide by G), as in the DeepSeekMath/GRPO
/// formula's normalisation by the group's statistics; TRL's GRPOTrainer uses the unbiased (G − 1) one,
/// which makes |A| smaller by √((G−1)/G) (0.97 for G = 16). Accumulation is in double.</item>
/// <item>A group whose rewards are all equal (zero spread) gets advantages of exactly 0, with or
/// without scaling, so it contributes no policy gradient (only the KL term).</item>
/// <item>ε defaults to 1e-4 (TRL's value).</item>
/// </list>
/// </summary>
public static class Advantages
{
    public const float DefaultEpsilon = 1e-4f;

    public static float[] GroupRelative(ReadOnlySpan<float> rewards, int groupSize, bool scaleByStd = true, float epsilon = DefaultEpsilon)
    {
        var advantages = new float[rewards.Length];
        GroupRelative(rewards, groupSize, advantages, scaleByStd, epsilon);
        return advantages;
    }

    /// <summary>Writes the advantages of rewards (length a multiple of groupSize) into advantages; returns batch statistics.</summary>
    public static AdvantageStats GroupRelative(ReadOnlySpan<float> rewards, int groupSize, Span<float> advantages, bool scaleByStd = true, float epsilon = DefaultEpsilon) =>
        GroupRelative(rewards, groupSize, advantages, scaleByStd ? RewardScaling.Group : RewardScaling.None, epsilon);

    /// <summary>
    /// As above with TRL's three scalings. With <see cref="RewardScaling.Batch"/> every advantage is
    /// (r − mean_group) / (std_batch + ε), the population std of all rewards of the batch; a group with
    /// zero spread still gets exactly 0.
    /// </summary>
    public static AdvantageStats GroupRelative(ReadOnlySpan<float> rewards, int groupSize, Span<float> advantages, RewardScaling scaling, float epsilon = DefaultEpsilon)
    {
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "a group has at least one completion");
        if (rewards.Length % groupSize != 0)
            throw new ArgumentException($"{rewards.Length} rewards do not form whole groups of {groupSize}", nameof(rewards));
        if (advantages.Length != rewards.Length)
            throw new ArgumentException($"advantages has length {advantages.Length}, rewards {rewards.Length}", nameof(advantages));
        if (!(epsilon >= 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be non-negative");

        int groups = rewards.Length / groupSize, zeroSpread = 0;
        double sumStd = 0;
        double batchStd = PopulationStd(rewards); // a non-finite reward is refused below, before any scale is used
        for (int g = 0; g < groups; g++)
        {
            var r = rewards.Slice(g * groupSize, groupSize);
            var a = advantages.Slice(g * groupSize, groupSize);
            bool allEqual = true;
            double sum = 0;
            for (int i = 0; i < groupSize; i++)
            {
                if (!float.IsFinite(r[i])) throw new ArgumentException($"reward {g * groupSize + i} is {r[i]}", nameof(rewards));
                sum += r[i];
                allEqual &= r[i] == r[0];
            }
            if (allEqual)
            {
                zeroSpread++;
                a.Clear();
                continue;
            }
            double mean = sum / groupSize, squares = 0;
            for (int i = 0; i < groupSize; i++) squares += (r[i] - mean) * (r[i] - mean);
            double std = Math.Sqrt(squares / groupSize);
            sumStd += std;
            double scale = scaling switch
            {
                RewardScaling.Group => 1.0 / (std + epsilon),
                RewardScaling.Batch => 1.0 / (batchStd + epsilon),
                _ => 1.0,
            };
            for (int i = 0; i < groupSize; i++) a[i] = (float)((r[i] - mean) * scale);
        }
        return new AdvantageStats(groups, Mean(rewards), PopulationStd(rewards), groups > 0 ? sumStd / groups : 0, groups > 0 ? (double)zeroSpread / groups : 0);
    }

    private static double Mean(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return 0;
        double s = 0;
        foreach (var v in x) s += v;
        return s / x.Length;
    }

    private static double PopulationStd(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return 0;
        double mean = Mean(x), s = 0;
        foreach (var v in x) s += (v - mean) * (v - mean);
        return Math.Sqrt(s / x.Length);
    }
}
