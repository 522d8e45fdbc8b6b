using System.Diagnostics;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;
using GtaIlgpu.Training;

namespace GtaIlgpu.Gta;

/// <summary>
/// One training stage of GTA (or of the SFT / GRPO baselines) on one model. A step reads one way:
/// prompts → rollouts (KV-cache sampling) → rewards → group-relative advantages → μ updates, each with
/// the RL loss on think+answer tokens (PPO-clipped ratio, k3 KL to the frozen reference) and the SFT
/// cross-entropy on the teacher-forced guess, combined by the gradient constraint, clipped, AdamW.
/// </summary>
public sealed class GtaTrainer : IDisposable
{
    private readonly Transformer _policy;
    private readonly Transformer? _reference;
    private readonly bool _referenceIsBase;
    private readonly PromptFormat _format;
    private readonly IReadOnlyList<LabeledExample> _train;
    private readonly AdamWOptimizer _optimizer;
    private readonly LearningRateSchedule _schedule;
    private readonly Generator? _generator;
    // Two pools: the RL and SFT batches of one step can have the same shape, and must not share a workspace.
    private readonly WorkspacePool _rlPool;
    private readonly WorkspacePool _sftPool;
    private readonly DeviceBuffer<float>? _rlGradient;
    private Rng _rng;
    private readonly int[] _order;
    private readonly Dictionary<int, int[]> _promptCache = [];
    // The SFT target of each label, encoded once, and the row arrays one SFT batch is packed from
    // (refilled for every update instead of reallocated).
    private readonly Dictionary<string, int[]> _sftTargetByLabel = [];
    private readonly int[][] _sftPromptRows;
    private readonly int[][] _sftTargetRows;
    private int _cursor;

    public GtaTrainer(Transformer policy, PromptFormat format, IReadOnlyList<LabeledExample> train, GtaSettings settings)
    {
        settings.Validate();
        if (train.Count == 0) throw new ArgumentException("no training examples");
        Settings = settings;
        _policy = policy;
        _format = format;
        _train = train;
        var backend = policy.Backend;
        _optimizer = new AdamWOptimizer(policy, new AdamWSettings(WeightDecay: settings.WeightDecay, ClipNorm: settings.ClipNorm));
        _schedule = new LearningRateSchedule(settings.LearningRate, settings.WarmupSteps, settings.Steps, FloorFraction: 1f);
        _rlPool = new WorkspacePool(backend, policy.Config, settings.MicroBatch, policy.ActivationOptions);
        _sftPool = new WorkspacePool(backend, policy.Config, settings.MicroBatch, policy.ActivationOptions);
        _rng = new Rng(settings.Seed);
        _order = Enumerable.Range(0, train.Count).ToArray();
        int sftRows = Math.Max(settings.PromptsPerStep, settings.SftPrompts);
        _sftPromptRows = new int[sftRows][];
        _sftTargetRows = new int[sftRows][];
        Shuffle();
        bool usesRl = settings.Method != TrainingMethod.Sft;
        if (usesRl)
        {
            _generator = new Generator(policy, settings.PromptsPerStep * settings.Generations, policy.Config.MaxSequence, settings.MicroBatch);
            // The frozen reference is the policy as the stage starts (the shared base). With LoRA that is
            // the policy's own frozen base run without its adapters: no copy at all.
            if (settings.Beta != 0 && !policy.HasAdapters)
            {
                _reference = new Transformer(backend, policy.Config);
                backend.Ops.Copy(_reference.Parameters.View, policy.Parameters.View);
            }
            _referenceIsBase = settings.Beta != 0 && policy.HasAdapters;
            if (settings.Method == TrainingMethod.Gta) _rlGradient = backend.Allocate<float>(policy.TrainableLength);
        }
    }

