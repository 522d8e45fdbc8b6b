using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

// Matmul kernels: out = x·Wᵀ + b and its backward (llm.c's matmul_forward / matmul_backward).
//
//  Gemm                 one tiled GEMM for all three products. A 64×64 block tile of C is computed
//                       by 16×16 = 256 threads, each holding a 4×4 register block (16 accumulators,
//                       so every value read from shared memory feeds 4 FMAs). K advances in steps of
//                       16: the A and B tiles are staged in shared memory with guarded, zero-filled
//                       loads, so M, N and K need not be multiples of the tile. The three products
//                       (A·Bᵀ forward, A·B for dinput, Aᵀ·B for dweight) differ only in the strides
//                       used to read A and B; each tile load walks the contiguous dimension fastest
//                       so global reads coalesce whichever operand is transposed. The epilogue either
//                       overwrites (forward, with optional bias) or accumulates (backward).
//  ColumnSumAccumulate  dbias += Σ_rows doutput: 32 columns × 8 row lanes per group, coalesced
//                       row reads, then a shared-memory tree over the 8 lanes.
//
// Not done yet (ideas from llm.c's matmul versions): 128×128 tiles with 8×8 register blocks, float4
// global loads, double-buffered shared tiles, split-K for dweight when N·C ≫ OC·C, tensor cores.

/// <summary>How one GEMM operand is read: element (row, k) of A or (k, col) of B lives at row·RowStride + col·ColStride.</summary>
public struct GemmShape
{
    /// <summary>Rows of C (and of A).</summary>
    public int M;
    /// <summary>Columns of C (and of B).</summary>
    public int N;
    /// <summary>The reduced dimension.</summary>
    public int K;
    /// <summary>A[m,k] = a[m·ARowStride + k·AColStride].</summary>
    public int ARowStride, AColStride;
    /// <summary>B[k,n] = b[k·BRowStride + n·BColStride].</summary>
    public int BRowStride, BColStride;
    /// <summary>1: C += A·B (backward); 0: C = A·B + bias (forward).</summary>
    public int Accumulate;
}

public static class MatmulKernels
{
    /// <summary>Rows of C per group.</summary>
    public const int TileM = 64;
    /// <summary>Columns of C per group.</summary>
    public const int TileN = 64;
    /// <summary>Depth of one shared-memory stage.</summary>
    public const int TileK = 16;
    /// <summary>Each thread computes a ThreadM × ThreadN block of C in registers.</summary>
    public const int ThreadM = 4, ThreadN = 4;
    /// <summary>Group shape: 16 × 16 threads.</summary>
    public const int GroupX = TileN / ThreadN, GroupY = TileM / ThreadM;
    public const int GroupSize = GroupX * GroupY;

    // Shared tiles are stored k-major ([k][m] and [k][n]) so the inner loop reads a thread's 4 rows
    // and 4 columns contiguously; the padding breaks bank conflicts of the transposing stores.
    // (Internal, with Row4 and StoreRow: MatmulBf16Kernels.Gemm shares the tiling.)
    internal const int ATileStride = TileM + 4;
    internal const int BTileStride = TileN + 4;
    internal const int LoadsPerThread = TileM * TileK / GroupSize;

    /// <summary>Four accumulators of one register row.</summary>
    internal struct Row4
    {
        public float X, Y, Z, W;

        public void Fma(float a, float b0, float b1, float b2, float b3)
        {
            X += a * b0;
            Y += a * b1;
            Z += a * b2;
            W += a * b3;
        }

        public readonly float this[int j] => j switch { 0 => X, 1 => Y, 2 => Z, _ => W };
    }

