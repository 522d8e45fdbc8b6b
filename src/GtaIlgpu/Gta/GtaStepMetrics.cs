using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GtaIlgpu.Gta;

/// <summary>
/// One line of metrics.jsonl, with TRL's GRPOTrainer names and meanings where TRL has the quantity,
/// averaged over the step's μ updates unless the name says otherwise:
/// reward (mean of format + accuracy over the rollouts), reward_std (population std over the batch),
/// rewards/NAME/mean and /std per reward function, frac_reward_zero_std (groups whose rewards are all
/// equal), kl (k3, token mean), entropy (policy entropy at the sampling temperature, token mean),
/// clip_ratio/{low,high,region}_mean (tokens whose clip was ACTIVE), completions/{mean,min,max}_length
/// (tokens, end-of-text included), completions/clipped_ratio (rollouts cut at the token limit),
/// num_tokens (prompt + completion tokens of all rollouts so far, cumulative, as TRL's);
/// and GTA's own: cos_sft_rl, gate_dropped_sft (fraction of the μ updates in which the gate dropped the
/// SFT gradient), grad_norm (the combined gradient before clipping), grad_norm_sft, grad_norm_rl,
/// sft_loss, rl_loss, learning_rate, tokens_per_second, seconds. Quantities a method does not have are 0;
/// NaN only in lines read from older runs that did not record them.
/// </summary>
public sealed record GtaStepMetrics(
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("reward")] float Reward,
    [property: JsonPropertyName("reward_std")] float RewardStd,
    [property: JsonPropertyName("rewards/format/mean")] float FormatRewardMean,
    [property: JsonPropertyName("rewards/format/std")] float FormatRewardStd,
    [property: JsonPropertyName("rewards/accuracy/mean")] float AccuracyRewardMean,
    [property: JsonPropertyName("rewards/accuracy/std")] float AccuracyRewardStd,
    [property: JsonPropertyName("frac_reward_zero_std")] float FracRewardZeroStd,
    [property: JsonPropertyName("kl")] float Kl,
    [property: JsonPropertyName("entropy")] float Entropy,
    [property: JsonPropertyName("clip_ratio/low_mean")] float ClipRatioLowMean,
    [property: JsonPropertyName("clip_ratio/high_mean")] float ClipRatioHighMean,
    [property: JsonPropertyName("clip_ratio/region_mean")] float ClipRatioRegionMean,
    [property: JsonPropertyName("completions/mean_length")] float CompletionsMeanLength,
    [property: JsonPropertyName("completions/min_length")] float CompletionsMinLength,
    [property: JsonPropertyName("completions/max_length")] float CompletionsMaxLength,
    [property: JsonPropertyName("completions/clipped_ratio")] float CompletionsClippedRatio,
    [property: JsonPropertyName("num_tokens")] double NumTokens,
    [property: JsonPropertyName("sft_loss")] float SftLoss,
    [property: JsonPropertyName("rl_loss")] float RlLoss,
    [property: JsonPropertyName("cos_sft_rl")] float CosSftRl,
    [property: JsonPropertyName("gate_dropped_sft")] float GateDroppedSft,
    [property: JsonPropertyName("grad_norm")] float GradNorm,
    [property: JsonPropertyName("grad_norm_sft")] float GradNormSft,
    [property: JsonPropertyName("grad_norm_rl")] float GradNormRl,
    [property: JsonPropertyName("learning_rate")] float LearningRate,
    [property: JsonPropertyName("tokens_per_second")] double TokensPerSecond,
    [property: JsonPropertyName("seconds")] double Seconds)
{
    private static readonly JsonSerializerOptions Options = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public string ToJsonLine() => JsonSerializer.Serialize(this, Options);

    /// <summary>
    /// One metrics line, of this format or of runs written before it (recognised by "format_reward").
    /// Old keys map to their new names where the meaning is the same or is what the old run measured of
    /// it: format_reward → rewards/format/mean, accuracy_reward → rewards/accuracy/mean, their sum →
    /// reward, zero_spread_fraction → frac_reward_zero_std, mean_completion_length →
    /// completions/mean_length, gate_dropped_sft true/false → 1/0 (old runs recorded whether ANY of the μ
    /// updates dropped it, so "&gt; 0" keeps its meaning); kl, sft_loss, rl_loss, cos_sft_rl and grad_norm
    /// keep their names (old runs logged the last update's value). Old reward_std (the mean within-group
    /// std) and clip_fraction (every ratio outside the band, clipped or not) meant something else: NaN, as
    /// is everything old runs did not record.
    /// </summary>
    public static GtaStepMetrics FromJsonLine(string line, string source)
    {
        JsonObject json;
        try { json = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{source}: not a metrics line ({e.Message})"); }
        try
        {
            if (json["format_reward"] is null)
                return json.Deserialize<GtaStepMetrics>(Options) ?? throw new JsonException("null");
            float Old(string key) => json[key] is JsonValue v ? v.GetValue<float>() : float.NaN;
            double OldDouble(string key) => json[key] is JsonValue v ? v.GetValue<double>() : double.NaN;
            int step = json["step"]?.GetValue<int>() ?? throw new JsonException("no \"step\"");
            bool dropped = json["gate_dropped_sft"] is JsonValue d && d.GetValue<bool>();
            float nan = float.NaN;
            return new GtaStepMetrics(step, Old("format_reward") + Old("accuracy_reward"), nan, Old("format_reward"), nan,
                Old("accuracy_reward"), nan, Old("zero_spread_fraction"), Old("kl"), nan, nan, nan, nan,
                Old("mean_completion_length"), nan, nan, nan, double.NaN, Old("sft_loss"), Old("rl_loss"), Old("cos_sft_rl"),
                dropped ? 1f : 0f, Old("grad_norm"), nan, nan, Old("learning_rate"), OldDouble("tokens_per_second"), OldDouble("seconds"));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: not a metrics line ({e.Message})");
        }
    }
}
