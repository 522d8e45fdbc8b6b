using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Token + position embedding, its backward, and the decode-step variant.
///
/// Forward: one thread per output element (b,t,c); adjacent threads read adjacent channels of the
/// same embedding rows, so loads coalesce.
/// Backward: dwte is a scatter-add where tokens repeat, so one thread per (b,t,c) adds with
/// Atomic.Add (llm.c's encoder_backward v1; its sorted deterministic version is not worth the
/// complexity here). dwpe has no collisions once the batch is summed: one thread per (t,c) loops over
/// b and adds once, without atomics.
///
/// Token ids and positions live on the device, so the host cannot check them without a download; the
/// kernels check them against the table sizes instead, since an out-of-range read would abort the
/// process. A bad id writes NaN to the forward output (so it shows up in the loss) and is skipped in
/// the backward pass.
///
/// The rotary families have no position table: an empty wpe (withPositions = 0 forward, maxT = 0 in the
/// decode step) gives the token row alone, and an empty dwpe skips the position backward. The GPT-2 path
/// (a table present) computes exactly what it did before.
/// </summary>
public static class EncoderKernels
{
    [GpuKernel]
    public static void Forward(Index1D i, ArrayView<float> output, ArrayView<int> tokens, ArrayView<float> wte, ArrayView<float> wpe, int T, int C, int V, int withPositions)
    {
        int bt = i / C;
        int c = i - bt * C;
        int t = bt % T;
        int token = tokens[bt];
        if (!(token >= 0 && token < V)) output[i] = float.NaN;
        else if (withPositions != 0) output[i] = wte[token * C + c] + wpe[t * C + c];
        else output[i] = wte[token * C + c];
    }

    [GpuKernel]
    public static void BackwardTokens(Index1D i, ArrayView<float> dwte, ArrayView<float> doutput, ArrayView<int> tokens, int C, int V)
    {
        int bt = i / C;
        int c = i - bt * C;
        int token = tokens[bt];
        if (token >= 0 && token < V) Atomic.Add(ref dwte[token * C + c], doutput[i]);
    }

    /// <summary>One thread per (t,c): dwpe[t,c] += Σ_b doutput[b,t,c]. Not launched when dwpe is empty.</summary>
    [GpuKernel]
    public static void BackwardPositions(Index1D i, ArrayView<float> dwpe, ArrayView<float> doutput, int B, int T, int C)
    {
        float sum = 0f;
        int stride = T * C;
        for (int b = 0; b < B; b++) sum += doutput[b * stride + i];
        dwpe[i] += sum;
    }

    /// <summary>maxT = 0: no position table (positions are not read).</summary>
    [GpuKernel]
    public static void DecodeForward(Index1D i, ArrayView<float> output, ArrayView<int> tokens, ArrayView<int> positions, ArrayView<float> wte, ArrayView<float> wpe, int C, int V, int maxT)
    {
        int b = i / C;
        int c = i - b * C;
        int token = tokens[b];
        if (maxT == 0)
        {
            output[i] = token >= 0 && token < V ? wte[token * C + c] : float.NaN;
            return;
        }
        int position = positions[b];
        bool valid = token >= 0 && token < V && position >= 0 && position < maxT;
        output[i] = valid ? wte[token * C + c] + wpe[position * C + c] : float.NaN;
    }
}

public sealed class EncoderLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, int> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int> _backwardTokens;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int> _backwardPositions;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int> _decodeForward;

    public EncoderLauncher(Accelerator accelerator)
    {
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, int>(EncoderKernels.Forward);
        _backwardTokens = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(EncoderKernels.BackwardTokens);
        _backwardPositions = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(EncoderKernels.BackwardPositions);
        _decodeForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int>(EncoderKernels.DecodeForward);
    }

    /// <summary>output (B,T,C) = wte[tokens] + wpe[t]; V = wte.Length / C, and wpe must hold T rows or be empty (no position term).</summary>
    public void Forward(ArrayView<float> output, ArrayView<int> tokens, ArrayView<float> wte, ArrayView<float> wpe, int B, int T, int C)
    {
        const string op = "encoder_forward";
        CheckDims(op, B, T, C);
        long n = (long)B * T * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "tokens", tokens.Length, (long)B * T);
        int V = Rows(op, "wte", wte.Length, C);
        OpShapes.Optional(op, "wpe", wpe.Length, (long)T * C);
        _forward((int)n, output, tokens, wte, wpe, T, C, V, wpe.Length > 0 ? 1 : 0);
    }

    public void Backward(ArrayView<float> dwte, ArrayView<float> dwpe, ArrayView<float> doutput, ArrayView<int> tokens, int B, int T, int C)
    {
        const string op = "encoder_backward";
        CheckDims(op, B, T, C);
        long n = (long)B * T * C;
        OpShapes.AtLeast(op, "doutput", doutput.Length, n);
        OpShapes.AtLeast(op, "tokens", tokens.Length, (long)B * T);
        int V = Rows(op, "dwte", dwte.Length, C);
        OpShapes.Optional(op, "dwpe", dwpe.Length, (long)T * C);
        _backwardTokens((int)n, dwte, doutput, tokens, C, V);
        if (dwpe.Length > 0) _backwardPositions(T * C, dwpe, doutput, B, T, C);
    }

    /// <summary>output (B,C) = wte[tokens[b]] + wpe[positions[b]]; maxT = wpe.Length / C (0 for an empty wpe: no position term).</summary>
    public void DecodeForward(ArrayView<float> output, ArrayView<int> tokens, ArrayView<int> positions, ArrayView<float> wte, ArrayView<float> wpe, int B, int C)
    {
        const string op = "encoder_decode_forward";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "C", C);
        long n = (long)B * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "tokens", tokens.Length, B);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        int V = Rows(op, "wte", wte.Length, C);
        int maxT = wpe.Length > 0 ? Rows(op, "wpe", wpe.Length, C) : 0;
        _decodeForward((int)n, output, tokens, positions, wte, wpe, C, V, maxT);
    }

    private static void CheckDims(string op, int B, int T, int C)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.Positive(op, "C", C);
    }

    /// <summary>Whole rows of C a table holds (at least one, and addressable with 32-bit indices).</summary>
    internal static int Rows(string op, string name, long length, int C)
    {
        OpShapes.AtLeast(op, name, length, C);
        long rows = Math.Min(length, OpShapes.MaxElements) / C;
        return (int)rows;
    }
}
