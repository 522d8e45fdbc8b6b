using GtaIlgpu.Backends;
using GtaIlgpu.Model;

namespace GtaIlgpu.Training;

public sealed record AdamWSettings(float Beta1 = 0.9f, float Beta2 = 0.95f, float Eps = 1e-8f, float WeightDecay = 0.1f, float ClipNorm = 1.0f);

/// <summary>Raised when a loss or gradient stops being finite; names the step so the run can stop cleanly.</summary>
public sealed class NonFiniteException(string message) : Exception(message);

/// <summary>
/// AdamW over the model's trainable flat buffer (every weight, or a LoRA model's adapters): global-norm
/// clipping, then two flat launches, one over the weight-decayed region and one over biases and norm
/// parameters. Moments are flat buffers with the trainable region's layout: frozen weights get none.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    private readonly Transformer _model;
    private readonly IOps _ops;

    public AdamWOptimizer(Transformer model, AdamWSettings settings)
    {
        _model = model;
        _ops = model.Backend.Ops;
        Settings = settings;
        M = model.Backend.Allocate<float>(model.TrainableLength);
        V = model.Backend.Allocate<float>(model.TrainableLength);
    }

    public AdamWSettings Settings { get; }
    public DeviceBuffer<float> M { get; }
    public DeviceBuffer<float> V { get; }

    /// <summary>Number of updates applied so far.</summary>
    public int StepCount { get; set; }

    /// <summary>Clips by global norm and applies one update. Returns the gradient norm before clipping.</summary>
    public float Step(float learningRate)
    {
        float norm = MathF.Sqrt(_ops.SumOfSquares(_model.TrainableGradients));
        if (!float.IsFinite(norm))
            throw new NonFiniteException($"gradient norm is {norm} at optimizer step {StepCount + 1}");
        float scale = Settings.ClipNorm > 0 && norm > Settings.ClipNorm ? Settings.ClipNorm / norm : 1f;
        StepCount++;
        long decay = _model.TrainableDecayLength, total = _model.TrainableLength;
        Update(0, decay, learningRate, Settings.WeightDecay, scale);
        Update(decay, total - decay, learningRate, 0f, scale);
        return norm;
    }

    private void Update(long offset, long length, float lr, float weightDecay, float scale)
    {
        if (length == 0) return;
        _ops.AdamW(_model.TrainableParameters.Slice(offset, length), _model.TrainableGradients.Slice(offset, length),
            M.Slice(offset, length), V.Slice(offset, length), lr, Settings.Beta1, Settings.Beta2, Settings.Eps,
            weightDecay, StepCount, scale);
    }

    public void Dispose()
    {
        M.Dispose();
        V.Dispose();
    }
}

/// <summary>Linear warmup, then cosine decay to a floor.</summary>
public sealed record LearningRateSchedule(float Peak, int WarmupSteps, int TotalSteps, float FloorFraction = 0.1f)
{
    public float At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (TotalSteps <= WarmupSteps) return Peak;
        double progress = Math.Clamp((double)(step - WarmupSteps) / (TotalSteps - WarmupSteps), 0, 1);
        double floor = Peak * FloorFraction;
        return (float)(floor + (Peak - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
