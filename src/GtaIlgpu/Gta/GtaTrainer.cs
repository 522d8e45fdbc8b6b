using System.Diagnostics;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;
using GtaIlgpu.Training;

namespace GtaIlgpu.Gta;

/// <summary>One line of metrics.jsonl.</summary>
public sealed record GtaStepMetrics(
    int Step, float FormatReward, float AccuracyReward, float RewardStd, float ZeroSpreadFraction, float Kl,
    float ClipFraction, float SftLoss, float RlLoss, float CosSftRl, bool GateDroppedSft, float GradNorm,
    float LearningRate, double TokensPerSecond, float MeanCompletionLength, double Seconds);

/// <summary>
/// One training stage of GTA (or of the SFT / GRPO baselines) on one model. A step reads one way:
/// prompts → rollouts (KV-cache sampling) → rewards → group-relative advantages → μ updates, each with
/// the RL loss on think+answer tokens (PPO-clipped ratio, k3 KL to the frozen reference) and the SFT
/// cross-entropy on the teacher-forced guess, combined by the gradient constraint, clipped, AdamW.
/// </summary>
public sealed class GtaTrainer : IDisposable
{
    private readonly Gpt _policy;
    private readonly Gpt? _reference;
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

    public GtaTrainer(Gpt policy, PromptFormat format, IReadOnlyList<LabeledExample> train, GtaSettings settings)
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
        _rlPool = new WorkspacePool(backend, policy.Config);
        _sftPool = new WorkspacePool(backend, policy.Config);
        _rng = new Rng(settings.Seed);
        _order = Enumerable.Range(0, train.Count).ToArray();
        int sftRows = Math.Max(settings.PromptsPerStep, settings.SftPrompts);
        _sftPromptRows = new int[sftRows][];
        _sftTargetRows = new int[sftRows][];
        Shuffle();
        bool usesRl = settings.Method != TrainingMethod.Sft;
        if (usesRl)
        {
            _generator = new Generator(policy, settings.PromptsPerStep * settings.Generations, policy.Config.MaxSequence);
            if (settings.Beta != 0)
            {
                // The frozen reference is the policy as the stage starts (the shared base).
                _reference = new Gpt(backend, policy.Config);
                backend.Ops.Copy(_reference.Parameters.View, policy.Parameters.View);
            }
            if (settings.Method == TrainingMethod.Gta) _rlGradient = backend.Allocate<float>(policy.Layout.TotalLength);
        }
    }

    public GtaSettings Settings { get; }
    public int StepsDone { get; private set; }
    public Gpt Policy => _policy;
    public AdamWOptimizer Optimizer => _optimizer;

    /// <summary>The frozen KL reference (the policy as the stage started); null when β = 0 or for the SFT baseline.</summary>
    public Gpt? Reference => _reference;

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
        float formatMean = 0, accuracyMean = 0, rewardStd = 0, zeroSpread = 0, completionLength = 0;
        var advantages = new float[P * G];
        if (_generator is not null)
        {
            var prompts = new int[P * G][];
            for (int i = 0; i < P * G; i++) prompts[i] = PromptIds(examples[i / G]);
            var completions = _generator.Generate(prompts, s.MaxCompletionTokens,
                new SamplingSettings(s.Temperature, s.TopK, s.TopP), _rng, _format.EndOfText);
            var rewards = new float[P * G];
            for (int i = 0; i < P * G; i++)
            {
                var reward = CompletionRewards.Score(_format.DecodeCompletion(completions[i]), _train[examples[i / G]].Label, s.Template);
                rewards[i] = reward.Total;
                formatMean += reward.Format;
                accuracyMean += reward.Accuracy;
                completionLength += completions[i].Length;
                tokens += completions[i].Length;
            }
            formatMean /= P * G; accuracyMean /= P * G; completionLength /= P * G;
            var spread = Advantages.GroupRelative(rewards, G, advantages, s.ScaleRewardsByStd);
            rewardStd = (float)spread.MeanGroupStd;
            zeroSpread = (float)spread.ZeroSpreadFraction;

            int longest = 0;
            for (int i = 0; i < P * G; i++) longest = Math.Max(longest, prompts[i].Length + completions[i].Length);
            rl = _rlPool.Get(P * G, Math.Max(1, longest - 1));
            bool maskGuess = s.Method == TrainingMethod.Gta && !s.GuessByRl;
            var guessSpans = completions.Select(c => maskGuess ? _format.GuessSpan(c) : (0, 0)).ToArray();
            rl.Pack(prompts, completions, (r, j) => CountsForRl(j, guessSpans[r]), _format.EndOfText);
            Upload(rl);
            _policy.Forward(rl.Acts, rl.Inputs.View);
            rl.Loss.ComputeLogProbs(rl.Acts, rl.LogProbsOld);
            if (_reference is not null)
            {
                _reference.Forward(rl.Acts, rl.Inputs.View);
                rl.Loss.ComputeLogProbs(rl.Acts, rl.LogProbsRef);
            }
        }

        // ---- SFT batch: the teacher-forced guess (gta) or answer (sft baseline) -------------------
        bool usesSft = s.Method == TrainingMethod.Sft || (s.Method == TrainingMethod.Gta && !s.GuessByRl);
        BatchWorkspace? sft = usesSft ? PackSftBatch(examples) : null;

        // ---- μ policy updates ---------------------------------------------------------------------
        float sftLoss = 0, rlLoss = 0, kl = 0, clipFraction = 0, cos = 0, norm = 0;
        bool dropped = false;
        float lr = _schedule.At(StepsDone);
        for (int k = 0; k < s.Mu; k++)
        {
            if (rl is not null)
            {
                _policy.Forward(rl.Acts, rl.Inputs.View);
                rl.Loss.ComputeLogProbs(rl.Acts, rl.LogProbs);
                var stats = GrpoLoss.Coefficients(rl.Rows, rl.Sequence, rl.Counted, rl.LogProbs, rl.LogProbsOld, rl.LogProbsRef,
                    advantages, s.ClipEpsilonLow, s.ClipEpsilonHigh, _reference is null ? 0f : s.Beta, s.Aggregation, rl.Coefficients);
                if (!float.IsFinite(stats.Loss)) throw new NonFiniteException($"RL loss is {stats.Loss} at step {StepsDone + 1}");
                rlLoss = stats.Loss; kl = stats.MeanKl; clipFraction = stats.ClipFraction;
                rl.Loss.SetCoefficients(rl.Coefficients);
                rl.Loss.Compute(rl.Acts, withGradient: true);
                _policy.ZeroGradients();
                _policy.Backward(rl.Acts, rl.Inputs.View);
                tokens += stats.Tokens;
                if (_rlGradient is not null) ops.Copy(_rlGradient.View, _policy.Gradients.View);
            }
            if (sft is not null)
            {
                if (k > 0 && s.FreshSftPerUpdate) sft = PackSftBatch([]);
                _policy.Forward(sft.Acts, sft.Inputs.View);
                sftLoss = sft.Loss.Compute(sft.Acts, withGradient: true);
                if (!float.IsFinite(sftLoss)) throw new NonFiniteException($"SFT loss is {sftLoss} at step {StepsDone + 1}");
                _policy.ZeroGradients();
                _policy.Backward(sft.Acts, sft.Inputs.View);
            }
            if (_rlGradient is not null && sft is not null)
            {
                var result = GradientConstraint.Apply(ops, _policy.Gradients.View, _rlGradient.View, s.Constraint, s.Lambda1, s.Lambda2);
                cos = result.Cosine;
                dropped |= result.SftDropped;
            }
            norm = _optimizer.Step(lr);
        }
        _policy.Backend.Synchronize();
        StepsDone++;
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new GtaStepMetrics(StepsDone, formatMean, accuracyMean, rewardStd, zeroSpread, kl, clipFraction, sftLoss, rlLoss,
            cos, dropped, norm, lr, tokens / seconds, completionLength, seconds);
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
        Upload(sft);
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

    private void Upload(BatchWorkspace w)
    {
        _policy.Backend.Upload(w.Inputs.View, w.HostInputs);
        w.Loss.SetTargets(w.HostTargets);
    }

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
