using GtaIlgpu.Backends;
using GtaIlgpu.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Gta;

/// <summary>
/// Host and device buffers for one (rows, T) batch shape, built once per shape. The host arrays (inputs,
/// targets, mask, coefficients, log-probabilities, entropies) hold the whole batch; the device part
/// (activations with gradients, the fused loss, the input ids) holds one micro-batch of at most
/// <see cref="MicroRows"/> rows at a time (all rows unless a micro-batch size is given), so activations
/// scale with the micro-batch. <see cref="Load"/> puts a micro-batch on the device; its loss weights are
/// its slice of <see cref="Coefficients"/>. A last micro-batch with fewer rows is padded (pad tokens, no
/// targets): one device shape, at the cost of a forward over at most MicroRows − 1 empty rows per batch.
/// </summary>
public sealed class BatchWorkspace : IDisposable
{
    public BatchWorkspace(IBackend backend, ModelConfig config, int rows, int sequence, int microRows = 0, ActivationOptions? options = null)
    {
        if (rows <= 0 || microRows < 0) throw new ArgumentException($"a batch needs rows > 0 and a micro-batch ≥ 0, got {rows} and {microRows}");
        _backend = backend;
        Rows = rows;
        Sequence = sequence;
        MicroRows = microRows == 0 || microRows >= rows ? rows : microRows;
        int deviceTokens = MicroRows * sequence;
        Acts = new Activations(backend, config, MicroRows, sequence, withGradients: true, options);
        Loss = new TokenLoss(backend, deviceTokens);
        Inputs = backend.Allocate<int>(deviceTokens);
        HostInputs = new int[rows * sequence];
        HostTargets = new int[rows * sequence];
        Counted = new bool[rows * sequence];
        Coefficients = new float[rows * sequence];
        LogProbs = new float[rows * sequence];
        LogProbsOld = new float[rows * sequence];
        LogProbsRef = new float[rows * sequence];
        Entropies = new float[rows * sequence];
        EntropyScratch = new float[rows * sequence];
        _headRows = new int[rows * sequence];
        // One micro-batch is the whole batch: the host arrays are uploaded and downloaded as they are.
        bool whole = MicroRows == rows;
        _stageInputs = whole ? HostInputs : new int[deviceTokens];
        _stageTargets = whole ? HostTargets : new int[deviceTokens];
        _stageCoefficients = whole ? Coefficients : new float[deviceTokens];
        _stageLogProbs = whole ? [] : new float[deviceTokens];
        _stageEntropies = whole ? [] : new float[deviceTokens];
    }

    private readonly IBackend _backend;
    private readonly int[] _headRows;
    // A micro-batch as the device sees it (MicroRows rows, the tail padded); the host arrays themselves when whole.
    private readonly int[] _stageInputs, _stageTargets;
    private readonly float[] _stageCoefficients, _stageLogProbs, _stageEntropies;
    private int _padToken;
    // The micro-batch on the device (−1: none since the last Pack).
    private int _loaded = -1;

    public int Rows { get; }
    public int Sequence { get; }
    /// <summary>Rows per forward/backward: the device part's batch.</summary>
    public int MicroRows { get; }
    public int MicroBatches => (Rows + MicroRows - 1) / MicroRows;
    /// <summary>The counted positions of the whole batch (set by <see cref="Pack"/>).</summary>
    public int CountedTokens { get; private set; }
    public Activations Acts { get; }
    public TokenLoss Loss { get; }
    public DeviceBuffer<int> Inputs { get; }
    public int[] HostInputs { get; }
    public int[] HostTargets { get; }
    public bool[] Counted { get; }
    public float[] Coefficients { get; }
    public float[] LogProbs { get; }
    public float[] LogProbsOld { get; }
    public float[] LogProbsRef { get; }
    /// <summary>The policy's entropy per position at the sampling temperature (RL batches).</summary>
    public float[] Entropies { get; }
    /// <summary>Room to sort the counted entropies for --top-entropy-quantile without allocating.</summary>
    public float[] EntropyScratch { get; }

