using GtaIlgpu.Backends;
using GtaIlgpu.Model;

namespace GtaIlgpu.Training;

/// <summary>
/// Masked next-token cross-entropy through the fused log-likelihood kernel: loss = −Σ c_t·log p(y_t)
/// with c_t = mask_t / (number of unmasked targets). The kernel writes dlogits in place, so after
/// <see cref="Compute"/> the model's backward pass can run directly. Buffers are allocated once.
/// </summary>
public sealed class TokenLoss : IDisposable
{
    private readonly IBackend _backend;
    private readonly DeviceBuffer<int> _targets;
    private readonly DeviceBuffer<float> _coefficients;
    private readonly float[] _hostCoefficients;
    private readonly float[] _hostLogProbs;

    public TokenLoss(IBackend backend, int tokenCount)
    {
        _backend = backend;
        TokenCount = tokenCount;
        _targets = backend.Allocate<int>(tokenCount);
        _coefficients = backend.Allocate<float>(tokenCount);
        _hostCoefficients = new float[tokenCount];
        _hostLogProbs = new float[tokenCount];
    }

    public int TokenCount { get; }
    public BufferView<int> Targets => _targets.View;

    /// <summary>
    /// The temperature τ the log-probabilities are taken at (logits/τ) and the gradient differentiates
    /// through: the GRPO ratio and KL use the sampling temperature, as the rollouts were drawn at it.
    /// 1 for cross-entropy.
    /// </summary>
    public float Temperature { get; set; } = 1f;

    /// <summary>log p(target) per position from the last <see cref="Compute"/> (masked positions hold no meaning).</summary>
    public ReadOnlySpan<float> LogProbs => _hostLogProbs;

    /// <summary>Sets the targets (a negative target masks its position) and their loss weights.</summary>
    public void SetTargets(ReadOnlySpan<int> targets)
    {
        if (targets.Length != TokenCount) throw new ArgumentException($"expected {TokenCount} targets, got {targets.Length}");
        int valid = 0;
        foreach (int t in targets) if (t >= 0) valid++;
        float weight = valid == 0 ? 0f : 1f / valid;
        for (int i = 0; i < targets.Length; i++) _hostCoefficients[i] = targets[i] >= 0 ? weight : 0f;
        _backend.Upload(_targets.View, targets);
        _backend.Upload(_coefficients.View, _hostCoefficients);
    }

    /// <summary>Sets targets and arbitrary per-position loss weights (the GRPO surrogate's c_t).</summary>
    public void SetTargets(ReadOnlySpan<int> targets, ReadOnlySpan<float> coefficients)
    {
        if (targets.Length != TokenCount || coefficients.Length != TokenCount)
            throw new ArgumentException($"expected {TokenCount} targets and coefficients, got {targets.Length} and {coefficients.Length}");
        coefficients.CopyTo(_hostCoefficients);
        _backend.Upload(_targets.View, targets);
        _backend.Upload(_coefficients.View, _hostCoefficients);
    }

    /// <summary>Replaces only the per-position weights; the targets stay.</summary>
    public void SetCoefficients(ReadOnlySpan<float> coefficients)
    {
        if (coefficients.Length != TokenCount) throw new ArgumentException($"expected {TokenCount} coefficients, got {coefficients.Length}");
        coefficients.CopyTo(_hostCoefficients);
        _backend.Upload(_coefficients.View, _hostCoefficients);
    }

    /// <summary>log p(target) per position (0 where masked) at <see cref="Temperature"/>, without touching the logits.</summary>
    public void ComputeLogProbs(Activations acts, Span<float> destination) => ComputeLogProbs(acts, destination, default);

    /// <summary>
    /// As above, and with a non-empty <paramref name="entropies"/> the policy's entropy per position (0 where
    /// masked), from the same pass over the logits. The device buffer for it is allocated on first use.
    /// </summary>
    public void ComputeLogProbs(Activations acts, Span<float> destination, Span<float> entropies)
    {
        if (acts.TokenCount != TokenCount) throw new ArgumentException($"loss set up for {TokenCount} tokens, activations hold {acts.TokenCount}");
        if (entropies.IsEmpty)
        {
            _backend.Ops.TokenLogLikelihood(acts.LogProbs, default, acts.Logits, _targets.View, default, Temperature, TokenCount, acts.Config.VocabSize);
            _backend.Download(acts.LogProbs, destination);
            return;
        }
        _entropies ??= _backend.Allocate<float>(TokenCount);
        _backend.Ops.TokenLogLikelihood(acts.LogProbs, _entropies.View, acts.Logits, _targets.View, default, Temperature, TokenCount, acts.Config.VocabSize);
        _backend.Download(acts.LogProbs, destination);
        _backend.Download(_entropies.View, entropies);
    }

    private DeviceBuffer<float>? _entropies;

    /// <summary>
    /// Mean negative log-likelihood of the targets. With <paramref name="withGradient"/> the logits are
    /// replaced by dloss/dlogits.
    /// </summary>
    public float Compute(Activations acts, bool withGradient)
    {
        if (acts.TokenCount != TokenCount) throw new ArgumentException($"loss set up for {TokenCount} tokens, activations hold {acts.TokenCount}");
        _backend.Ops.TokenLogLikelihood(acts.LogProbs, default, acts.Logits, _targets.View,
            withGradient ? _coefficients.View : default, Temperature, TokenCount, acts.Config.VocabSize);
        _backend.Download(acts.LogProbs, _hostLogProbs);
        double loss = 0;
        for (int i = 0; i < TokenCount; i++) loss -= (double)_hostCoefficients[i] * _hostLogProbs[i];
        return (float)loss;
    }

    public void Dispose()
    {
        _targets.Dispose();
        _coefficients.Dispose();
        _entropies?.Dispose();
    }
}
