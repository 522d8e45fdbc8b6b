using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Gta;

public enum TrainingMethod { Gta, Sft, Grpo }

/// <summary>
/// Every knob of a GTA / SFT / GRPO run, with the paper's values where it gives them (μ = 4,
/// β = 0.01, λ1 = λ2 = 1, ε = 0.2, 16 completions per prompt). Saved as the run's config.json.
/// </summary>
public sealed record GtaSettings
{
    public TrainingMethod Method { get; init; } = TrainingMethod.Gta;
    public int Steps { get; init; } = 120;
    /// <summary>Prompts per step (P); each gets G completions for RL and one teacher-forced guess for SFT.</summary>
    public int PromptsPerStep { get; init; } = 4;
    /// <summary>
    /// Teacher-forced prompts in the SFT batch (0: the P rollout prompts). A larger value adds further
    /// training examples to the SFT loss only: cheap next to rollouts, and the cross-entropy on the guess
    /// needs many examples per update before a small model's guess starts to depend on the text.
    /// </summary>
    public int SftPrompts { get; init; } = 32;
    /// <summary>
    /// Each of the μ updates after the first takes a fresh SFT batch of training examples (the first uses
    /// the rollout prompts). Off: all μ updates reuse one SFT batch. Reusing the rollouts is what μ is for;
    /// the SFT batch costs no rollouts, so fresh examples add μ times the supervised signal per step.
    /// </summary>
    public bool FreshSftPerUpdate { get; init; } = true;
    /// <summary>Completions per prompt (G, the group size).</summary>
    public int Generations { get; init; } = 8;
    public float Temperature { get; init; } = 1.0f;
    public int TopK { get; init; }
    public float TopP { get; init; } = 1.0f;
    public int MaxCompletionTokens { get; init; } = 24;
    /// <summary>Policy updates per generated batch (μ).</summary>
    public int Mu { get; init; } = 4;
    /// <summary>KL coefficient to the frozen reference (β).</summary>
    public float Beta { get; init; } = 0.01f;
    /// <summary>Lower clip ε (TRL's epsilon, 0.2 there too): ratios below 1 − ε stop pushing a negative advantage.</summary>
    public float ClipEpsilonLow { get; init; } = 0.2f;
    /// <summary>Upper clip ε (TRL's epsilon_high; DAPO's clip-higher, which recommends 0.28). TRL defaults it to epsilon.</summary>
    public float ClipEpsilonHigh { get; init; } = 0.2f;
    /// <summary>How the per-token losses are summed (TRL's loss_type; TRL's default is dapo too).</summary>
    public GrpoLossType LossType { get; init; } = GrpoLossType.Dapo;
    /// <summary>Which standard deviation divides the group-centred rewards (TRL's scale_rewards, default group).</summary>
    public RewardScaling ScaleRewards { get; init; } = RewardScaling.Group;
    /// <summary>Completions cut at the token limit (no end-of-text) take no part in the RL loss (TRL's mask_truncated_completions, default off).</summary>
    public bool MaskTruncatedCompletions { get; init; }
    /// <summary>
    /// ρ: only the top ρ of the counted tokens by the policy's entropy keep their policy-gradient term, the
    /// others keep only the KL term (TRL's top_entropy_quantile; 1 = every token, TRL's default).
    /// </summary>
    public float TopEntropyQuantile { get; init; } = 1f;
    /// <summary>
    /// Rows per forward/backward (0: the whole batch). The RL and SFT batches are cut into micro-batches of at
    /// most this many rows whose gradients are accumulated, so activations scale with it, not with P·G; the
    /// update is the whole batch's up to floating-point summation order.
    /// </summary>
    public int MicroBatch { get; init; }
    public ConstraintKind Constraint { get; init; } = ConstraintKind.Gate;
    public float Lambda1 { get; init; } = 1f;
    public float Lambda2 { get; init; } = 1f;
    /// <summary>GTA(RL) ablation: the guess is trained by RL like the rest instead of by cross-entropy.</summary>
    public bool GuessByRl { get; init; }
    public float LearningRate { get; init; } = 3e-4f;
    public int WarmupSteps { get; init; } = 5;
    public float WeightDecay { get; init; }
    public float ClipNorm { get; init; } = 1f;
    public int EvalEvery { get; init; } = 40;
    public int EvalExamples { get; init; } = 200;
    public ulong Seed { get; init; } = 1;

