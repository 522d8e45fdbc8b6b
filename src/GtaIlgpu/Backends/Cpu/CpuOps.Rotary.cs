using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// Rotary position embedding, in place, with Hugging Face's rotate-half pairing (i with i + hs/2). One
/// work item per row: its cos θ and direction·sin θ (θ = (float)position·invFreq[i]) are computed once
/// into thread-local scratch and applied to every q and k head of the row. The backward is the same
/// loop turning by −θ.
/// </summary>
public sealed partial class CpuOps
{
    public void RotaryForward(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate("rotary_forward", qkv, positions, invFreq, N, NH, NKV, hs, direction: 1f);

    public void RotaryBackward(BufferView<float> dqkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs) =>
        Rotate("rotary_backward", dqkv, positions, invFreq, N, NH, NKV, hs, direction: -1f);

    private static void Rotate(string op, BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs, float direction)
    {
        long width = OpShapes.HeadRowWidth(op, N, NH, NKV, hs);
        OpShapes.EvenHeadSize(op, hs);
        OpShapes.AtLeast(op, "qkv", qkv.Length, N * width);
        OpShapes.AtLeast(op, "positions", positions.Length, N);
        OpShapes.AtLeast(op, "invFreq", invFreq.Length, hs / 2);
        var kernel = new RotaryKernel(new HostArray<float>(qkv), new HostArray<int>(positions), new HostArray<float>(invFreq), (int)width, NH + NKV, hs, direction);
        CpuLoops.Rows(N, 2L * (NH + NKV) * hs, kernel);
    }

    [ThreadStatic] private static float[]? t_rotaryAngles;

    private readonly struct RotaryKernel(HostArray<float> qkv, HostArray<int> positions, HostArray<float> invFreq, int width, int heads, int hs, float direction) : IRowKernel
    {
        public void Run(int n)
        {
            int half = hs / 2;
            var angles = CpuScratch.Get(ref t_rotaryAngles, hs);
            var cos = angles.AsSpan(0, half);
            var sin = angles.AsSpan(half, half);
            float position = positions[n];
            for (int i = 0; i < half; i++)
            {
                float theta = position * invFreq[i];
                cos[i] = MathF.Cos(theta);
                sin[i] = direction * MathF.Sin(theta);
            }
            for (int h = 0; h < heads; h++)
            {
                int at = n * width + h * hs;
                CpuSimd.RotatePairs(qkv.Slice(at, half), qkv.Slice(at + half, half), cos, sin);
            }
        }
    }
}
