using System.Diagnostics;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;

namespace GtaIlgpu.Training;

public sealed record PretrainSettings
{
    public int Batch { get; init; } = 8;
    public int Sequence { get; init; } = 128;
    public int Steps { get; init; } = 300;
    public float LearningRate { get; init; } = 1e-3f;
    public int WarmupSteps { get; init; } = 20;
    public ulong Seed { get; init; } = 1337;
    public AdamWSettings Optimizer { get; init; } = new();
}

/// <summary>What one training step measured.</summary>
public readonly record struct StepReport(int Step, float Loss, float GradNorm, float LearningRate, double Seconds, int Tokens)
{
    public double TokensPerSecond => Tokens / Seconds;
}

/// <summary>
/// Language-model training on one token stream: each step draws B random windows of T+1 tokens,
/// runs forward, the fused loss, backward and AdamW. Every buffer is allocated in the constructor, so
/// a step allocates nothing (on the CPU backend) beyond what the backend itself does.
/// </summary>
public sealed class LanguageModelTrainer : IDisposable
{
    private readonly Transformer _model;
    private readonly int[] _stream;
    private readonly Activations _acts;
    private readonly TokenLoss _loss;
    private readonly AdamWOptimizer _optimizer;
    private readonly DeviceBuffer<int> _inputs;
    private readonly int[] _hostInputs;
    private readonly int[] _hostTargets;
    private Rng _rng;
    private readonly LearningRateSchedule _schedule;

    public LanguageModelTrainer(Transformer model, int[] tokenStream, PretrainSettings settings)
    {
        Settings = settings;
        int B = settings.Batch, T = settings.Sequence;
        if (B <= 0 || T <= 0 || settings.Steps <= 0) throw new ArgumentException("batch, sequence and steps must be positive");
        if (T > model.Config.MaxSequence) throw new ArgumentException($"sequence {T} exceeds the model's maximum {model.Config.MaxSequence}");
        if (tokenStream.Length < T + 1) throw new ArgumentException($"the text has {tokenStream.Length} tokens; a window of sequence {T} needs at least {T + 1}");
        foreach (int t in tokenStream)
            if (t < 0 || t >= model.Config.VocabSize) throw new ArgumentException($"token id {t} is outside the model's vocabulary of {model.Config.VocabSize}");
        _model = model;
        _stream = tokenStream;
        _acts = new Activations(model, B, T, withGradients: true);
        _loss = new TokenLoss(model.Backend, B * T);
        _optimizer = new AdamWOptimizer(model, settings.Optimizer);
        _inputs = model.Backend.Allocate<int>(B * T);
        _hostInputs = new int[B * T];
        _hostTargets = new int[B * T];
        _rng = new Rng(settings.Seed);
        _schedule = new LearningRateSchedule(settings.LearningRate, settings.WarmupSteps, settings.Steps);
    }

    public PretrainSettings Settings { get; }
    public int StepsDone { get; private set; }
    public AdamWOptimizer Optimizer => _optimizer;

    /// <summary>The data-order generator's state: with the step count, the weights and AdamW's moments, all a resume needs.</summary>
    public ulong[] RngState => _rng.State;

    /// <summary>Continues from a checkpoint's step count and generator state (weights and moments are restored separately).</summary>
    public void RestoreProgress(int stepsDone, ulong[] rngState)
    {
        if (stepsDone < 0) throw new ArgumentOutOfRangeException(nameof(stepsDone));
        StepsDone = stepsDone;
        _rng = Rng.FromState(rngState);
    }

    public StepReport Step()
    {
        long start = Stopwatch.GetTimestamp();
        int B = Settings.Batch, T = Settings.Sequence;
        for (int b = 0; b < B; b++)
        {
            int offset = _rng.NextInt(_stream.Length - T);
            Array.Copy(_stream, offset, _hostInputs, b * T, T);
            Array.Copy(_stream, offset + 1, _hostTargets, b * T, T);
        }
        _model.Backend.Upload(_inputs.View, _hostInputs);
        _loss.SetTargets(_hostTargets);

        _model.Forward(_acts, _inputs.View);
        float loss = _loss.Compute(_acts, withGradient: true);
        if (!float.IsFinite(loss)) throw new NonFiniteException($"loss is {loss} at step {StepsDone + 1}");
        _model.ZeroGradients();
        _model.Backward(_acts, _inputs.View);
        float lr = _schedule.At(StepsDone);
        float norm = _optimizer.Step(lr);
        _model.Backend.Synchronize();
        StepsDone++;
        return new StepReport(StepsDone, loss, norm, lr, Stopwatch.GetElapsedTime(start).TotalSeconds, B * T);
    }

    /// <summary>Mean loss over fixed windows of the given stream, without gradients (for validation).</summary>
    public float Evaluate(int[] stream, int windows)
    {
        int B = Settings.Batch, T = Settings.Sequence;
        if (stream.Length < T + 1) throw new ArgumentException($"evaluation text has {stream.Length} tokens, fewer than a window of {T + 1}");
        double total = 0;
        int batches = Math.Max(1, windows / B);
        int stride = Math.Max(1, (stream.Length - T - 1) / Math.Max(1, batches * B));
        int index = 0;
        for (int batch = 0; batch < batches; batch++)
        {
            for (int b = 0; b < B; b++, index++)
            {
                int offset = Math.Min(index * stride, stream.Length - T - 1);
                Array.Copy(stream, offset, _hostInputs, b * T, T);
                Array.Copy(stream, offset + 1, _hostTargets, b * T, T);
            }
            _model.Backend.Upload(_inputs.View, _hostInputs);
            _loss.SetTargets(_hostTargets);
            _model.Forward(_acts, _inputs.View);
            total += _loss.Compute(_acts, withGradient: false);
        }
        return (float)(total / batches);
    }

    public void Dispose()
    {
        _acts.Dispose();
        _loss.Dispose();
        _optimizer.Dispose();
        _inputs.Dispose();
    }
}