    /// <summary>
    /// The stage's memory, as its constructor and first steps allocate it: the policy's weights, gradients
    /// and AdamW moments; for RL, the frozen KL reference (β &gt; 0), GTA's second gradient and the rollout
    /// generator's KV cache (P·G sequences of the window); the RL and SFT batch workspaces' activations,
    /// counted at the full window for the rows of one micro-batch (--micro-batch; the whole batch without it):
    /// each pool keeps the batch shapes it meets only while together they take no more than that (WorkspacePool);
    /// and the validation decoder, which runs between steps while all of that stays allocated.
    /// </summary>
    public static MemoryPlan PlanMemory(ModelConfig config, GtaSettings settings)
    {
        var plan = new MemoryPlan(config, settings.ModelOptions).Weights().Gradients().AdamMoments();
        int T = config.MaxSequence, rollouts = settings.PromptsPerStep * settings.Generations;
        void BatchActivations(int rows, string what)
        {
            int micro = settings.MicroBatch == 0 ? rows : Math.Min(settings.MicroBatch, rows);
            plan.Activations(micro, T, true, micro == rows ? what : $"{what} (micro-batches of {micro} of {rows} rows)");
        }
        if (settings.Method != TrainingMethod.Sft)
        {
            if (settings.Beta != 0) plan.FrozenReference();
            if (settings.Method == TrainingMethod.Gta) plan.SecondGradient();
            plan.Cache(rollouts, T, Generator.PrefillRowsFor(rollouts, settings.MicroBatch));
            BatchActivations(rollouts, "RL batch activations");
        }
        if (settings.Method != TrainingMethod.Grpo)
            BatchActivations(Math.Max(settings.PromptsPerStep, settings.SftPrompts), "SFT batch activations");
        int validation = Math.Min(GtaEvaluator.DefaultBatch, Math.Max(1, settings.EvalExamples));
        plan.Cache(validation, T, Generator.PrefillRowsFor(validation, settings.MicroBatch), "validation decoding");
        return plan;
    }

    /// <summary>Refuses a stage whose plan exceeds the device, naming the first change that would fit (see <see cref="SuggestFit"/>).</summary>
    public static void EnsureFits(MemoryPlan plan, GtaSettings settings, IBackend backend)
    {
        long device = backend.MemoryBytes;
        if (device <= 0 || plan.TotalBytes <= device) return;
        var fit = SuggestFit(plan.Config, settings, device);
        plan.EnsureFits(device, backend.Name, fit is { } f
            ? $"{f.Flags} would fit: {MemoryPlan.Format(f.Plan.TotalBytes)}"
            : "nothing this trainer offers (LoRA, a bf16 base, recomputation, micro-batches, fewer completions) fits; use a shorter window or a larger device");
    }

    /// <summary>
    /// The first of these changes, taken cumulatively, after which the stage fits in deviceBytes: LoRA
    /// (rank 16), a bf16 base, recomputation, micro-batches of 8, 4, 2 and 1 rows, then halving the
    /// completions per prompt down to 2. Null when even all of them do not fit.
    /// </summary>
    public static (string Flags, MemoryPlan Plan)? SuggestFit(ModelConfig config, GtaSettings settings, long deviceBytes)
    {
        var flags = new List<string>();
        var s = settings;
        IEnumerable<(string Flag, GtaSettings Settings)> Steps()
        {
            if (s.LoraRank == 0) yield return ("--lora-rank 16", s = s with { LoraRank = 16 });
            if (s.BaseDtype != WeightDtype.Bf16) yield return ("--base-dtype bf16", s = s with { BaseDtype = WeightDtype.Bf16 });
            if (!s.Recompute) yield return ("--recompute", s = s with { Recompute = true });
            int rows = Math.Max(s.PromptsPerStep * s.Generations, Math.Max(s.PromptsPerStep, s.SftPrompts));
            for (int micro = 8; micro >= 1; micro /= 2)
                if ((s.MicroBatch == 0 || micro < s.MicroBatch) && micro < rows) yield return ($"--micro-batch {micro}", s = s with { MicroBatch = micro });
            while (s.Method != TrainingMethod.Sft && s.Generations > 2)
                yield return ($"--generations {s.Generations / 2}", s = s with { Generations = Math.Max(2, s.Generations / 2) });
        }
        foreach (var (flag, next) in Steps())
        {
            flags.RemoveAll(f => f.StartsWith(flag.Split(' ')[0] + " ", StringComparison.Ordinal));
            flags.Add(flag);
            var plan = PlanMemory(config, next);
            if (plan.TotalBytes <= deviceBytes) return (string.Join(" ", flags), plan);
        }
        return null;
    }

    public GtaSettings Settings { get; }
    public int StepsDone { get; private set; }
    public Transformer Policy => _policy;
    public AdamWOptimizer Optimizer => _optimizer;

    /// <summary>The frozen KL reference (the policy as the stage started) as a copy; null when β = 0, for the SFT baseline, and with LoRA (the reference is then the policy's base without adapters).</summary>
    public Transformer? Reference => _reference;

