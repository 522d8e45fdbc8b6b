using GtaIlgpu.Backends;
using GtaIlgpu.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Gta;

/// <summary>
/// Device and host buffers for one (rows, T) batch shape: activations with gradients, the fused loss,
/// the input ids, and host arrays for targets, coefficients and log-probabilities. Built once per shape.
/// </summary>
public sealed class BatchWorkspace : IDisposable
{
    public BatchWorkspace(IBackend backend, ModelConfig config, int rows, int sequence, ActivationOptions? options = null)
    {
        Rows = rows;
        Sequence = sequence;
        Acts = new Activations(backend, config, rows, sequence, withGradients: true, options);
        Loss = new TokenLoss(backend, rows * sequence);
        Inputs = backend.Allocate<int>((long)rows * sequence);
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
    }

    private readonly int[] _headRows;

    public int Rows { get; }
    public int Sequence { get; }
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
        // The LM head only computes the counted positions: nothing reads the logits of the others.
        int count = 0;
        for (int i = 0; i < Counted.Length; i++)
            if (Counted[i]) _headRows[count++] = i;
        Acts.SetHeadRows(_headRows.AsSpan(0, count));
    }

    public void Dispose()
    {
        Acts.Dispose();
        Loss.Dispose();
        Inputs.Dispose();
    }
}

/// <summary>Workspaces by shape; sequence lengths are rounded up to multiples of 16 so few shapes exist.</summary>
public sealed class WorkspacePool(IBackend backend, ModelConfig config, ActivationOptions? options = null) : IDisposable
{
    private readonly Dictionary<(int, int), BatchWorkspace> _pool = [];

    public BatchWorkspace Get(int rows, int sequence)
    {
        int T = Math.Min(config.MaxSequence, (sequence + 15) / 16 * 16);
        if (sequence > config.MaxSequence) throw new ArgumentException($"a batch needs {sequence} positions, more than the model's {config.MaxSequence}");
        if (!_pool.TryGetValue((rows, T), out var workspace))
            _pool[(rows, T)] = workspace = new BatchWorkspace(backend, config, rows, T, options);
        return workspace;
    }

    public void Dispose()
    {
        foreach (var w in _pool.Values) w.Dispose();
        _pool.Clear();
    }
}
