using GtaIlgpu.Kernels;
using GtaIlgpu.Common;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Frozen bfloat16 weights (LoRA on a bf16 base): the matmul forward and input gradient through
/// <see cref="CpuMatmul"/>, which widens the weight as it packs its panels (bit-identical to the fp32
/// products with the widened weight), and the encoder, which widens table rows as it reads them.
/// </summary>
public sealed partial class CpuOps
{
    // CpuMatmul validates the shapes (OpShapes.MatmulForwardBf16/MatmulBackwardInputBf16) before any work.
    public void MatmulForwardBf16(BufferView<float> output, BufferView<float> input, BufferView<ushort> weight, BufferView<float> bias, int N, int C, int OC) =>
        CpuMatmul.ForwardBf16(output, input, weight, bias, N, C, OC);

    public void MatmulBackwardInputBf16(BufferView<float> dinput, BufferView<float> doutput, BufferView<ushort> weight, int N, int C, int OC) =>
        CpuMatmul.BackwardInputBf16(dinput, doutput, weight, N, C, OC);

    public void EncoderForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int T, int C)
    {
        const string op = "encoder_forward_bf16";
        CheckEncoder(op, tokens, wte.Length, wpe.Length, B, T, C);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * T * C);
        CheckTokens(op, tokens, B * T, wte.Length / C);
        var kernel = new EncoderBf16Kernel(new HostArray<float>(output), new HostArray<int>(tokens), default, new HostArray<ushort>(wte), new HostArray<ushort>(wpe), T, C);
        CpuLoops.Rows(B * T, C, kernel);
    }

    public void EncoderDecodeForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int C)
    {
        CheckDecode("encoder_decode_forward_bf16", output, tokens, positions, wte.Length, wpe.Length, B, C);
        var kernel = new EncoderBf16Kernel(new HostArray<float>(output), new HostArray<int>(tokens), new HostArray<int>(positions), new HostArray<ushort>(wte), new HostArray<ushort>(wpe), 0, C);
        CpuLoops.Rows(B, C, kernel);
    }

    /// <summary>
    /// output row = widen(wte[token]) + widen(wpe[position]): the position is the row's t = row mod T in the
    /// forward pass, positions[row] in the decode step (positions given). An empty wpe adds nothing.
    /// </summary>
    private readonly struct EncoderBf16Kernel(HostArray<float> output, HostArray<int> tokens, HostArray<int> positions, HostArray<ushort> wte, HostArray<ushort> wpe, int T, int C) : IRowKernel
    {
        public void Run(int row)
        {
            var o = output.Slice(row * C, C);
            BFloat16.Widen(wte.Slice(tokens[row] * C, C), o);
            if (wpe.IsEmpty) return;
            int position = positions.IsEmpty ? row % T : positions[row];
            CpuSimd.AddBf16(o, wpe.Slice(position * C, C));
        }
    }
}