    /// <summary>
    /// Where the loop stands besides the weights, AdamW's moments and the reference: the generator that
    /// shuffles and samples, the current shuffled order of the training examples and the cursor into
    /// it. The order is state, not a function of the seed: each epoch reshuffles the previous order.
    /// </summary>
    public ulong[] RngState => _rng.State;
    public int[] DataOrder => (int[])_order.Clone();
    public int DataCursor => _cursor;

    /// <summary>Continues from a checkpoint's progress (weights, moments and the reference are restored separately).</summary>
    public void RestoreProgress(int stepsDone, ulong[] rngState, int[] dataOrder, int dataCursor)
    {
        if (stepsDone < 0) throw new ArgumentOutOfRangeException(nameof(stepsDone));
        if (dataOrder.Length != _order.Length || !dataOrder.Order().SequenceEqual(Enumerable.Range(0, _order.Length)))
            throw new InvalidDataException($"the saved data order is not a permutation of the {_order.Length} training examples (has the training split changed?)");
        if (dataCursor < 0 || dataCursor > _order.Length) throw new InvalidDataException($"the saved data cursor {dataCursor} is outside 0..{_order.Length}");
        StepsDone = stepsDone;
        _rng = Rng.FromState(rngState);
        dataOrder.CopyTo(_order, 0);
        _cursor = dataCursor;
    }

    /// <summary>Tokens a prompt may use, leaving room for the completion (and the guess for SFT).</summary>
    private int PromptBudget => _policy.Config.MaxSequence - Settings.MaxCompletionTokens;

    private int[] PromptIds(int index)
    {
        if (!_promptCache.TryGetValue(index, out var ids))
            _promptCache[index] = ids = _format.Prompt(_train[index].Text, Settings.Template, PromptBudget);
        return ids;
    }

    private void Shuffle() => _rng.Shuffle<int>(_order);

    private int NextExample()
    {
        if (_cursor == _order.Length) { Shuffle(); _cursor = 0; }
        return _order[_cursor++];
    }

    /// <summary>Cumulative prompt + completion tokens of the rollouts (TRL's num_tokens); restored on resume from the last metrics line.</summary>
    public double NumTokens { get; set; }

    /// <summary>
    /// A test's view of the batches this trainer builds (null in production: one null check per update).
    /// Called for the RL batch once all its coefficients are set, before the gradient of its last micro-batch
    /// is computed (of the whole batch without micro-batches), and for the SFT batch after it is packed.
    /// </summary>
    internal Action<BatchInspection>? Inspect { get; set; }

