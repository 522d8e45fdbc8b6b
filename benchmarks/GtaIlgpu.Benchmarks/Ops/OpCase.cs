namespace GtaIlgpu.Benchmarks.Ops;

/// <summary>Every op family of IOps, forward and backward, plus the yardsticks measured beside them.</summary>
public enum OpKind
{
    Copy,
    EncoderForward, EncoderBackward,
    LayerNormForward, LayerNormBackward,
    MatmulForward, MatmulBackward, CublasForward, CublasBackward,
    AttentionForward, AttentionBackward, KvCacheStore, AttentionDecode,
    GeluForward, GeluBackward, Add, Accumulate,
    TokenLogLikelihood, TokenLogLikelihoodWithGradient,
    SampleGreedy, SampleTopKTopP,
    AdamW, SumOfSquares, Dot, LinearCombination,
}

/// <summary>
/// The shape an op suite runs at: batch, sequence, channels, heads, vocabulary, and the flat length
/// used by AdamW and the reductions (the parameter count they sweep over).
/// </summary>
public sealed record OpShape(string Name, int B, int T, int C, int NH, int V, long Flat)
{
    public int N => B * T;

    /// <summary>A 4-layer, 256-channel model (the `gta pretrain` default), vocabulary 8192.</summary>
    public static OpShape Tiny => new("tiny", 8, 128, 256, 4, 8192, 4L * 12 * 256 * 256);

    /// <summary>One GPT-2-124M layer at CPU scale: T 256, B 2; AdamW over one block's parameters.</summary>
    public static OpShape Gpt2LayerCpu => new("gpt2-layer-T256-B2", 2, 256, 768, 12, 50257, 12L * 768 * 768);

    /// <summary>One GPT-2-124M layer at GPU scale: T 1024, B 4; AdamW over all 124M parameters.</summary>
    public static OpShape Gpt2LayerGpu => new("gpt2-layer-T1024-B4", 4, 1024, 768, 12, 50257, 124_439_808);

    /// <summary>Tiny enough for ILGPU's CPU emulator, whose timings mean nothing (smoke only).</summary>
    public static OpShape Emulator => new("emulator-micro", 1, 16, 32, 2, 64, 4096);

    /// <summary>Shapes named in $GTA_BENCH_SHAPES (comma-separated prefixes, e.g. "tiny") or all of them.</summary>
    public static IEnumerable<OpShape> Selected(params OpShape[] shapes)
    {
        var wanted = Environment.GetEnvironmentVariable("GTA_BENCH_SHAPES")?
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return wanted is null or { Length: 0 } ? shapes
            : shapes.Where(s => wanted.Any(w => s.Name.StartsWith(w, StringComparison.OrdinalIgnoreCase)));
    }
}

/// <summary>
/// One benchmark row: an op at a shape, with the work it does (flops for matmul and attention, bytes
/// read + written for the rest) and the yardstick row it is read against.
/// </summary>
public sealed record OpCase(OpKind Op, OpShape Shape, string Detail, int M, int K, int OC, long Length)
    : IWorkCount, IYardstickCase, IComparable<OpCase>, IComparable
{
    public string Key => $"{Shape.Name} {Op}{(Detail.Length > 0 ? " " + Detail : "")}";
    public override string ToString() => Key;

    public bool IsComputeBound => Op is OpKind.MatmulForward or OpKind.MatmulBackward or OpKind.CublasForward
        or OpKind.CublasBackward or OpKind.AttentionForward or OpKind.AttentionBackward;

    /// <summary>Matmul: 2·M·K·OC forward, twice that backward (dinput and dweight). Causal attention: the
    /// lower triangle of QKᵀ and of att·V, T(T+1)/2 dot products of hs each per head, twice that backward.</summary>
    public double? Flops => IsComputeBound ? Op switch
    {
        OpKind.MatmulForward or OpKind.CublasForward => 2.0 * M * K * OC,
        OpKind.MatmulBackward or OpKind.CublasBackward => 4.0 * M * K * OC,
        OpKind.AttentionForward => 2.0 * Shape.B * Shape.T * (Shape.T + 1.0) * Shape.C,
        OpKind.AttentionBackward => 4.0 * Shape.B * Shape.T * (Shape.T + 1.0) * Shape.C,
        _ => throw new InvalidOperationException($"no flop count for {Op}"),
    } : null;

    /// <summary>Logical traffic in bytes (each tensor read or written once), as a memory-bound kernel would ideally move it.</summary>
    public double? Bytes
    {
        get
        {
            if (IsComputeBound) return null;
            double n = Shape.N, c = Shape.C, v = Shape.V, len = Length;
            return 4 * Op switch
            {
                OpKind.Copy => 2 * len,
                OpKind.EncoderForward => 3 * n * c + n,                    // wte row, wpe row, output; tokens
                OpKind.EncoderBackward => 5 * n * c + n,                   // doutput; read+write dwte and dwpe rows
                OpKind.LayerNormForward => 2 * n * c + 2 * n + 2 * c,      // input, output, mean, rstd, weight, bias
                OpKind.LayerNormBackward => 4 * n * c + 2 * n + 5 * c,     // doutput, input, dinput (+=), stats, weight, dweight/dbias (+=)
                OpKind.KvCacheStore => 4 * n * c,                          // k and v read, then written
                OpKind.AttentionDecode => Shape.B * (Shape.T * 2 * c + 5 * c), // the whole cache row range, q, k, v, output
                OpKind.GeluForward => 2 * len,
                OpKind.GeluBackward => 4 * len,                            // input, doutput, dinput read and written
                OpKind.Add or OpKind.Accumulate or OpKind.LinearCombination => 3 * len,
                OpKind.TokenLogLikelihood => n * v + 3 * n,
                OpKind.TokenLogLikelihoodWithGradient => 2 * n * v + 3 * n, // logits read, gradient written in place
                OpKind.SampleGreedy or OpKind.SampleTopKTopP => Shape.B * v,
                OpKind.AdamW => 7 * len,                                   // param, grad, m, v read; param, m, v written
                OpKind.SumOfSquares => len,
                OpKind.Dot => 2 * len,
                _ => throw new InvalidOperationException($"no byte count for {Op}"),
            };
        }
    }

    /// <summary>Memory-bound rows are read against a copy of similar size; matmul against cuBLAS where present.</summary>
    public string? YardstickKey { get; init; }

    public int CompareTo(OpCase? other) => other is null ? 1 : string.CompareOrdinal(SortKey, other.SortKey);
    public int CompareTo(object? other) => CompareTo(other as OpCase);
    private string SortKey => $"{Shape.Name}|{(int)Op:D2}|{Detail}";
}

