using System.Text.Json.Nodes;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Cli;

/// <summary>TRL's option and metric names, and run folders written before them still read back.</summary>
public class TrlNamesTests
{
    // A metrics line exactly as gta train wrote it before issue 15 (the committed study in docs/results came from such runs).
    private const string OldLine = """{"step":7,"format_reward":0.75,"accuracy_reward":0.5,"reward_std":0.3,"zero_spread_fraction":0.25,"kl":0.002,"clip_fraction":0.1,"sft_loss":0.9,"rl_loss":-0.05,"cos_sft_rl":-0.2,"gate_dropped_sft":true,"grad_norm":1.5,"learning_rate":0.0003,"tokens_per_second":1234.5,"mean_completion_length":17.25,"seconds":3.5}""";

    [Fact]
    public void An_old_metrics_line_maps_onto_the_new_names()
    {
        var m = GtaStepMetrics.FromJsonLine(OldLine, "old/metrics.jsonl:7");
        Assert.Equal(7, m.Step);
        Assert.Equal(1.25f, m.Reward);
        Assert.Equal(0.75f, m.FormatRewardMean);
        Assert.Equal(0.5f, m.AccuracyRewardMean);
        Assert.Equal(0.25f, m.FracRewardZeroStd);
        Assert.Equal(17.25f, m.CompletionsMeanLength);
        Assert.Equal(1f, m.GateDroppedSft);
        Assert.Equal(-0.2f, m.CosSftRl);
        Assert.Equal(0.9f, m.SftLoss);
        Assert.Equal(-0.05f, m.RlLoss);
        Assert.Equal(0.002f, m.Kl);
        Assert.Equal(1.5f, m.GradNorm);
        Assert.Equal(0.0003f, m.LearningRate);
        Assert.Equal(1234.5, m.TokensPerSecond);
        Assert.Equal(3.5, m.Seconds);
        // Different meanings then, or not recorded: NaN, never a wrong number.
        Assert.True(float.IsNaN(m.RewardStd) && float.IsNaN(m.ClipRatioRegionMean) && float.IsNaN(m.ClipRatioLowMean) && float.IsNaN(m.Entropy));
        Assert.True(double.IsNaN(m.NumTokens) && float.IsNaN(m.CompletionsClippedRatio) && float.IsNaN(m.GradNormSft));
        var notDropped = GtaStepMetrics.FromJsonLine(OldLine.Replace("\"gate_dropped_sft\":true", "\"gate_dropped_sft\":false"), "x");
        Assert.Equal(0f, notDropped.GateDroppedSft);
    }

    [Fact]
    public void A_new_metrics_line_round_trips_with_trls_keys()
    {
        var m = GtaStepMetrics.FromJsonLine(OldLine, "old") with { Entropy = 0.5f, NumTokens = 4096, RewardStd = float.NaN };
        string line = m.ToJsonLine();
        var json = JsonNode.Parse(line)!.AsObject();
        foreach (var key in new[] { "reward", "reward_std", "rewards/format/mean", "rewards/accuracy/std", "frac_reward_zero_std", "entropy",
                     "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "completions/clipped_ratio", "num_tokens", "gate_dropped_sft" })
            Assert.True(json.ContainsKey(key), $"{key} missing from {line}");
        Assert.False(json.ContainsKey("format_reward"));
        Assert.Equal(m, GtaStepMetrics.FromJsonLine(line, "new"));
        Assert.Throws<InvalidDataException>(() => GtaStepMetrics.FromJsonLine("{\"step\": \"x\"", "broken.jsonl:3"));
    }

    [Fact]
    public void Old_run_settings_load_for_resume_under_the_new_names()
    {
        JsonObject Spec(string aggregation, bool byStd) => new()
        {
            ["settings"] = new JsonObject
            {
                ["method"] = "gta", ["steps"] = 12, ["clip_epsilon_low"] = 0.2, ["clip_epsilon_high"] = 0.2,
                ["aggregation"] = aggregation, ["scale_rewards_by_std"] = byStd, ["max_completion_tokens"] = 24,
            },
            ["data"] = null, ["data_fingerprint"] = "f", ["task"] = "t", ["labels"] = new JsonArray("a", "b"), ["base"] = null, ["checkpoint_every"] = 2,
        };
        var tokenMean = GtaRunSpec.FromJson(Spec("token-mean", true), "old/state.json").Settings;
        Assert.Equal(GrpoLossType.Dapo, tokenMean.LossType);
        Assert.Equal(RewardScaling.Group, tokenMean.ScaleRewards);
        Assert.False(tokenMean.MaskTruncatedCompletions);
        Assert.Equal(1f, tokenMean.TopEntropyQuantile);
        Assert.Equal(12, tokenMean.Steps);
        var sequenceMean = GtaRunSpec.FromJson(Spec("sequence-mean", false), "old/state.json").Settings;
        Assert.Equal(GrpoLossType.Grpo, sequenceMean.LossType);
        Assert.Equal(RewardScaling.None, sequenceMean.ScaleRewards);
        var error = Assert.Throws<InvalidDataException>(() => GtaRunSpec.FromJson(Spec("median", true), "old/state.json"));
        Assert.Contains("median", error.Message);

        // A new spec writes TRL's names and reads back the same.
        var settings = new GtaSettings { LossType = GrpoLossType.DrGrpo, ScaleRewards = RewardScaling.Batch, MaskTruncatedCompletions = true, TopEntropyQuantile = 0.2f };
        var spec = new GtaRunSpec(settings, null, "f", "t", ["a", "b"], null, 0);
        var json = spec.ToJson();
        Assert.Equal("dr_grpo", json["settings"]!["loss_type"]!.GetValue<string>());
        Assert.Equal("batch", json["settings"]!["scale_rewards"]!.GetValue<string>());
        Assert.Equal(settings, GtaRunSpec.FromJson(json, "new").Settings);
    }

    private static GtaSettings Parse(params string[] args) => GtaOptionsParsing.Parse(args);

    [Fact]
    public void Trls_option_names_parse_with_the_old_names_as_aliases()
    {
        var defaults = Parse();
        Assert.Equal((0.2f, 0.2f, GrpoLossType.Dapo, RewardScaling.Group, false, 1f),
            (defaults.ClipEpsilonLow, defaults.ClipEpsilonHigh, defaults.LossType, defaults.ScaleRewards, defaults.MaskTruncatedCompletions, defaults.TopEntropyQuantile));
        var trl = Parse("--epsilon", "0.1", "--epsilon-high", "0.28", "--loss-type", "dr_grpo", "--scale-rewards", "batch", "--mask-truncated-completions", "--top-entropy-quantile", "0.2");
        Assert.Equal((0.1f, 0.28f, GrpoLossType.DrGrpo, RewardScaling.Batch, true, 0.2f),
            (trl.ClipEpsilonLow, trl.ClipEpsilonHigh, trl.LossType, trl.ScaleRewards, trl.MaskTruncatedCompletions, trl.TopEntropyQuantile));
        var old = Parse("--clip-epsilon", "0.3", "--no-std-scaling");
        Assert.Equal((0.3f, 0.3f, RewardScaling.None), (old.ClipEpsilonLow, old.ClipEpsilonHigh, old.ScaleRewards)); // ε_high follows ε
        Assert.Equal(GrpoLossType.Grpo, Parse("--loss-type", "grpo").LossType);
        Assert.Equal(GrpoLossType.Bnpo, Parse("--loss-type", "bnpo").LossType);
        Assert.Throws<ArgumentException>(() => Parse("--scale-rewards", "group", "--no-std-scaling"));
    }
}