    public GtaStepMetrics Step()
    {
        long start = Stopwatch.GetTimestamp();
        var s = Settings;
        var ops = _policy.Backend.Ops;
        int P = s.PromptsPerStep, G = s.Generations;
        var examples = new int[P];
        for (int i = 0; i < P; i++) examples[i] = NextExample();
        long tokens = 0;

        // ---- rollouts, rewards, advantages, RL batch -------------------------------------------
        BatchWorkspace? rl = null;
        int[][]? prompts = null, completions = null;
        var rollouts = new RolloutStats();
        var advantages = new float[P * G];
        if (_generator is not null)
        {
            prompts = new int[P * G][];
            for (int i = 0; i < P * G; i++) prompts[i] = PromptIds(examples[i / G]);
            completions = _generator.Generate(prompts, s.MaxCompletionTokens,
                new SamplingSettings(s.Temperature, s.TopK, s.TopP), _rng, _format.EndOfText);
            var rewards = new float[P * G];
            var truncated = new bool[P * G];
            rollouts = RolloutStats.Of(completions, prompts, _format.EndOfText, i =>
                CompletionRewards.Score(_format.DecodeCompletion(completions[i]), _train[examples[i / G]].Label, s.Template), rewards, truncated);
            foreach (var c in completions) tokens += c.Length;
            NumTokens += rollouts.Tokens;
            var spread = Advantages.GroupRelative(rewards, G, advantages, s.ScaleRewards);
            rollouts = rollouts with { FracRewardZeroStd = (float)spread.ZeroSpreadFraction };

            int longest = 0;
            for (int i = 0; i < P * G; i++) longest = Math.Max(longest, prompts[i].Length + completions[i].Length);
            rl = _rlPool.Get(P * G, Math.Max(1, longest - 1));
            bool maskGuess = s.Method == TrainingMethod.Gta && !s.GuessByRl;
            var guessSpans = completions.Select(c => maskGuess ? _format.GuessSpan(c) : (0, 0)).ToArray();
            bool maskTruncated = s.MaskTruncatedCompletions;
            rl.Pack(prompts, completions, (r, j) => !(maskTruncated && truncated[r]) && CountsForRl(j, guessSpans[r]), _format.EndOfText);
            // Ratio and KL at the temperature the rollouts were sampled at (TRL does the same): the sampler's
            // distribution is softmax(logits/τ), and temperature-1 log-probs would train off-policy for τ ≠ 1.
            rl.Loss.Temperature = s.Temperature;
            // The reference first: the policy's first update then reuses its own forward for the old
            // log-probs (they are the current policy's before any update), one forward less per step.
            if (_reference is not null || _referenceIsBase)
            {
                for (int j = 0; j < rl.MicroBatches; j++)
                {
                    rl.Load(j);
                    if (_reference is not null) _reference.Forward(rl.Acts, rl.Inputs.View);
                    else _policy.Forward(rl.Acts, rl.Inputs.View, adapters: false);
                    rl.ReadLogProbs(j, rl.LogProbsRef);
                }
            }
        }

        // ---- SFT batch: the teacher-forced guess (gta) or answer (sft baseline) -------------------
        bool usesSft = s.Method == TrainingMethod.Sft || (s.Method == TrainingMethod.Gta && !s.GuessByRl);
        BatchWorkspace? sft = usesSft ? PackSftBatch(examples) : null;

        // ---- μ policy updates; metrics are means over the updates ---------------------------------
        var objective = new GrpoObjective(s.ClipEpsilonLow, s.ClipEpsilonHigh, _reference is null && !_referenceIsBase ? 0f : s.Beta, s.LossType, s.MaxCompletionTokens);
        var rlBatch = rl is null ? default : GrpoBatch.Of(rl.Rows, rl.Sequence, rl.Counted);
        double sftLoss = 0, rlLoss = 0, kl = 0, entropy = 0, clipLow = 0, clipHigh = 0, cos = 0, norm = 0, normSft = 0, normRl = 0;
        int dropped = 0;
        float lr = _schedule.At(StepsDone);
        for (int k = 0; k < s.Mu; k++)
        {
            if (rl is not null)
            {
                var stats = RlGradient(rl, rlBatch, k, advantages, objective, prompts!, completions!);
                rlLoss += stats.Loss; kl += stats.MeanKl; entropy += stats.MeanEntropy;
                clipLow += stats.ClipLowFraction; clipHigh += stats.ClipHighFraction;
                tokens += stats.Tokens;
                if (_rlGradient is not null) ops.Copy(_rlGradient.View, _policy.TrainableGradients);
            }
            if (sft is not null)
            {
                if (k > 0 && s.FreshSftPerUpdate) sft = PackSftBatch([]);
                Inspect?.Invoke(new BatchInspection(BatchKind.Sft, k, sft, [], [], []));
                sftLoss += SftGradient(sft);
            }
            bool combined = _rlGradient is not null && sft is not null;
            if (combined)
            {
                var result = GradientConstraint.Apply(ops, _policy.TrainableGradients, _rlGradient!.View, s.Constraint, s.Lambda1, s.Lambda2);
                cos += result.Cosine;
                if (result.SftDropped) dropped++;
                normSft += result.SftNorm;
                normRl += result.RlNorm;
            }
            float updateNorm = _optimizer.Step(lr);
            norm += updateNorm;
            if (!combined && sft is not null) normSft += updateNorm;
            else if (!combined && rl is not null) normRl += updateNorm;
        }
        _policy.Backend.Synchronize();
        StepsDone++;
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        float Mean(double sum) => (float)(sum / s.Mu);
        return new GtaStepMetrics(StepsDone, rollouts.Reward, rollouts.RewardStd, rollouts.FormatMean, rollouts.FormatStd,
            rollouts.AccuracyMean, rollouts.AccuracyStd, rollouts.FracRewardZeroStd, Mean(kl), Mean(entropy),
            Mean(clipLow), Mean(clipHigh), Mean(clipLow + clipHigh), rollouts.MeanLength, rollouts.MinLength, rollouts.MaxLength,
            rollouts.ClippedRatio, NumTokens, Mean(sftLoss), Mean(rlLoss), Mean(cos), Mean(dropped), Mean(norm), Mean(normSft), Mean(normRl),
            lr, tokens / seconds, seconds);
    }