    /// <summary>The rows [First, First + Count) of micro-batch <paramref name="micro"/>.</summary>
    public (int First, int Count) MicroRange(int micro)
    {
        if (micro < 0 || micro >= MicroBatches) throw new ArgumentOutOfRangeException(nameof(micro), $"micro-batch {micro} of {MicroBatches}");
        int first = micro * MicroRows;
        return (first, Math.Min(MicroRows, Rows - first));
    }

    /// <summary>
    /// Packs rows of prompt + completion: position t predicts token t+1, and a completion token's
    /// position is counted when <paramref name="counted"/>(row, index in completion) says so. Rows
    /// past the data, and positions past a sequence, are padding with no target.
    /// </summary>
    public void Pack(IReadOnlyList<int[]> prompts, IReadOnlyList<int[]> completions, Func<int, int, bool> counted, int padToken)
    {
        if (prompts.Count != completions.Count || prompts.Count > Rows)
            throw new ArgumentException($"pack: {prompts.Count} prompts and {completions.Count} completions for a batch of {Rows} rows");
        int T = Sequence;
        Array.Fill(HostInputs, padToken);
        Array.Fill(HostTargets, -1);
        Array.Clear(Counted);
        for (int r = 0; r < prompts.Count; r++)
        {
            var p = prompts[r];
            var c = completions[r];
            int length = p.Length + c.Length;
            if (length - 1 > T) throw new ArgumentException($"pack: a sequence of {length} tokens does not fit a window of {T}");
            for (int t = 0; t < length - 1; t++) HostInputs[r * T + t] = t < p.Length ? p[t] : c[t - p.Length];
            for (int j = 0; j < c.Length; j++)
            {
                int position = p.Length + j - 1;
                if (position < 0 || !counted(r, j)) continue;
                HostTargets[r * T + position] = c[j];
                Counted[r * T + position] = true;
            }
        }
        _padToken = padToken;
        _loaded = -1;
        int count = 0;
        foreach (bool c in Counted) if (c) count++;
        CountedTokens = count;
        if (MicroRows == Rows) SetHeadRows(0, Rows * T);
    }

    /// <summary>
    /// The mean over the whole batch's counted targets (cross-entropy): every counted position weighs
    /// 1/<see cref="CountedTokens"/> in every micro-batch, as one whole-batch loss would weigh it.
    /// </summary>
    public void SetMeanWeights()
    {
        float weight = CountedTokens == 0 ? 0f : 1f / CountedTokens;
        for (int i = 0; i < Counted.Length; i++) Coefficients[i] = Counted[i] ? weight : 0f;
    }

    /// <summary>
    /// Puts micro-batch <paramref name="micro"/> on the device: its input ids, its targets with their slice of
    /// <see cref="Coefficients"/> as loss weights, and the LM head's rows. Nothing is uploaded when it is
    /// already there (one micro-batch: once per <see cref="Pack"/>).
    /// </summary>
    public void Load(int micro)
    {
        var (first, count) = MicroRange(micro);
        if (_loaded == micro) return;
        int T = Sequence, offset = first * T, n = count * T;
        if (MicroRows != Rows)
        {
            HostInputs.AsSpan(offset, n).CopyTo(_stageInputs);
            _stageInputs.AsSpan(n).Fill(_padToken);
            HostTargets.AsSpan(offset, n).CopyTo(_stageTargets);
            _stageTargets.AsSpan(n).Fill(-1);
            StageCoefficients(offset, n);
        }
        _backend.Upload(Inputs.View, _stageInputs);
        Loss.SetTargets(_stageTargets, _stageCoefficients);
        if (MicroRows != Rows) SetHeadRows(offset, n);
        _loaded = micro;
    }

    /// <summary>Uploads the loaded micro-batch's slice of <see cref="Coefficients"/> as its loss weights (the targets stay).</summary>
    public void UploadCoefficients(int micro)
    {
        var (first, count) = LoadedRange(micro);
        if (MicroRows != Rows) StageCoefficients(first * Sequence, count * Sequence);
        Loss.SetCoefficients(_stageCoefficients);
    }