/// <summary>The rows of an op suite at one shape.</summary>
public static class OpCases
{
    public static IEnumerable<OpCase> For(OpShape s, bool withCublas)
    {
        int n = s.N, c = s.C;
        string small = $"{s.Name} Copy activations", large = $"{s.Name} Copy flat";
        OpCase Row(OpKind op, long length, string yard, string detail = "") => new(op, s, detail, 0, 0, 0, length) { YardstickKey = yard };

        yield return new OpCase(OpKind.Copy, s, "activations", 0, 0, 0, (long)n * 4 * c);
        yield return new OpCase(OpKind.Copy, s, "flat", 0, 0, 0, s.Flat);
        yield return Row(OpKind.EncoderForward, 0, small);
        yield return Row(OpKind.EncoderBackward, 0, small);
        yield return Row(OpKind.LayerNormForward, 0, small);
        yield return Row(OpKind.LayerNormBackward, 0, small);
        foreach (var (detail, k, oc) in new[] { ("qkv", c, 3 * c), ("fc", c, 4 * c), ("fcproj", 4 * c, c) })
        {
            string? yardF = withCublas ? $"{s.Name} {OpKind.CublasForward} {detail}" : null;
            string? yardB = withCublas ? $"{s.Name} {OpKind.CublasBackward} {detail}" : null;
            yield return new OpCase(OpKind.MatmulForward, s, detail, n, k, oc, 0) { YardstickKey = yardF };
            yield return new OpCase(OpKind.MatmulBackward, s, detail, n, k, oc, 0) { YardstickKey = yardB };
            if (withCublas)
            {
                yield return new OpCase(OpKind.CublasForward, s, detail, n, k, oc, 0);
                yield return new OpCase(OpKind.CublasBackward, s, detail, n, k, oc, 0);
            }
        }
        yield return new OpCase(OpKind.AttentionForward, s, "", 0, 0, 0, 0);
        yield return new OpCase(OpKind.AttentionBackward, s, "", 0, 0, 0, 0);
        yield return Row(OpKind.KvCacheStore, 0, small);
        yield return Row(OpKind.AttentionDecode, 0, small, "full cache");
        yield return Row(OpKind.GeluForward, (long)n * 4 * c, small);
        yield return Row(OpKind.GeluBackward, (long)n * 4 * c, small);
        yield return Row(OpKind.Add, (long)n * c, small, "residual");
        yield return Row(OpKind.Accumulate, (long)n * c, small, "residual backward");
        yield return Row(OpKind.TokenLogLikelihood, 0, large, $"V={s.V}");
        yield return Row(OpKind.TokenLogLikelihoodWithGradient, 0, large, $"V={s.V}");
        yield return Row(OpKind.SampleGreedy, 0, small, $"rows={s.B}");
        yield return Row(OpKind.SampleTopKTopP, 0, small, $"rows={s.B} k=50 p=0.9");
        yield return Row(OpKind.AdamW, s.Flat, large);
        yield return Row(OpKind.SumOfSquares, s.Flat, large);
        yield return Row(OpKind.Dot, s.Flat, large);
        yield return Row(OpKind.LinearCombination, s.Flat, large, "constraint");
    }
}