    /// <summary>LoRA rank r; 0 trains every weight (full fine-tuning in fp32).</summary>
    public int LoraRank { get; init; }
    /// <summary>LoRA alpha: the update is scaled by alpha / r; 0 means 2·r.</summary>
    public float LoraAlpha { get; init; }
    /// <summary>LoRA target modules, comma-separated short names (q, k, v, o, gate, up, down).</summary>
    public string LoraTargets { get; init; } = string.Join(",", LoraSettings.DefaultTargets);
    /// <summary>How a LoRA run keeps its frozen base: f32, or bf16 (halves its memory).</summary>
    public WeightDtype BaseDtype { get; init; } = WeightDtype.F32;
    /// <summary>Activation recomputation per block: only block outputs are kept, each block's forward is redone in the backward pass.</summary>
    public bool Recompute { get; init; }

    /// <summary>The policy's model options these settings ask for.</summary>
    [JsonIgnore]
    public ModelOptions ModelOptions => new(
        LoraRank > 0 ? new LoraSettings(LoraRank, LoraAlpha > 0 ? LoraAlpha : 2f * LoraRank, LoraSettings.ParseTargets(LoraTargets)) : null,
        BaseDtype, Recompute);

    [JsonIgnore]
    public CompletionTemplate Template => Method switch
    {
        TrainingMethod.Gta => CompletionTemplate.GuessThinkAnswer,
        TrainingMethod.Grpo => CompletionTemplate.ThinkAnswer,
        _ => CompletionTemplate.Answer,
    };

    public void Validate()
    {
        void Positive(string name, double v) { if (!(v > 0)) throw new ArgumentException($"{name} must be positive, got {v}"); }
        Positive("steps", Steps);
        Positive("prompts per step", PromptsPerStep);
        Positive("generations", Generations);
        Positive("max completion tokens", MaxCompletionTokens);
        Positive("mu", Mu);
        Positive("learning rate", LearningRate);
        if (MicroBatch < 0) throw new ArgumentException($"micro-batch must be ≥ 0 (0: the whole batch), got {MicroBatch}");
        if (SftPrompts < 0) throw new ArgumentException($"sft prompts must be ≥ 0, got {SftPrompts}");
        if (Beta < 0) throw new ArgumentException($"beta must be ≥ 0, got {Beta}");
        if (ClipEpsilonLow is < 0 or >= 1 || ClipEpsilonHigh < 0) throw new ArgumentException($"epsilon must be in [0, 1) and epsilon-high ≥ 0, got {ClipEpsilonLow} and {ClipEpsilonHigh}");
        if (!(TopEntropyQuantile > 0 && TopEntropyQuantile <= 1)) throw new ArgumentException($"top entropy quantile must be in (0, 1], got {TopEntropyQuantile}");
        if (!(Temperature > 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature must be positive for GRPO rollouts (their log-probabilities are taken at it), got {Temperature}");
        if (Method != TrainingMethod.Sft && Generations < 2) throw new ArgumentException("group-relative advantages need at least 2 generations per prompt");
        if (LoraRank < 0) throw new ArgumentException($"--lora-rank must be ≥ 0 (0: full fine-tuning), got {LoraRank}");
        if (LoraAlpha < 0 || !float.IsFinite(LoraAlpha)) throw new ArgumentException($"--lora-alpha must be positive, got {LoraAlpha}");
        ModelOptions.Validate();
    }
}

/// <summary>
/// Reads the settings of run folders written before the TRL-named options (issue 15), so --resume and
/// gta report still understand them: "aggregation" token-mean → loss_type dapo (the same loss: one batch,
/// one process), sequence-mean → grpo; "scale_rewards_by_std" true → scale_rewards group, false → none.
/// Settings that did not exist then (mask_truncated_completions, top_entropy_quantile, micro_batch) were off.
/// </summary>
public static class GtaSettingsMigration
{
    public static JsonObject Upgrade(JsonObject settings)
    {
        var upgraded = (JsonObject)settings.DeepClone();
        if (upgraded["aggregation"] is JsonValue aggregation)
        {
            string old = aggregation.GetValue<string>();
            upgraded["loss_type"] = old.Replace("-", "", StringComparison.Ordinal).ToLowerInvariant() switch
            {
                "tokenmean" => "dapo",
                "sequencemean" => "grpo",
                _ => throw new InvalidDataException($"settings: unknown aggregation \"{old}\" (expected token-mean or sequence-mean)"),
            };
            upgraded.Remove("aggregation");
        }
        if (upgraded["scale_rewards_by_std"] is JsonValue byStd)
        {
            upgraded["scale_rewards"] = byStd.GetValue<bool>() ? "group" : "none";
            upgraded.Remove("scale_rewards_by_std");
        }
        upgraded["mask_truncated_completions"] ??= false;
        upgraded["top_entropy_quantile"] ??= 1f;
        upgraded["micro_batch"] ??= 0;
        return upgraded;
    }
}
