using GtaIlgpu.Backends;
using GtaIlgpu.Common;

namespace GtaIlgpu.Model;

/// <summary>Temperature ≤ 0 decodes greedily; TopK ≤ 0 and TopP ≥ 1 switch those filters off.</summary>
public sealed record SamplingSettings(float Temperature = 1f, int TopK = 0, float TopP = 1f);

/// <summary>
/// Batched incremental generation: one prefill forward over the prompts (right-padded) fills the KV
/// cache, then each step feeds one token per sequence through <see cref="Transformer.DecodeStep"/> and draws
/// the next with the sampling op. The sampled tokens stay on the device as the next step's input; the
/// uniforms come from a seeded <see cref="Rng"/>, so a seed reproduces the completions.
/// Buffers are sized once for (batch, maxSequence).
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly Transformer _model;
    private readonly KvCache _cache;
    private readonly Activations _step;
    private readonly DeviceBuffer<int> _tokens;
    private readonly DeviceBuffer<int> _positions;
    private readonly DeviceBuffer<float> _uniforms;
    private readonly int[] _hostTokens;
    private readonly int[] _hostPositions;
    private readonly float[] _hostUniforms;

    /// <param name="prefillRows">
    /// Sequences per prefill forward (0: all of them at once). The prefill pool holds one block's
    /// activations and no logits, so its memory is prefillRows × window × (layers × C + one block).
    /// </param>
    public Generator(Transformer model, int batch, int maxSequence, int prefillRows = 0)
    {
        if (prefillRows < 0) throw new ArgumentOutOfRangeException(nameof(prefillRows), "prefill rows must be ≥ 0");
        _model = model;
        Batch = batch;
        MaxSequence = maxSequence;
        PrefillRows = PrefillRowsFor(batch, prefillRows);
        _cache = new KvCache(model.Backend, model.Config, CacheRows(batch, prefillRows), maxSequence);
        _step = new Activations(model, batch, 1, withGradients: false);
        _tokens = model.Backend.Allocate<int>(batch);
        _positions = model.Backend.Allocate<int>(batch);
        _uniforms = model.Backend.Allocate<float>(batch);
        _hostTokens = new int[batch];
        _hostPositions = new int[batch];
        _hostUniforms = new float[batch];
    }

    public int Batch { get; }
    public int MaxSequence { get; }
    public int PrefillRows { get; }

    public static int PrefillRowsFor(int batch, int prefillRows) => prefillRows == 0 || prefillRows > batch ? batch : prefillRows;

    /// <summary>Sequences the KV cache holds: the batch rounded up to whole prefill chunks, so the last chunk's padding rows have cache rows too.</summary>
    public static int CacheRows(int batch, int prefillRows)
    {
        int chunk = PrefillRowsFor(batch, prefillRows);
        return (batch + chunk - 1) / chunk * chunk;
    }

    /// <summary>How a prefill pool is carved: the model's adapters, one block's room, no logits.</summary>
    public static ActivationOptions PrefillOptions(ActivationOptions model) => model with { Recompute = true, Logits = false };

    /// <summary>
    /// Generates up to maxNewTokens per prompt (fewer if the model's window ends). A sequence stops
    /// after emitting stopToken (included in its completion). Returns the completions only.
    /// </summary>
    public int[][] Generate(IReadOnlyList<int[]> prompts, int maxNewTokens, SamplingSettings sampling, Rng rng, int stopToken = -1)
    {
        int B = prompts.Count;
        if (B == 0 || B > Batch) throw new ArgumentException($"generate: {B} prompts for a generator of batch {Batch}");
        int longest = 0;
        foreach (var p in prompts)
        {
            if (p.Length == 0) throw new ArgumentException("generate: a prompt is empty");
            foreach (int t in p)
                if (t < 0 || t >= _model.Config.VocabSize) throw new ArgumentException($"generate: token {t} is outside the vocabulary of {_model.Config.VocabSize}");
            longest = Math.Max(longest, p.Length);
        }
        int budget = Math.Min(maxNewTokens, MaxSequence - longest);
        if (budget <= 0) throw new ArgumentException($"generate: a prompt of {longest} tokens leaves no room in a window of {MaxSequence}");

        var ops = _model.Backend.Ops;
        // Prefill every prompt token but the last; the last is the first decode step's input. Padding
        // beyond a prompt lands in cache rows that decoding overwrites before any query can reach them.
        if (longest > 1)
        {
            var (acts, tokens, hostTokens) = PrefillPool(longest - 1);
            int T = acts.Sequence, rows = acts.Batch;
            // A few sequences at a time into their rows of the cache; the last chunk is padded with empty rows,
            // which land in cache rows no decode step reads.
            for (int first = 0; first < B; first += rows)
            {
                int count = Math.Min(rows, B - first);
                Array.Clear(hostTokens);
                for (int b = 0; b < count; b++) Array.Copy(prompts[first + b], 0, hostTokens, b * T, prompts[first + b].Length - 1);
                _model.Backend.Upload(tokens.View, hostTokens);
                _model.Forward(acts, tokens.View, _cache.Rows(first, rows));
            }
        }

        // Rows past the last prompt decode a dummy token at position 0 so every launch has the pool's batch.
        var completions = new List<int>[B];
        var done = new bool[B];
        Array.Clear(_hostTokens);
        Array.Clear(_hostPositions);
        for (int b = 0; b < B; b++)
        {
            completions[b] = [];
            _hostTokens[b] = prompts[b][^1];
            _hostPositions[b] = prompts[b].Length - 1;
        }
        _model.Backend.Upload(_tokens.View, _hostTokens);
        int remaining = B;
        for (int step = 0; step < budget && remaining > 0; step++)
        {
            _model.Backend.Upload(_positions.View, _hostPositions);
            for (int b = 0; b < Batch; b++) _hostUniforms[b] = b < B ? rng.NextFloat() : 0f;
            _model.Backend.Upload(_uniforms.View, _hostUniforms);
            _model.DecodeStep(_step, _cache, _tokens.View, _positions.View);
            ops.Sample(_tokens.View, _step.Logits, _uniforms.View, sampling.Temperature, sampling.TopK, sampling.TopP, Batch, _model.Config.VocabSize);
            _model.Backend.Download(_tokens.View, _hostTokens);
            for (int b = 0; b < B; b++)
            {
                _hostPositions[b]++;
                if (done[b]) continue;
                completions[b].Add(_hostTokens[b]);
                if (_hostTokens[b] == stopToken) { done[b] = true; remaining--; }
            }
        }
        return completions.Select(c => c.ToArray()).ToArray();
    }

    /// <summary>
    /// A prefill activation pool for prompts of up to `length` tokens. Lengths are rounded up to a
    /// multiple of 16 so a run with varied prompts allocates a handful of pools once, not one per call.
    /// </summary>
    private (Activations Acts, DeviceBuffer<int> Tokens, int[] HostTokens) PrefillPool(int length)
    {
        int T = Math.Min(MaxSequence, (length + 15) / 16 * 16);
        if (!_prefill.TryGetValue(T, out var pool))
        {
            pool = (new Activations(_model.Backend, _model.Config, PrefillRows, T, withGradients: false, PrefillOptions(_model.ActivationOptions)),
                _model.Backend.Allocate<int>((long)PrefillRows * T), new int[PrefillRows * T]);
            pool.Acts.SetHeadRows([]); // prefill only fills the cache: the first decode step makes the first logits
            _prefill[T] = pool;
        }
        return pool;
    }

    private readonly Dictionary<int, (Activations Acts, DeviceBuffer<int> Tokens, int[] HostTokens)> _prefill = [];

    public void Dispose()
    {
        foreach (var pool in _prefill.Values)
        {
            pool.Acts.Dispose();
            pool.Tokens.Dispose();
        }
        _cache.Dispose();
        _step.Dispose();
        _tokens.Dispose();
        _positions.Dispose();
        _uniforms.Dispose();
    }
}
