using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// The LoRA-support ops in the scalar reference: frozen bfloat16 weights (widened where they are read, by
/// the bit rule itself rather than the BFloat16 class under test) and column blocks of fused rows.
/// </summary>
public sealed partial class ReferenceOps
{
    /// <summary>A bfloat16 pattern is the top half of a float32.</summary>
    private static double Bf16(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    // ---- frozen bf16 weights ----------------------------------------------------------------------

    public void MatmulForwardBf16(BufferView<float> output, BufferView<float> input, BufferView<ushort> weight, BufferView<float> bias, int N, int C, int OC)
    {
        var o = output.Span(); var x = input.Span(); var w = weight.Span(); var bi = bias.Span();
        for (int n = 0; n < N; n++)
            for (int k = 0; k < OC; k++)
            {
                double s = bi.IsEmpty ? 0 : bi[k];
                for (int c = 0; c < C; c++) s += x[n * C + c] * Bf16(w[k * C + c]);
                o[n * OC + k] = (float)s;
            }
    }

    public void MatmulBackwardInputBf16(BufferView<float> dinput, BufferView<float> doutput, BufferView<ushort> weight, int N, int C, int OC)
    {
        var dx = dinput.Span(); var dy = doutput.Span(); var w = weight.Span();
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
            {
                double s = 0;
                for (int k = 0; k < OC; k++) s += dy[n * OC + k] * Bf16(w[k * C + c]);
                dx[n * C + c] += (float)s;
            }
    }

    public void EncoderForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int T, int C)
    {
        var o = output.Span(); var tok = tokens.Span(); var te = wte.Span(); var pe = wpe.Span();
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                int id = tok[b * T + t];
                for (int c = 0; c < C; c++)
                    o[(b * T + t) * C + c] = (float)(pe.IsEmpty ? Bf16(te[id * C + c]) : Bf16(te[id * C + c]) + Bf16(pe[t * C + c]));
            }
    }

    public void EncoderDecodeForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int C)
    {
        var o = output.Span(); var tok = tokens.Span(); var pos = positions.Span(); var te = wte.Span(); var pe = wpe.Span();
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                o[b * C + c] = (float)(pe.IsEmpty ? Bf16(te[tok[b] * C + c]) : Bf16(te[tok[b] * C + c]) + Bf16(pe[pos[b] * C + c]));
    }

    // ---- column blocks -----------------------------------------------------------------------------

    public void AddColumns(BufferView<float> output, int outputWidth, int column, BufferView<float> source, int width, int N, float scale)
    {
        var o = output.Span(); var s = source.Span();
        for (int n = 0; n < N; n++)
            for (int j = 0; j < width; j++)
                o[n * outputWidth + column + j] = (float)(o[n * outputWidth + column + j] + (double)scale * s[n * width + j]);
    }

    public void TakeColumns(BufferView<float> destination, BufferView<float> source, int sourceWidth, int column, int width, int N, float scale)
    {
        var d = destination.Span(); var s = source.Span();
        for (int n = 0; n < N; n++)
            for (int j = 0; j < width; j++)
                d[n * width + j] = (float)((double)scale * s[n * sourceWidth + column + j]);
    }
}
