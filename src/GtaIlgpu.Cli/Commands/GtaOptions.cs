using System.CommandLine;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// The GTA / GRPO knobs and the base-model knobs as command-line options, defined once for
/// `gta train` and `gta compare`. Defaults are the paper's where it gives them.
/// </summary>
public sealed class GtaOptions
{
    private static readonly GtaSettings D = new();
    private static readonly BaseSettings DB = new();

    public readonly Option<string?> Data = new("--data") { Description = "dataset: a folder with train/validation/test files (.jsonl/.csv/.tsv/fastText), a benchmark name (sst5, emotion, massive, bbc), or 'sentiment' (the embedded default)" };
    public readonly Option<string?> Task = new("--task") { Description = "task description used in the prompt (default: from the dataset)" };
    public readonly Option<int> Steps = new("--steps") { Description = "training steps (each: one rollout batch and μ updates)", DefaultValueFactory = _ => D.Steps };
    public readonly Option<int> Prompts = new("--prompts") { Description = "prompts per step (P)", DefaultValueFactory = _ => D.PromptsPerStep };
    public readonly Option<int> SftPrompts = new("--sft-prompts") { Description = "teacher-forced prompts in the SFT batch (0: the rollout prompts only)", DefaultValueFactory = _ => D.SftPrompts };
    public readonly Option<bool> ReuseSftBatch = new("--reuse-sft-batch") { Description = "all μ updates of a step reuse one SFT batch (default: each update after the first takes fresh examples)" };
    public readonly Option<int> Generations = new("--generations") { Description = "completions per prompt (G, the group size)", DefaultValueFactory = _ => D.Generations };
    public readonly Option<float> Temperature = new("--temperature") { Description = "rollout sampling temperature", DefaultValueFactory = _ => D.Temperature };
    public readonly Option<int> MaxCompletion = new("--max-completion") { Description = "maximum completion tokens (TRL: max_completion_length, default 256); a base built here gets a window with room for it", DefaultValueFactory = _ => D.MaxCompletionTokens };
    public readonly Option<int> Mu = new("--mu") { Description = "policy updates per rollout batch (μ)", DefaultValueFactory = _ => D.Mu };
    public readonly Option<float> Beta = new("--beta") { Description = "KL coefficient to the frozen reference (β, k3 estimator)", DefaultValueFactory = _ => D.Beta };
    public readonly Option<float> Epsilon = new("--epsilon", "--clip-epsilon") { Description = "lower clip ε: the ratio's band starts at 1 − ε (TRL: epsilon, default 0.2); also the upper one unless --epsilon-high is given", DefaultValueFactory = _ => D.ClipEpsilonLow };
    public readonly Option<float?> EpsilonHigh = new("--epsilon-high") { Description = "upper clip ε, clip-higher: the band ends at 1 + ε_high (TRL: epsilon_high, default = epsilon; DAPO suggests 0.28)" };
    public readonly Option<GrpoLossType> LossType = new("--loss-type") { Description = "RL loss aggregation (TRL: loss_type, default dapo): grpo = mean over sequences of their token means; bnpo = token sum / counted tokens; dr_grpo = token sum / (sequences × max completion); dapo = token sum / counted tokens of the whole batch (= bnpo here)", DefaultValueFactory = _ => D.LossType, CustomParser = r => ParseLossType(r.Tokens[0].Value) };
    public readonly Option<RewardScaling?> ScaleRewards = new("--scale-rewards") { Description = "divide group-centred rewards by the group's std, the batch's, or none (TRL: scale_rewards, default group)", CustomParser = r => ParseScaling(r.Tokens[0].Value) };
    public readonly Option<bool> NoStdScaling = new("--no-std-scaling") { Description = "old name of --scale-rewards none" };
    public readonly Option<bool> MaskTruncated = new("--mask-truncated-completions") { Description = "completions cut at --max-completion (no end-of-text) take no part in the RL loss (TRL: mask_truncated_completions, default off)" };
    public readonly Option<float> TopEntropyQuantile = new("--top-entropy-quantile") { Description = "keep the policy-gradient term only on the top ρ of completion tokens by the policy's entropy; the KL term keeps all (TRL: top_entropy_quantile, default 1 = all)", DefaultValueFactory = _ => D.TopEntropyQuantile };
    public readonly Option<int> MicroBatch = new("--micro-batch") { Description = "rows per forward/backward; gradients are accumulated over the RL and SFT batches' micro-batches so activations scale with N, not P×G (0: the whole batch)", DefaultValueFactory = _ => D.MicroBatch };
    public readonly Option<ConstraintKind> Constraint = new("--constraint") { Description = "gradient constraint: Gate (the paper), PCGrad or None", DefaultValueFactory = _ => D.Constraint };
    public readonly Option<float> Lambda1 = new("--lambda1") { Description = "weight of the SFT gradient (λ1)", DefaultValueFactory = _ => D.Lambda1 };
    public readonly Option<float> Lambda2 = new("--lambda2") { Description = "weight of the RL gradient (λ2)", DefaultValueFactory = _ => D.Lambda2 };
    public readonly Option<bool> GuessByRl = new("--guess-by-rl") { Description = "GTA(RL) ablation: train the guess by RL instead of cross-entropy" };
    public readonly Option<float> LearningRate = new("--lr") { Description = "learning rate (constant after warmup)", DefaultValueFactory = _ => D.LearningRate };
    public readonly Option<int> EvalEvery = new("--eval-every") { Description = "validate every N steps", DefaultValueFactory = _ => D.EvalEvery };
    public readonly Option<int> EvalExamples = new("--eval-examples") { Description = "validation examples per check", DefaultValueFactory = _ => D.EvalExamples };
    public readonly Option<string> Chat = new Option<string>("--chat")
    {
        Description = "a downloaded Llama/Qwen model's prompts: on (its chat template: system turn with the task and labels, user turn with the text), off (the plain prompt), auto (on when its tokenizer_config.json has a chat_template)",
        DefaultValueFactory = _ => "auto",
    }.AcceptOnlyFromAmong("auto", "on", "off");
    public readonly Option<string> BaseArch = CommonOptions.Arch("--base-arch", "base model built from scratch");
    public readonly Option<int> BaseLayers = new("--base-layers") { Description = "base model: transformer blocks", DefaultValueFactory = _ => DB.Layers };
    public readonly Option<int> BaseChannels = new("--base-channels") { Description = "base model: width", DefaultValueFactory = _ => DB.Channels };
    public readonly Option<int> BaseHeads = new("--base-heads") { Description = "base model: attention heads", DefaultValueFactory = _ => DB.Heads };
    public readonly Option<int> BaseSequence = new("--base-sequence") { Description = "base model: maximum sequence", DefaultValueFactory = _ => DB.MaxSequence };
    public readonly Option<int> PretrainSteps = new("--base-pretrain-steps") { Description = "base model: language-model steps on the training texts", DefaultValueFactory = _ => DB.PretrainSteps };
    public readonly Option<int> PrimeSteps = new("--base-prime-steps") { Description = "base model: format-priming steps (random labels)", DefaultValueFactory = _ => DB.PrimeSteps };
    public readonly Option<DirectoryInfo?> Model = new("--model") { Description = "start from a base saved by `gta base` instead of building one, or from a Hugging Face folder: GPT-2 (config.json, model.safetensors, vocab.json, merges.txt; the tags become new tokens) or Llama/Qwen2/Qwen3 (its tokenizer spells the tags as text; --chat), with format priming first (no language-model pretraining)" };
    public readonly Option<float> BaseLearningRate = new("--base-lr") { Description = "base model: peak learning rate of language modelling and format priming (a downloaded GPT-2 wants less, e.g. 1e-4)", DefaultValueFactory = _ => DB.LearningRate };
    public readonly Option<int> LoraRank = new("--lora-rank") { Description = "train LoRA adapters of rank r on a frozen base (0: full fine-tuning, every weight in fp32)", DefaultValueFactory = _ => D.LoraRank };
    public readonly Option<float> LoraAlpha = new("--lora-alpha") { Description = "LoRA alpha: the update is scaled by alpha / r (default 2·r)", DefaultValueFactory = _ => D.LoraAlpha };
    public readonly Option<string> LoraTargets = new("--lora-targets") { Description = "modules that get adapters: q, k, v, o, gate, up, down (GPT-2: q,k,v together = c_attn, o, up, down)", DefaultValueFactory = _ => D.LoraTargets };
    public readonly Option<string> BaseDtype = new Option<string>("--base-dtype") { Description = "how a LoRA run keeps its frozen base: f32, or bf16 (matmul weights and embeddings in bf16, widened as the matmuls load them: half the memory)", DefaultValueFactory = _ => "f32" }.AcceptOnlyFromAmong("f32", "bf16");
    public readonly Option<bool> Recompute = new("--recompute") { Description = "recompute each block's forward in the backward pass instead of keeping its activations (about a third more compute, activations of one block instead of all)" };
    public readonly Option<string> Device = CommonOptions.Device();
    public readonly Option<ulong> Seed = CommonOptions.Seed(D.Seed);

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Data, Task, Steps, Prompts, SftPrompts, Generations, Temperature, MaxCompletion, Mu, Beta, Epsilon, EpsilonHigh,
                     LossType, ScaleRewards, NoStdScaling, MaskTruncated, TopEntropyQuantile, MicroBatch, ReuseSftBatch, Constraint, Lambda1, Lambda2, GuessByRl, LearningRate, EvalEvery, EvalExamples,
                     LoraRank, LoraAlpha, LoraTargets, BaseDtype, Recompute,
                     Model, Chat, BaseArch, BaseLayers, BaseChannels, BaseHeads, BaseSequence, PretrainSteps, PrimeSteps, BaseLearningRate, Device, Seed })
            command.Options.Add(option);
    }

    /// <summary>Only what building a base needs (for `gta base`).</summary>
    public void AddBaseTo(Command command)
    {
        foreach (var option in new Option[] { Data, Task, MaxCompletion, Chat, BaseArch, BaseLayers, BaseChannels, BaseHeads, BaseSequence, PretrainSteps, PrimeSteps, BaseLearningRate, Device, Seed })
            command.Options.Add(option);
    }

    public GtaSettings Settings(ParseResult p, TrainingMethod method)
    {
        var scaling = p.GetValue(ScaleRewards);
        if (scaling is not null && p.GetValue(NoStdScaling))
            throw new ArgumentException("--no-std-scaling is the old name of --scale-rewards none: give one of them");
        return new()
        {
            Method = method, Steps = p.GetValue(Steps), PromptsPerStep = p.GetValue(Prompts), SftPrompts = p.GetValue(SftPrompts), Generations = p.GetValue(Generations),
            Temperature = p.GetValue(Temperature), MaxCompletionTokens = p.GetValue(MaxCompletion), Mu = p.GetValue(Mu),
            Beta = p.GetValue(Beta), ClipEpsilonLow = p.GetValue(Epsilon), ClipEpsilonHigh = p.GetValue(EpsilonHigh) ?? p.GetValue(Epsilon),
            LossType = p.GetValue(LossType), ScaleRewards = scaling ?? (p.GetValue(NoStdScaling) ? RewardScaling.None : RewardScaling.Group),
            MaskTruncatedCompletions = p.GetValue(MaskTruncated), TopEntropyQuantile = p.GetValue(TopEntropyQuantile), MicroBatch = p.GetValue(MicroBatch), FreshSftPerUpdate = !p.GetValue(ReuseSftBatch), Constraint = p.GetValue(Constraint),
            Lambda1 = p.GetValue(Lambda1), Lambda2 = p.GetValue(Lambda2), GuessByRl = p.GetValue(GuessByRl),
            LearningRate = p.GetValue(LearningRate), EvalEvery = p.GetValue(EvalEvery), EvalExamples = p.GetValue(EvalExamples),
            Seed = p.GetValue(Seed),
            LoraRank = p.GetValue(LoraRank), LoraAlpha = p.GetValue(LoraAlpha), LoraTargets = p.GetValue(LoraTargets)!,
            BaseDtype = p.GetValue(BaseDtype) == "bf16" ? GtaIlgpu.Model.WeightDtype.Bf16 : GtaIlgpu.Model.WeightDtype.F32, Recompute = p.GetValue(Recompute),
        };
    }

    private static GrpoLossType ParseLossType(string value) => value.ToLowerInvariant().Replace('-', '_') switch
    {
        "grpo" => GrpoLossType.Grpo,
        "bnpo" => GrpoLossType.Bnpo,
        "dr_grpo" => GrpoLossType.DrGrpo,
        "dapo" => GrpoLossType.Dapo,
        _ => throw new ArgumentException($"--loss-type {value}: expected grpo, bnpo, dr_grpo or dapo"),
    };

    private static RewardScaling? ParseScaling(string value) => value.ToLowerInvariant() switch
    {
        "group" => RewardScaling.Group,
        "batch" => RewardScaling.Batch,
        "none" => RewardScaling.None,
        _ => throw new ArgumentException($"--scale-rewards {value}: expected group, batch or none"),
    };

    public BaseSettings Base(ParseResult p) => new()
    {
        Arch = p.GetValue(BaseArch)!, Chat = Enum.Parse<ChatMode>(p.GetValue(Chat)!, ignoreCase: true), Layers = p.GetValue(BaseLayers), Channels = p.GetValue(BaseChannels), Heads = p.GetValue(BaseHeads),
        MaxSequence = p.GetValue(BaseSequence), PretrainSteps = p.GetValue(PretrainSteps), PrimeSteps = p.GetValue(PrimeSteps),
        LearningRate = p.GetValue(BaseLearningRate), MaxCompletionTokens = p.GetValue(MaxCompletion),
        Seed = p.GetValue(Seed) + 1000,
    };

    /// <summary>The prompt's task line: given, or derived from the dataset's name.</summary>
    public static string TaskName(string? given, string dataset) => given ?? dataset.ToLowerInvariant() switch
    {
        "sentiment" => "sentiment of a product, movie or restaurant review",
        "sst5" => "sentiment of a movie review",
        "emotion" => "emotion of a tweet",
        "massive" => "scenario of a voice-assistant request",
        "bbc" => "topic of a news article",
        var other => $"{other} classification",
    };
}
