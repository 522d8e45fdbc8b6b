using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

/// <summary>
/// Rotary position embedding, in place, with Hugging Face's rotate-half pairing: in each q and k head,
/// element i and element i + hs/2 turn by θ = (float)position·invFreq[i] (backward: by −θ).
///
/// One thread per (row, i &lt; hs/2): it computes cos θ and sin θ once and turns pair i of every q and k
/// head of its row (adjacent threads touch adjacent elements of each head). The v heads are untouched.
///
/// θ grows with the position (thousands of radians at long contexts), and the GPU's single-precision
/// sin/cos are accurate only near [−π, π]: θ is first reduced by 2π in double (exactly representable
/// from the float θ), then sin and cos are taken of the reduced float.
/// </summary>
public static class RotaryKernels
{
    private const double TwoPi = 2 * Math.PI;

    /// <summary>i = row·(hs/2) + pair; direction is +1 (forward) or −1 (backward).</summary>
    [GpuKernel]
    public static void Rotate(Index1D i, ArrayView<float> qkv, ArrayView<int> positions, ArrayView<float> invFreq, int width, int heads, int hs, float direction)
    {
        int half = hs / 2;
        int row = i / half;
        int pair = i - row * half;
        float theta = positions[row] * invFreq[pair];
        double turns = Math.Floor(theta / TwoPi + 0.5);
        float reduced = (float)(theta - turns * TwoPi);
        float cos = MathF.Cos(reduced);
        float sin = direction * MathF.Sin(reduced);
        int at = row * width + pair;
        for (int h = 0; h < heads; h++, at += hs)
        {
            float a = qkv[at], b = qkv[at + half];
            qkv[at] = a * cos - b * sin;
            qkv[at + half] = b * cos + a * sin;
        }
    }
}

public sealed class RotaryLauncher
{
    private readonly Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float> _rotate;

    public RotaryLauncher(Accelerator accelerator)
    {
        _rotate = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, float>(RotaryKernels.Rotate);
    }

    public void Forward(ArrayView<float> qkv, ArrayView<int> positions, ArrayView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate("rotary_forward", qkv, positions, invFreq, N, NH, NKV, hs, 1f);

    /// <summary>The rotation by −θ, in place on dqkv.</summary>
    public void Backward(ArrayView<float> dqkv, ArrayView<int> positions, ArrayView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate("rotary_backward", dqkv, positions, invFreq, N, NH, NKV, hs, -1f);

    private void Rotate(string op, ArrayView<float> qkv, ArrayView<int> positions, ArrayView<float> invFreq, int N, int NH, int NKV, int hs, float direction)
    {
        long width = OpShapes.HeadRowWidth(op, N, NH, NKV, hs);
        OpShapes.EvenHeadSize(op, hs);
        OpShapes.AtLeast(op, "qkv", qkv.Length, N * width);
        OpShapes.AtLeast(op, "positions", positions.Length, N);
        OpShapes.AtLeast(op, "invFreq", invFreq.Length, hs / 2);
        _rotate(N * (hs / 2), qkv, positions, invFreq, (int)width, NH + NKV, hs, direction);
    }
}