    /// <summary>
    /// The gradient of update <paramref name="k"/>'s RL loss, accumulated over the batch's micro-batches (zeroed
    /// once), with one forward and backward per micro-batch: a row's coefficients need only that row's
    /// log-probs and the whole batch's normalisers (<see cref="GrpoBatch"/>). The first update's old
    /// log-probs are its own (the policy has not moved yet). --top-entropy-quantile needs the entropies of
    /// every row before any coefficient: with more than one micro-batch a forward-only pass over all of them
    /// comes first, one extra forward per micro-batch and update (about a third more compute for the RL batch).
    /// </summary>
    private GrpoStats RlGradient(BatchWorkspace rl, GrpoBatch batch, int k, float[] advantages, GrpoObjective objective, int[][] prompts, int[][] completions)
    {
        int micros = rl.MicroBatches;
        bool entropyPass = Settings.TopEntropyQuantile < 1 && micros > 1;
        float threshold = float.NegativeInfinity;
        if (entropyPass)
        {
            for (int j = 0; j < micros; j++)
            {
                rl.Load(j);
                _policy.Forward(rl.Acts, rl.Inputs.View);
                rl.ReadLogProbs(j, rl.LogProbs, rl.Entropies);
            }
            if (k == 0) rl.LogProbs.CopyTo(rl.LogProbsOld, 0);
            threshold = GrpoLoss.EntropyThreshold(rl.Counted, rl.Entropies, Settings.TopEntropyQuantile, rl.EntropyScratch);
        }
        var sums = new GrpoSums();
        _policy.ZeroGradients();
        for (int j = 0; j < micros; j++)
        {
            var (first, count) = rl.MicroRange(j);
            rl.Load(j);
            _policy.Forward(rl.Acts, rl.Inputs.View);
            if (!entropyPass)
            {
                rl.ReadLogProbs(j, rl.LogProbs, rl.Entropies);
                if (k == 0) rl.LogProbs.AsSpan(first * rl.Sequence, count * rl.Sequence).CopyTo(rl.LogProbsOld.AsSpan(first * rl.Sequence));
                // One micro-batch holds every entropy already: no extra pass.
                if (micros == 1) threshold = GrpoLoss.EntropyThreshold(rl.Counted, rl.Entropies, Settings.TopEntropyQuantile, rl.EntropyScratch);
            }
            GrpoLoss.Coefficients(batch, first, count, rl.Counted, rl.LogProbs, rl.LogProbsOld, rl.LogProbsRef,
                advantages, objective, rl.Coefficients, ref sums, rl.Entropies, threshold);
            if (!float.IsFinite((float)sums.Loss)) throw new NonFiniteException($"RL loss is {(float)sums.Loss} at step {StepsDone + 1}");
            rl.UploadCoefficients(j);
            if (j == micros - 1) Inspect?.Invoke(new BatchInspection(BatchKind.Rl, k, rl, advantages, prompts, completions));
            rl.Loss.Compute(rl.Acts, withGradient: true);
            _policy.Backward(rl.Acts, rl.Inputs.View);
        }
        return sums.Stats(batch);
    }

    /// <summary>
    /// The SFT cross-entropy's gradient, accumulated over the batch's micro-batches (zeroed once); every
    /// micro-batch weighs its targets by the whole batch's count, so the sum is the whole batch's mean.
    /// </summary>
    private double SftGradient(BatchWorkspace sft)
    {
        double loss = 0;
        _policy.ZeroGradients();
        for (int j = 0; j < sft.MicroBatches; j++)
        {
            sft.Load(j);
            _policy.Forward(sft.Acts, sft.Inputs.View);
            loss += sft.Loss.Compute(sft.Acts, withGradient: true);
            if (!float.IsFinite((float)loss)) throw new NonFiniteException($"SFT loss is {(float)loss} at step {StepsDone + 1}");
            _policy.Backward(sft.Acts, sft.Inputs.View);
        }
        return loss;
    }

