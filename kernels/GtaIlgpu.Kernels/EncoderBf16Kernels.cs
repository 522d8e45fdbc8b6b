using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Token + position embedding from frozen bfloat16 tables (LoRA on a bf16 base), forward and decode step:
/// <see cref="EncoderKernels"/>' Forward and DecodeForward with every table read widened exactly, so the
/// output is the fp32 op's with the widened tables. One thread per output element; adjacent threads read
/// adjacent channels. A frozen table has no gradient, so there is no backward. As there, token ids and
/// positions live on the device and are checked in the kernel: a bad one writes NaN instead of reading
/// outside a table.
/// </summary>
public static class EncoderBf16Kernels
{
    /// <summary>withPositions = 0: no position table (the rotary families).</summary>
    [GpuKernel]
    public static void Forward(Index1D i, ArrayView<float> output, ArrayView<int> tokens, ArrayView<ushort> wte, ArrayView<ushort> wpe, int T, int C, int V, int withPositions)
    {
        int bt = i / C;
        int c = i - bt * C;
        int t = bt % T;
        int token = tokens[bt];
        if (!(token >= 0 && token < V)) output[i] = float.NaN;
        else if (withPositions != 0) output[i] = MatmulBf16Kernels.Widen(wte[token * C + c]) + MatmulBf16Kernels.Widen(wpe[t * C + c]);
        else output[i] = MatmulBf16Kernels.Widen(wte[token * C + c]);
    }

    /// <summary>maxT = 0: no position table (positions are not read).</summary>
    [GpuKernel]
    public static void DecodeForward(Index1D i, ArrayView<float> output, ArrayView<int> tokens, ArrayView<int> positions, ArrayView<ushort> wte, ArrayView<ushort> wpe, int C, int V, int maxT)
    {
        int b = i / C;
        int c = i - b * C;
        int token = tokens[b];
        if (maxT == 0)
        {
            output[i] = token >= 0 && token < V ? MatmulBf16Kernels.Widen(wte[token * C + c]) : float.NaN;
            return;
        }
        int position = positions[b];
        bool valid = token >= 0 && token < V && position >= 0 && position < maxT;
        output[i] = valid ? MatmulBf16Kernels.Widen(wte[token * C + c]) + MatmulBf16Kernels.Widen(wpe[position * C + c]) : float.NaN;
    }
}

public sealed class EncoderBf16Launcher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<ushort>, ArrayView<ushort>, int, int, int, int> _forward;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<ushort>, ArrayView<ushort>, int, int, int> _decodeForward;

    public EncoderBf16Launcher(Accelerator accelerator)
    {
        _forward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<ushort>, ArrayView<ushort>, int, int, int, int>(EncoderBf16Kernels.Forward);
        _decodeForward = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<int>, ArrayView<ushort>, ArrayView<ushort>, int, int, int>(EncoderBf16Kernels.DecodeForward);
    }

    /// <summary>output (B,T,C) = widen(wte[tokens]) + widen(wpe[t]); V = wte.Length / C, and wpe must hold T rows or be empty.</summary>
    public void Forward(ArrayView<float> output, ArrayView<int> tokens, ArrayView<ushort> wte, ArrayView<ushort> wpe, int B, int T, int C)
    {
        const string op = "encoder_forward_bf16";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.Positive(op, "C", C);
        long n = (long)B * T * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "tokens", tokens.Length, (long)B * T);
        int V = EncoderLauncher.Rows(op, "wte", wte.Length, C);
        OpShapes.Optional(op, "wpe", wpe.Length, (long)T * C);
        _forward((int)n, output, tokens, wte, wpe, T, C, V, wpe.Length > 0 ? 1 : 0);
    }

    /// <summary>output (B,C) = widen(wte[tokens[b]]) + widen(wpe[positions[b]]); maxT = wpe.Length / C (0 for an empty wpe).</summary>
    public void DecodeForward(ArrayView<float> output, ArrayView<int> tokens, ArrayView<int> positions, ArrayView<ushort> wte, ArrayView<ushort> wpe, int B, int C)
    {
        const string op = "encoder_decode_forward_bf16";
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "C", C);
        long n = (long)B * C;
        OpShapes.AtLeast(op, "output", output.Length, n);
        OpShapes.AtLeast(op, "tokens", tokens.Length, B);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        int V = EncoderLauncher.Rows(op, "wte", wte.Length, C);
        int maxT = wpe.Length > 0 ? EncoderLauncher.Rows(op, "wpe", wpe.Length, C) : 0;
        _decodeForward((int)n, output, tokens, positions, wte, wpe, C, V, maxT);
    }
}