    /// <summary>
    /// log p(target) (and, with a non-empty <paramref name="entropies"/>, the entropy) of the loaded micro-batch's
    /// positions at <see cref="TokenLoss.Temperature"/>, from the activations of its forward pass, into its
    /// positions of the whole-batch arrays.
    /// </summary>
    public void ReadLogProbs(int micro, Span<float> logProbs, Span<float> entropies = default)
    {
        var (first, count) = LoadedRange(micro);
        int offset = first * Sequence, n = count * Sequence;
        if (count == MicroRows)
        {
            Loss.ComputeLogProbs(Acts, logProbs.Slice(offset, n), entropies.IsEmpty ? default : entropies.Slice(offset, n));
            return;
        }
        Loss.ComputeLogProbs(Acts, _stageLogProbs, entropies.IsEmpty ? default : _stageEntropies);
        _stageLogProbs.AsSpan(0, n).CopyTo(logProbs.Slice(offset, n));
        if (!entropies.IsEmpty) _stageEntropies.AsSpan(0, n).CopyTo(entropies.Slice(offset, n));
    }

    private (int First, int Count) LoadedRange(int micro)
    {
        if (_loaded != micro) throw new InvalidOperationException($"micro-batch {micro} is not the one on the device ({_loaded}): Load it first");
        return MicroRange(micro);
    }

    private void StageCoefficients(int offset, int n)
    {
        Coefficients.AsSpan(offset, n).CopyTo(_stageCoefficients);
        _stageCoefficients.AsSpan(n).Clear();
    }

    /// <summary>The LM head only computes the counted positions of the micro-batch: nothing reads the logits of the others.</summary>
    private void SetHeadRows(int offset, int n)
    {
        int count = 0;
        for (int i = 0; i < n; i++)
            if (Counted[offset + i]) _headRows[count++] = i;
        Acts.SetHeadRows(_headRows.AsSpan(0, count));
    }

    public void Dispose()
    {
        Acts.Dispose();
        Loss.Dispose();
        Inputs.Dispose();
    }
}

/// <summary>
/// Workspaces by shape; sequence lengths are rounded up to multiples of 16 so few shapes exist. Each holds
/// micro-batches of at most <paramref name="microRows"/> rows on the device (0: whole batches), carved as
/// <paramref name="options"/> say (the model's adapters, recomputation).
/// </summary>
public sealed class WorkspacePool(IBackend backend, ModelConfig config, int microRows = 0, ActivationOptions? options = null) : IDisposable
{
    private readonly Dictionary<(int, int), BatchWorkspace> _pool = [];
    private readonly List<(int, int)> _recent = []; // least recently used first
    private long _budget;

    /// <summary>Device rows of a batch of `rows`: the micro-batch, or all of them.</summary>
    private int DeviceRows(int rows) => microRows == 0 || microRows >= rows ? rows : microRows;

    /// <summary>Floats of the activation pools the pool holds now (what the budget bounds).</summary>
    public long Floats => _pool.Keys.Sum(k => Activations.Floats(config, DeviceRows(k.Item1), k.Item2, true, options));

    /// <summary>
    /// The workspace for (rows, sequence rounded up to 16). Shapes are kept for reuse, but never more of them than
    /// one workspace at the model's full window takes (the memory plan's count): a shape that would pass that evicts
    /// the least recently used ones first, so memory stays what the plan says while the common shapes stay allocated.
    /// </summary>
    public BatchWorkspace Get(int rows, int sequence)
    {
        int T = Math.Min(config.MaxSequence, (sequence + 15) / 16 * 16);
        if (sequence > config.MaxSequence) throw new ArgumentException($"a batch needs {sequence} positions, more than the model's {config.MaxSequence}");
        var key = (rows, T);
        if (!_pool.TryGetValue(key, out var workspace))
        {
            _budget = Math.Max(_budget, Activations.Floats(config, DeviceRows(rows), config.MaxSequence, true, options));
            long needed = Activations.Floats(config, DeviceRows(rows), T, true, options);
            while (_recent.Count > 0 && Floats + needed > _budget)
            {
                _pool.Remove(_recent[0], out var evicted);
                evicted!.Dispose();
                _recent.RemoveAt(0);
            }
            _pool[key] = workspace = new BatchWorkspace(backend, config, rows, T, microRows, options);
        }
        _recent.Remove(key);
        _recent.Add(key);
        return workspace;
    }

    public void Dispose()
    {
        foreach (var w in _pool.Values) w.Dispose();
        _pool.Clear();
        _recent.Clear();
    }
}