    /// <summary>
    /// Packs one SFT batch: the given rollout examples first, then further training examples up to
    /// max(P, SftPrompts) rows, each with its teacher-forced target (the guess for gta, the answer for sft).
    /// </summary>
    private BatchWorkspace PackSftBatch(int[] rolloutExamples)
    {
        int longest = 0;
        for (int i = 0; i < _sftPromptRows.Length; i++)
        {
            int example = i < rolloutExamples.Length ? rolloutExamples[i] : NextExample();
            _sftPromptRows[i] = PromptIds(example);
            _sftTargetRows[i] = SftTarget(_train[example].Label);
            longest = Math.Max(longest, _sftPromptRows[i].Length + _sftTargetRows[i].Length);
        }
        var sft = _sftPool.Get(_sftPromptRows.Length, Math.Max(1, longest - 1));
        sft.Pack(_sftPromptRows, _sftTargetRows, (_, _) => true, _format.EndOfText);
        sft.SetMeanWeights();
        return sft;
    }

    /// <summary>The teacher-forced target of a label: the guess for gta, the bare answer for the sft baseline.</summary>
    private int[] SftTarget(string gold)
    {
        if (!_sftTargetByLabel.TryGetValue(gold, out var target))
            _sftTargetByLabel[gold] = target = Settings.Method == TrainingMethod.Sft
                ? _format.Completion(CompletionTemplate.Answer, gold, "")
                : _format.Guess(gold);
        return target;
    }

    /// <summary>The RL mask: completion token j takes part unless it lies in the guess span [Start, End).</summary>
    public static bool CountsForRl(int j, (int Start, int End) guessSpan) => j < guessSpan.Start || j >= guessSpan.End;

    public void Dispose()
    {
        _optimizer.Dispose();
        _generator?.Dispose();
        _reference?.Dispose();
        _rlPool.Dispose();
        _sftPool.Dispose();
        _rlGradient?.Dispose();
    }
}

public enum BatchKind { Rl, Sft }

/// <summary>One batch as the trainer built it: its workspace (targets, mask, log-probs, coefficients), the advantages and completions of an RL batch.</summary>
internal sealed record BatchInspection(BatchKind Kind, int Update, BatchWorkspace Batch, float[] Advantages, int[][] Prompts, int[][] Completions);

/// <summary>What one step's rollouts measured (TRL's reward and completion metrics); all 0 without rollouts.</summary>
internal readonly record struct RolloutStats(float Reward, float RewardStd, float FormatMean, float FormatStd, float AccuracyMean, float AccuracyStd,
    float FracRewardZeroStd, float MeanLength, float MinLength, float MaxLength, float ClippedRatio, long Tokens)
{
    /// <summary>
    /// Scores every completion into <paramref name="rewards"/> (format + accuracy) and marks in
    /// <paramref name="truncated"/> those cut at the token limit (no end-of-text). Standard deviations are
    /// over the whole batch, population (÷ n), like the advantages' (TRL uses the unbiased one).
    /// </summary>
    public static RolloutStats Of(int[][] completions, int[][] prompts, int endOfText, Func<int, CompletionReward> score, float[] rewards, bool[] truncated)
    {
        int n = completions.Length;
        var format = new float[n];
        var accuracy = new float[n];
        double length = 0;
        int min = int.MaxValue, max = 0, clipped = 0;
        long tokens = 0;
        for (int i = 0; i < n; i++)
        {
            var reward = score(i);
            rewards[i] = reward.Total;
            format[i] = reward.Format;
            accuracy[i] = reward.Accuracy;
            int l = completions[i].Length;
            length += l;
            min = Math.Min(min, l);
            max = Math.Max(max, l);
            truncated[i] = Array.IndexOf(completions[i], endOfText) < 0;
            if (truncated[i]) clipped++;
            tokens += prompts[i].Length + l;
        }
        return new RolloutStats((float)MeanOf(rewards), (float)StdOf(rewards), (float)MeanOf(format), (float)StdOf(format),
            (float)MeanOf(accuracy), (float)StdOf(accuracy), 0, (float)(length / n), min, max, (float)clipped / n, tokens);
    }

    private static double MeanOf(float[] x)
    {
        double sum = 0;
        foreach (float v in x) sum += v;
        return sum / x.Length;
    }

    private static double StdOf(float[] x)
    {
        double mean = MeanOf(x), squares = 0;
        foreach (float v in x) squares += (v - mean) * (v - mean);
        return Math.Sqrt(squares / x.Length);
    }
}
