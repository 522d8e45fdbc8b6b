using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

// Matmul with a frozen bfloat16 weight (LoRA on a bf16 base): out = x·Wᵀ + b and dinput += dout·W.
// A frozen weight has no gradient, so there is no dweight or dbias here.
//
//  Gemm   MatmulKernels.Gemm's tiling unchanged — 64×64 block tiles, 16×16 threads with 4×4 register
//         blocks, K in shared-memory stages of 16, guarded zero-filled loads, the same strides for the
//         forward (A·Bᵀ) and dinput (A·B) products — except that the B operand (the weight) is read as
//         bfloat16 bit patterns and widened exactly (w << 16, reinterpreted) as its tile is staged. The
//         shared tiles and the FMA loop stay float; the weight's global traffic halves, and the product
//         is the fp32 one with the widened weight.
//
// Not done yet: loading two bf16 values per 32-bit read (the forward's k-contiguous weight rows allow it).

public static class MatmulBf16Kernels
{
    /// <summary>The float32 whose top 16 bits are these bfloat16 bits: exact.</summary>
    public static float Widen(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>
    /// C (M×N, leading dimension N) = A·B (+ bias[n]) or C += A·B, with B[k,n] = widen(b[k·BRowStride + n·BColStride]).
    /// Grid: (⌈N/64⌉, ⌈M/64⌉); group: 16×16.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = MatmulKernels.GroupSize)]
    public static void Gemm(ArrayView<float> c, ArrayView<float> a, ArrayView<ushort> b, ArrayView<float> bias, GemmShape shape)
    {
        const int TileM = MatmulKernels.TileM, TileN = MatmulKernels.TileN, TileK = MatmulKernels.TileK;
        const int ATileStride = MatmulKernels.ATileStride, BTileStride = MatmulKernels.BTileStride;
        var aTile = SharedMemory.Allocate<float>(TileK * ATileStride);
        var bTile = SharedMemory.Allocate<float>(TileK * BTileStride);

        int tx = Group.IdxX, ty = Group.IdxY;
        int tid = ty * MatmulKernels.GroupX + tx;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        bool aKContiguous = shape.AColStride == 1;
        bool bNContiguous = shape.BColStride == 1;

        MatmulKernels.Row4 acc0 = default, acc1 = default, acc2 = default, acc3 = default;

        for (int k0 = 0; k0 < shape.K; k0 += TileK)
        {
            for (int i = 0; i < MatmulKernels.LoadsPerThread; i++)
            {
                int e = tid + i * MatmulKernels.GroupSize;
                int am = aKContiguous ? e / TileK : e % TileM;
                int ak = aKContiguous ? e % TileK : e / TileM;
                int gm = m0 + am, gak = k0 + ak;
                aTile[ak * ATileStride + am] = gm < shape.M && gak < shape.K
                    ? a[gm * shape.ARowStride + gak * shape.AColStride]
                    : 0f;
                // The weight tile, widened as it is staged.
                int bn = bNContiguous ? e % TileN : e / TileK;
                int bk = bNContiguous ? e / TileN : e % TileK;
                int gn = n0 + bn, gbk = k0 + bk;
                bTile[bk * BTileStride + bn] = gn < shape.N && gbk < shape.K
                    ? Widen(b[gbk * shape.BRowStride + gn * shape.BColStride])
                    : 0f;
            }
            Group.Barrier();

            for (int k = 0; k < TileK; k++)
            {
                int ar = k * ATileStride + ty * MatmulKernels.ThreadM;
                int br = k * BTileStride + tx * MatmulKernels.ThreadN;
                float b0 = bTile[br], b1 = bTile[br + 1], b2 = bTile[br + 2], b3 = bTile[br + 3];
                acc0.Fma(aTile[ar], b0, b1, b2, b3);
                acc1.Fma(aTile[ar + 1], b0, b1, b2, b3);
                acc2.Fma(aTile[ar + 2], b0, b1, b2, b3);
                acc3.Fma(aTile[ar + 3], b0, b1, b2, b3);
            }
            Group.Barrier();
        }

        int row0 = m0 + ty * MatmulKernels.ThreadM, col0 = n0 + tx * MatmulKernels.ThreadN;
        MatmulKernels.StoreRow(c, bias, shape, row0, col0, acc0);
        MatmulKernels.StoreRow(c, bias, shape, row0 + 1, col0, acc1);
        MatmulKernels.StoreRow(c, bias, shape, row0 + 2, col0, acc2);
        MatmulKernels.StoreRow(c, bias, shape, row0 + 3, col0, acc3);
    }
}

/// <summary>Loads the bf16 matmul kernel once and launches it with IOps semantics (shapes checked on the host first).</summary>
public sealed class MatmulBf16Launcher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, GemmShape> _gemm;

    public MatmulBf16Launcher(Accelerator accelerator)
    {
        if (accelerator.MaxNumThreadsPerGroup < MatmulKernels.GroupSize)
            throw new NotSupportedException(
                $"matmul kernels need groups of {MatmulKernels.GroupSize} threads; {accelerator.Name} allows {accelerator.MaxNumThreadsPerGroup}");
        _gemm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, GemmShape>(MatmulBf16Kernels.Gemm);
    }

    /// <summary>output (N,OC) = input (N,C) · weight (OC,C, bfloat16)ᵀ + bias (OC, optional).</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ArrayView<ushort> weight, ArrayView<float> bias, int N, int C, int OC)
    {
        OpShapes.MatmulForwardBf16(N, C, OC, output.Length, input.Length, weight.Length, bias.Length);
        // The strides of MatmulLauncher.Forward: B[k=c, n=o] = weight[o·C + c].
        Launch(output, input, weight, bias, new GemmShape
        {
            M = N, N = OC, K = C,
            ARowStride = C, AColStride = 1,
            BRowStride = 1, BColStride = C,
            Accumulate = 0,
        });
    }

    /// <summary>dinput (N,C) += doutput (N,OC) · weight (OC,C, bfloat16).</summary>
    public void BackwardInput(ArrayView<float> dinput, ArrayView<float> doutput, ArrayView<ushort> weight, int N, int C, int OC)
    {
        OpShapes.MatmulBackwardInputBf16(N, C, OC, dinput.Length, doutput.Length, weight.Length);
        // The strides of MatmulLauncher.Backward's dinput product: B[k=o, n=c] = weight[o·C + c].
        Launch(dinput, doutput, weight, ArrayView<float>.Empty, new GemmShape
        {
            M = N, N = C, K = OC,
            ARowStride = OC, AColStride = 1,
            BRowStride = C, BColStride = 1,
            Accumulate = 1,
        });
    }

    private void Launch(ArrayView<float> c, ArrayView<float> a, ArrayView<ushort> b, ArrayView<float> bias, GemmShape shape)
    {
        var config = new KernelConfig(
            new Index2D(CeilDiv(shape.N, MatmulKernels.TileN), CeilDiv(shape.M, MatmulKernels.TileM)),
            new Index2D(MatmulKernels.GroupX, MatmulKernels.GroupY));
        _gemm(config, c, a, b, bias, shape);
    }

    private static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}