    /// <summary>
    /// C (M×N, row-major, leading dimension N) = A·B (+ bias[n]) or C += A·B, with A and B read
    /// through the strides in <paramref name="shape"/>. Grid: (⌈N/64⌉, ⌈M/64⌉); group: 16×16.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = MatmulKernels.GroupSize)]
    public static void Gemm(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, GemmShape shape)
    {
        var aTile = SharedMemory.Allocate<float>(TileK * ATileStride);
        var bTile = SharedMemory.Allocate<float>(TileK * BTileStride);

        int tx = Group.IdxX, ty = Group.IdxY;
        int tid = ty * GroupX + tx;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        bool aKContiguous = shape.AColStride == 1;
        bool bNContiguous = shape.BColStride == 1;

        Row4 acc0 = default, acc1 = default, acc2 = default, acc3 = default;

        for (int k0 = 0; k0 < shape.K; k0 += TileK)
        {
            for (int i = 0; i < LoadsPerThread; i++)
            {
                int e = tid + i * GroupSize;
                // A tile (TileM × TileK): consecutive threads take consecutive addresses in memory.
                int am = aKContiguous ? e / TileK : e % TileM;
                int ak = aKContiguous ? e % TileK : e / TileM;
                int gm = m0 + am, gak = k0 + ak;
                aTile[ak * ATileStride + am] = gm < shape.M && gak < shape.K
                    ? a[gm * shape.ARowStride + gak * shape.AColStride]
                    : 0f;
                // B tile (TileK × TileN).
                int bn = bNContiguous ? e % TileN : e / TileK;
                int bk = bNContiguous ? e / TileN : e % TileK;
                int gn = n0 + bn, gbk = k0 + bk;
                bTile[bk * BTileStride + bn] = gn < shape.N && gbk < shape.K
                    ? b[gbk * shape.BRowStride + gn * shape.BColStride]
                    : 0f;
            }
            Group.Barrier();

            for (int k = 0; k < TileK; k++)
            {
                int ar = k * ATileStride + ty * ThreadM;
                int br = k * BTileStride + tx * ThreadN;
                float b0 = bTile[br], b1 = bTile[br + 1], b2 = bTile[br + 2], b3 = bTile[br + 3];
                acc0.Fma(aTile[ar], b0, b1, b2, b3);
                acc1.Fma(aTile[ar + 1], b0, b1, b2, b3);
                acc2.Fma(aTile[ar + 2], b0, b1, b2, b3);
                acc3.Fma(aTile[ar + 3], b0, b1, b2, b3);
            }
            Group.Barrier();
        }

        int row0 = m0 + ty * ThreadM, col0 = n0 + tx * ThreadN;
        StoreRow(c, bias, shape, row0, col0, acc0);
        StoreRow(c, bias, shape, row0 + 1, col0, acc1);
        StoreRow(c, bias, shape, row0 + 2, col0, acc2);
        StoreRow(c, bias, shape, row0 + 3, col0, acc3);
    }

    internal static void StoreRow(ArrayView<float> c, ArrayView<float> bias, GemmShape shape, int row, int col0, Row4 acc)
    {
        if (row >= shape.M) return;
        for (int j = 0; j < ThreadN; j++)
        {
            int col = col0 + j;
            if (col >= shape.N) return;
            int index = row * shape.N + col;
            float value = acc[j];
            if (shape.Accumulate != 0) value += c[index];
            else if (bias.Length > 0) value += bias[col];
            c[index] = value;
        }
    }

    /// <summary>Column-sum group: 32 columns × 8 row lanes.</summary>
    public const int SumColumns = 32, SumLanes = 8, SumGroupSize = SumColumns * SumLanes;

    /// <summary>
    /// sums[col] += Σ_r matrix[r·cols + col] for col &lt; cols. Grid: ⌈cols/32⌉ groups of 32×8 threads.
    /// </summary>
    [GpuKernel(ExplicitlyGrouped = true, GroupSize = MatmulKernels.SumGroupSize)]
    public static void ColumnSumAccumulate(ArrayView<float> sums, ArrayView<float> matrix, int rows, int cols)
    {
        var partial = SharedMemory.Allocate<float>(SumColumns * SumLanes);
        int tx = Group.IdxX, ty = Group.IdxY;
        int col = Grid.IdxX * SumColumns + tx;

        float sum = 0f;
        if (col < cols)
        {
            for (int r = ty; r < rows; r += SumLanes)
                sum += matrix[r * cols + col];
        }
        partial[ty * SumColumns + tx] = sum;
        Group.Barrier();

        for (int stride = SumLanes / 2; stride > 0; stride /= 2)
        {
            if (ty < stride)
                partial[ty * SumColumns + tx] += partial[(ty + stride) * SumColumns + tx];
            Group.Barrier();
        }

        if (ty == 0 && col < cols)
            sums[col] += partial[tx];
    }
}

/// <summary>
/// Loads the matmul kernels once and launches them with IOps semantics (shapes checked on the host first).
/// </summary>
public sealed class MatmulLauncher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape> _gemm;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int> _columnSum;

    public MatmulLauncher(Accelerator accelerator)
    {
        if (accelerator.MaxNumThreadsPerGroup < MatmulKernels.GroupSize)
            throw new NotSupportedException(
                $"matmul kernels need groups of {MatmulKernels.GroupSize} threads; {accelerator.Name} allows {accelerator.MaxNumThreadsPerGroup}");
        _gemm = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(MatmulKernels.Gemm);
        _columnSum = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int>(MatmulKernels.ColumnSumAccumulate);
    }

    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC, optional).</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> input, ArrayView<float> weight, ArrayView<float> bias, int N, int C, int OC)
    {
        OpShapes.MatmulForward(N, C, OC, output.Length, input.Length, weight.Length, bias.Length);

        // C[n,o] = Σ_c input[n,c]·weight[o,c]: A = input (k contiguous), B[k=c, n=o] = weight[o·C + c].
        Launch(output, input, weight, bias, new GemmShape
        {
            M = N, N = OC, K = C,
            ARowStride = C, AColStride = 1,
            BRowStride = 1, BColStride = C,
            Accumulate = 0,
        });
    }

    /// <summary>dinput += doutput·weight; dweight += doutputᵀ·input; dbias += Σ_n doutput[n,:] (each skipped when its view is empty).</summary>
    public void Backward(ArrayView<float> dinput, ArrayView<float> dweight, ArrayView<float> dbias, ArrayView<float> doutput, ArrayView<float> input, ArrayView<float> weight, int N, int C, int OC)
    {
        OpShapes.MatmulBackward(N, C, OC, dinput.Length, dweight.Length, dbias.Length, doutput.Length, input.Length, weight.Length);

        if (dinput.Length > 0)
        {
            // dinput[n,c] += Σ_o doutput[n,o]·weight[o,c].
            Launch(dinput, doutput, weight, ArrayView<float>.Empty, new GemmShape
            {
                M = N, N = C, K = OC,
                ARowStride = OC, AColStride = 1,
                BRowStride = C, BColStride = 1,
                Accumulate = 1,
            });
        }

        // dweight[o,c] += Σ_n doutput[n,o]·input[n,c]: A[m=o, k=n] = doutput[n·OC + o].
        if (dweight.Length > 0)
        {
            Launch(dweight, doutput, input, ArrayView<float>.Empty, new GemmShape
            {
                M = OC, N = C, K = N,
                ARowStride = 1, AColStride = OC,
                BRowStride = C, BColStride = 1,
                Accumulate = 1,
            });
        }

        if (dbias.Length > 0)
        {
            var config = new KernelConfig(
                new Index2D(CeilDiv(OC, MatmulKernels.SumColumns), 1),
                new Index2D(MatmulKernels.SumColumns, MatmulKernels.SumLanes));
            _columnSum(config, dbias, doutput, N, OC);
        }
    }

    private void Launch(ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, ArrayView<float> bias, GemmShape shape)
    {
        var config = new KernelConfig(
            new Index2D(CeilDiv(shape.N, MatmulKernels.TileN), CeilDiv(shape.M, MatmulKernels.TileM)),
            new Index2D(MatmulKernels.GroupX, MatmulKernels.GroupY));
        _gemm(config, c, a, b, bias, shape);
    }

    private static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}
