using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using GtaIlgpu.Common;
using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Cpu;

/// <summary>
/// The CPU backend's matmul: forward output = input·weightᵀ + bias and the backward products
/// dinput += doutput·weight, dweight += doutputᵀ·input, dbias += Σ_n doutput.
///
/// Techniques (GotoBLAS/BLIS layering), and why:
/// - ONE blocked driver computes C (+)= A·B for A and B given by strides, so the three products
///   (A·Bᵀ, A·B, Aᵀ·B) differ only in the strides handed to the packing routine.
/// - Packing: a KC×NC panel of B and an MC×KC block of A are copied into aligned per-thread scratch
///   as NR-wide (B) and MR-tall (A) slivers, zero padded at the edges, so the microkernel streams
///   contiguous memory with no bounds checks. A block ≈ 192 KB sits in L2, one B sliver (16 KB) in L1.
/// - Microkernel: a 6×16 tile of 12 Vector256 accumulators (6 rows × 2 vectors), one FMA per
///   accumulator per k: 12 independent FMA chains cover Zen 3's 2 pipes × 4-cycle latency,
///   and 15 of the 16 ymm registers are live. Edge tiles go through a small scratch tile.
/// - Threads: the output is cut into a grid of independent tasks (each packs its own panels), run
///   with <see cref="CpuParallel"/>; the grid splits the larger output dimension first so the
///   operand that gets packed redundantly is the smaller one.
/// - No allocation per call: scratch is a [ThreadStatic] pinned array that only grows.
/// - A frozen bfloat16 weight (LoRA on a bf16 base) is widened in the B packing step: the packed
///   panel holds exactly the floats an fp32 copy would, so the bf16 forward and dinput products are
///   bit-identical to the fp32 ones with the widened weight, and no fp32 copy of the weight exists.
/// Summation order differs from a naive loop (K is summed in KC-blocks), not the result's accuracy.
/// Outputs must not alias inputs.
/// </summary>
public static unsafe class CpuMatmul
{
    // ---- public API: spans ----------------------------------------------------------------------

    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC; empty = no bias). Overwrites output.</summary>
    public static void Forward(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int N, int C, int OC)
        => Forward(output, input, weight, bias, N, C, OC, UseSimd);

    /// <summary>
    /// dinput (N,C) += doutput·weight (skipped when dinput is empty); dweight (OC,C) += doutputᵀ·input (skipped when empty);
    /// dbias (OC) += Σ_n doutput[n,:] (skipped when dbias is empty). Accumulates, never overwrites.
    /// </summary>
    public static void Backward(Span<float> dinput, Span<float> dweight, Span<float> dbias, ReadOnlySpan<float> doutput, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, int N, int C, int OC)
        => Backward(dinput, dweight, dbias, doutput, input, weight, N, C, OC, UseSimd);

    // ---- public API: host views, in IOps argument order -----------------------------------------

    public static void Forward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC)
        => Forward(output.Span(), input.Span(), weight.Span(), bias.Span(), N, C, OC, UseSimd);

    public static void Backward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC)
        => Backward(dinput.Span(), dweight.Span(), dbias.Span(), doutput.Span(), input.Span(), weight.Span(), N, C, OC, UseSimd);

    // ---- frozen bfloat16 weights (bit patterns, widened as the B panel is packed) ----------------

    /// <summary>As <see cref="Forward(Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)"/> with a bfloat16 weight (OC,C).</summary>
    public static void ForwardBf16(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<ushort> weight, ReadOnlySpan<float> bias, int N, int C, int OC)
        => ForwardBf16(output, input, weight, bias, N, C, OC, UseSimd);

    /// <summary>dinput (N,C) += doutput (N,OC) · weight (OC,C, bfloat16): the dinput product of <see cref="Backward(Span{float}, Span{float}, Span{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, int)"/>.</summary>
    public static void BackwardInputBf16(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<ushort> weight, int N, int C, int OC)
        => BackwardInputBf16(dinput, doutput, weight, N, C, OC, UseSimd);

    public static void ForwardBf16(BufferView<float> output, BufferView<float> input, BufferView<ushort> weight, BufferView<float> bias, int N, int C, int OC)
        => ForwardBf16(output.Span(), input.Span(), weight.Span(), bias.Span(), N, C, OC, UseSimd);

    public static void BackwardInputBf16(BufferView<float> dinput, BufferView<float> doutput, BufferView<ushort> weight, int N, int C, int OC)
        => BackwardInputBf16(dinput.Span(), doutput.Span(), weight.Span(), N, C, OC, UseSimd);

    // ---- entry points with the kernel choice explicit (tests exercise the scalar fallback) ------

    internal static readonly bool UseSimd = Fma.IsSupported && Avx.IsSupported;

    internal static void Forward(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, int N, int C, int OC, bool simd)
    {
        OpShapes.MatmulForward(N, C, OC, output.Length, input.Length, weight.Length, bias.Length);

        fixed (float* o = output, x = input, w = weight, b = bias)
        {
            // output[n,oc] = Σ_c input[n,c]·weight[oc,c]: A(i,k) = input[i·C+k], B(k,j) = weight[j·C+k].
            var g = new Gemm
            {
                A = x, AStrideM = C, AStrideK = 1,
                B = w, BStrideK = 1, BStrideN = C,
                C = o, Ldc = OC,
                Bias = bias.IsEmpty ? null : b, Overwrite = true,
                M = N, N = OC, K = C, Simd = simd,
            };
            Run(ref g);
        }
    }

    internal static void Backward(Span<float> dinput, Span<float> dweight, Span<float> dbias, ReadOnlySpan<float> doutput, ReadOnlySpan<float> input, ReadOnlySpan<float> weight, int N, int C, int OC, bool simd)
    {
        OpShapes.MatmulBackward(N, C, OC, dinput.Length, dweight.Length, dbias.Length, doutput.Length, input.Length, weight.Length);

        fixed (float* dx = dinput, dw = dweight, db = dbias, dy = doutput, x = input, w = weight)
        {
            if (!dinput.IsEmpty)
            {
                // dinput[n,c] += Σ_oc doutput[n,oc]·weight[oc,c]: A(i,k) = dy[i·OC+k], B(k,j) = w[k·C+j].
                var g = new Gemm
                {
                    A = dy, AStrideM = OC, AStrideK = 1,
                    B = w, BStrideK = C, BStrideN = 1,
                    C = dx, Ldc = C,
                    M = N, N = C, K = OC, Simd = simd,
                };
                Run(ref g);
            }
            if (!dweight.IsEmpty)
            {
                // dweight[oc,c] += Σ_n doutput[n,oc]·input[n,c]: A(i,k) = dy[k·OC+i], B(k,j) = x[k·C+j].
                var g = new Gemm
                {
                    A = dy, AStrideM = 1, AStrideK = OC,
                    B = x, BStrideK = C, BStrideN = 1,
                    C = dw, Ldc = C,
                    M = OC, N = C, K = N, Simd = simd,
                };
                Run(ref g);
            }
            if (!dbias.IsEmpty) ColumnSums(db, dy, N, OC);
        }
    }

    internal static void ForwardBf16(Span<float> output, ReadOnlySpan<float> input, ReadOnlySpan<ushort> weight, ReadOnlySpan<float> bias, int N, int C, int OC, bool simd)
    {
        OpShapes.MatmulForwardBf16(N, C, OC, output.Length, input.Length, weight.Length, bias.Length);

        fixed (float* o = output, x = input, b = bias)
        fixed (ushort* w = weight)
        {
            // The strides of Forward; only the packing of B reads bfloat16.
            var g = new Gemm
            {
                A = x, AStrideM = C, AStrideK = 1,
                BBf16 = w, BStrideK = 1, BStrideN = C,
                C = o, Ldc = OC,
                Bias = bias.IsEmpty ? null : b, Overwrite = true,
                M = N, N = OC, K = C, Simd = simd,
            };
            Run(ref g);
        }
    }

    internal static void BackwardInputBf16(Span<float> dinput, ReadOnlySpan<float> doutput, ReadOnlySpan<ushort> weight, int N, int C, int OC, bool simd)
    {
        OpShapes.MatmulBackwardInputBf16(N, C, OC, dinput.Length, doutput.Length, weight.Length);

        fixed (float* dx = dinput, dy = doutput)
        fixed (ushort* w = weight)
        {
            // The strides of Backward's dinput product.
            var g = new Gemm
            {
                A = dy, AStrideM = OC, AStrideK = 1,
                BBf16 = w, BStrideK = C, BStrideN = 1,
                C = dx, Ldc = C,
                M = N, N = C, K = OC, Simd = simd,
            };
            Run(ref g);
        }
    }

    // ---- blocking parameters --------------------------------------------------------------------

    private const int MR = 6, NR = 16;
    /// <summary>Depth of one packed panel: B sliver KC·NR·4 B = 16 KB stays in the 32 KB L1.</summary>
    internal static int KcMax = 256;
    /// <summary>Rows of one packed A block: MC·KC·4 B = 192 KB of the 512 KB L2.</summary>
    internal static int McMax = 192;
    /// <summary>Columns of one packed B panel (it lives in L2/L3 and is streamed once per A block).</summary>
    internal static int NcMax = 2048;
    /// <summary>Problems below this many flops run on the calling thread: waking workers costs more.</summary>
    internal static double SerialFlops = 4e6;
    /// <summary>
    /// Tasks per thread for problems over a GFLOP: a little more redundant packing (≈1% there) buys
    /// balance when a core is shared with other work (measured on a busy 2-core host). Smaller
    /// problems get one task per thread.
    /// </summary>
    internal static int TasksPerThread = 2;

    /// <summary>
    /// C (M×N, row stride Ldc) (+)= A·B with A(i,k) = A[i·AStrideM + k·AStrideK], B(k,j) = B[k·BStrideK + j·BStrideN]
    /// (or, when BBf16 is set instead of B, the bfloat16 BBf16[k·BStrideK + j·BStrideN] widened).
    /// </summary>
    private struct Gemm
    {
        public float* A; public int AStrideM, AStrideK;
        public float* B; public int BStrideK, BStrideN;
        public ushort* BBf16;
        public float* C; public int Ldc;
        /// <summary>With Overwrite: C = A·B + Bias[j] (Bias may be null). Without: C += A·B.</summary>
        public float* Bias; public bool Overwrite;
        public int M, N, K;
        public bool Simd;
        // the plan, filled by Run
        public int Kc, TaskRows, TaskCols, TasksAcross;
    }

    private struct GemmTasks : IParallelBody
    {
        public Gemm G;
        public void Run(int index) => RunTask(in G, index);
    }

    private static void Run(ref Gemm g)
    {
        // Even K blocks: K = 300 runs as 2×150, not 256 + 44.
        int kBlocks = (g.K + KcMax - 1) / KcMax;
        g.Kc = (g.K + kBlocks - 1) / kBlocks;

        double flops = 2.0 * g.M * g.N * g.K;
        int tasks = flops < SerialFlops ? 1 : CpuParallel.ThreadCount * (flops < 1e9 ? 1 : TasksPerThread);
        int tilesDown = (g.M + MR - 1) / MR, tilesAcross = (g.N + NR - 1) / NR;
        // Choose a grid gm×gn of at least `tasks` tasks that packs the least: A is packed once per
        // task column (gn·M·K), B once per task row (gm·N·K).
        int bestM = 1, bestN = 1;
        double bestCost = double.MaxValue;
        for (int gm = 1; gm <= Math.Min(tasks, tilesDown); gm++)
        {
            int gn = Math.Min((tasks + gm - 1) / gm, tilesAcross);
            if (gm * gn < Math.Min(tasks, tilesDown * tilesAcross) && gm < tilesDown) continue;
            double cost = (double)gn * g.M + (double)gm * g.N;
            if (cost < bestCost) { bestCost = cost; bestM = gm; bestN = gn; }
        }
        g.TaskRows = (tilesDown + bestM - 1) / bestM * MR;
        g.TaskCols = (tilesAcross + bestN - 1) / bestN * NR;
        g.TasksAcross = (g.N + g.TaskCols - 1) / g.TaskCols;
        int tasksDown = (g.M + g.TaskRows - 1) / g.TaskRows;

        var body = new GemmTasks { G = g };
        CpuParallel.For(tasksDown * g.TasksAcross, in body);
    }

    /// <summary>One task: the output block rows [m0,m1) × columns [n0,n1), all of K.</summary>
    private static void RunTask(in Gemm g, int index)
    {
        int m0 = index / g.TasksAcross * g.TaskRows, n0 = index % g.TasksAcross * g.TaskCols;
        int m1 = Math.Min(g.M, m0 + g.TaskRows), n1 = Math.Min(g.N, n0 + g.TaskCols);
        // Sized from the plan, not this task's extent, so every task of a call asks for the same
        // scratch and a thread that warmed up on one task never grows on another.
        int ncMax = Math.Min(NcMax, g.TaskCols), mcMax = Math.Min(McMax, g.TaskRows);
        int kc = g.Kc;

        // Scratch: packed A block, packed B panel, one edge tile; each 64-byte aligned.
        int aSize = RoundUp(RoundUp(mcMax, MR) * kc + 8, 16); // +8: the A packer may write 2 floats past a sliver
        int bSize = RoundUp(RoundUp(ncMax, NR) * kc, 16);
        float* scratch = Scratch(aSize + bSize + MR * NR);
        float* aPack = scratch, bPack = scratch + aSize, tile = bPack + bSize;

        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            for (int pc = 0; pc < g.K; pc += kc)
            {
                int kcb = Math.Min(kc, g.K - pc);
                bool overwrite = g.Overwrite && pc == 0;
                float* bias = overwrite && g.Bias != null ? g.Bias + jc : null;
                nint bOffset = (nint)pc * g.BStrideK + (nint)jc * g.BStrideN;
                if (g.BBf16 != null) PackBf16(bPack, g.BBf16 + bOffset, g.BStrideN, g.BStrideK, nc, kcb, g.Simd);
                else Pack(bPack, g.B + bOffset, g.BStrideN, g.BStrideK, nc, kcb, NR, g.Simd);
                for (int ic = m0; ic < m1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m1 - ic);
                    Pack(aPack, g.A + (nint)ic * g.AStrideM + (nint)pc * g.AStrideK, g.AStrideM, g.AStrideK, mc, kcb, MR, g.Simd);
                    for (int jr = 0; jr < nc; jr += NR)
                    {
                        int nr = Math.Min(NR, nc - jr);
                        float* bSliver = bPack + (nint)jr * kcb;
                        float* biasR = bias == null ? null : bias + jr;
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int mr = Math.Min(MR, mc - ir);
                            float* aSliver = aPack + (nint)ir * kcb;
                            float* c = g.C + (nint)(ic + ir) * g.Ldc + jc + jr;
                            if (mr == MR && nr == NR)
                            {
                                Kernel(kcb, aSliver, bSliver, c, g.Ldc, biasR, overwrite, g.Simd);
                            }
                            else
                            {
                                Kernel(kcb, aSliver, bSliver, tile, NR, null, true, g.Simd);
                                for (int r = 0; r < mr; r++)
                                {
                                    float* cr = c + (nint)r * g.Ldc, tr = tile + r * NR;
                                    for (int j = 0; j < nr; j++)
                                        cr[j] = (overwrite ? (biasR == null ? 0f : biasR[j]) : cr[j]) + tr[j];
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;

    [ThreadStatic] private static float[]? t_scratch;

    /// <summary>This thread's scratch, at least `floats` long and 64-byte aligned; grows, never shrinks.</summary>
    private static float* Scratch(int floats)
    {
        var array = t_scratch;
        if (array is null || array.Length < floats + 16)
        {
            // Pinned (POH), so its address is stable without `fixed`; collected when the thread dies.
            array = GC.AllocateUninitializedArray<float>(Math.Max(floats + 16, (array?.Length ?? 0) * 3 / 2), pinned: true);
            t_scratch = array;
        }
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        return (float*)((address + 63) & ~(nint)63);
    }

    // ---- packing --------------------------------------------------------------------------------

    /// <summary>
    /// Packs `count` lines (rows of A or columns of B) of depth kc into slivers of P lines:
    /// sliver s holds, for each k, the P values of lines s·P .. s·P+P-1 (zero past `count`).
    /// Line l, depth k is src[l·strideP + k·strideK]. Serves A (P = MR) and B (P = NR) alike.
    /// </summary>
    private static void Pack(float* dst, float* src, int strideP, int strideK, int count, int kc, int P, bool simd)
    {
        int full = count / P;
        for (int s = 0; s < full; s++, dst += (nint)P * kc)
        {
            float* lines = src + (nint)s * P * strideP;
            if (strideP == 1) PackContiguous(dst, lines, strideK, kc, P);
            else if (strideK == 1 && simd && P == NR) PackTransposed16(dst, lines, strideP, kc);
            else if (strideK == 1 && simd && P == MR) PackTransposed6(dst, lines, strideP, kc);
            else PackGeneral(dst, lines, strideP, strideK, P, kc, P);
        }
        int rest = count - full * P;
        if (rest > 0) PackGeneral(dst, src + (nint)full * P * strideP, strideP, strideK, rest, kc, P);
    }

    /// <summary>Lines adjacent in memory: each k is P contiguous floats.</summary>
    private static void PackContiguous(float* dst, float* src, int strideK, int kc, int P)
    {
        if (P == NR)
        {
            for (int k = 0; k < kc; k++, dst += NR, src += strideK)
            {
                Vector256.Store(Vector256.Load(src), dst);
                Vector256.Store(Vector256.Load(src + 8), dst + 8);
            }
        }
        else
        {
            for (int k = 0; k < kc; k++, dst += P, src += strideK)
                for (int p = 0; p < P; p++) dst[p] = src[p];
        }
    }

    /// <summary>Any strides, `lines` ≤ P real lines, zero padding up to P.</summary>
    private static void PackGeneral(float* dst, float* src, int strideP, int strideK, int lines, int kc, int P)
    {
        for (int k = 0; k < kc; k++, dst += P)
        {
            float* s = src + (nint)k * strideK;
            int p = 0;
            for (; p < lines; p++) dst[p] = s[(nint)p * strideP];
            for (; p < P; p++) dst[p] = 0f;
        }
    }

    /// <summary>16 lines each contiguous along k (B of the forward product): 8×8 AVX transposes.</summary>
    private static void PackTransposed16(float* dst, float* src, int strideP, int kc)
    {
        int k = 0;
        for (; k + 8 <= kc; k += 8)
        {
            for (int half = 0; half < 2; half++)
            {
                float* s = src + k + (nint)half * 8 * strideP;
                Transpose8x8(
                    Vector256.Load(s), Vector256.Load(s + strideP), Vector256.Load(s + 2 * (nint)strideP), Vector256.Load(s + 3 * (nint)strideP),
                    Vector256.Load(s + 4 * (nint)strideP), Vector256.Load(s + 5 * (nint)strideP), Vector256.Load(s + 6 * (nint)strideP), Vector256.Load(s + 7 * (nint)strideP),
                    dst + (nint)k * NR + half * 8, NR);
            }
        }
        if (k < kc) PackGeneral(dst + (nint)k * NR, src + k, strideP, 1, NR, kc - k, NR);
    }

    /// <summary>6 lines each contiguous along k (A of forward and dinput): 8×8 transposes with 2 dummy rows.</summary>
    private static void PackTransposed6(float* dst, float* src, int strideP, int kc)
    {
        int k = 0;
        for (; k + 8 <= kc; k += 8)
        {
            float* s = src + k;
            var r0 = Vector256.Load(s);
            // Each 8-wide column store overwrites the next column's first two floats, which are
            // written right after; the last one spills 2 floats past the sliver (scratch has room).
            Transpose8x8(
                r0, Vector256.Load(s + strideP), Vector256.Load(s + 2 * (nint)strideP), Vector256.Load(s + 3 * (nint)strideP),
                Vector256.Load(s + 4 * (nint)strideP), Vector256.Load(s + 5 * (nint)strideP), r0, r0,
                dst + (nint)k * MR, MR);
        }
        if (k < kc) PackGeneral(dst + (nint)k * MR, src + k, strideP, 1, MR, kc - k, MR);
    }

    /// <summary>Stores column c of the 8×8 block (r0..r7) as 8 floats at dst + c·stride, in order of c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, int stride)
    {
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x20), dst);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x20), dst + stride);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x20), dst + 2 * stride);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x20), dst + 3 * stride);
        Vector256.Store(Avx.Permute2x128(u0, u4, 0x31), dst + 4 * stride);
        Vector256.Store(Avx.Permute2x128(u1, u5, 0x31), dst + 5 * stride);
        Vector256.Store(Avx.Permute2x128(u2, u6, 0x31), dst + 6 * stride);
        Vector256.Store(Avx.Permute2x128(u3, u7, 0x31), dst + 7 * stride);
    }

    // ---- packing a bfloat16 B operand ---------------------------------------------------------------
    // The same slivers as Pack (P = NR), widened exactly on the way: only the loads differ.

    private static void PackBf16(float* dst, ushort* src, int strideP, int strideK, int count, int kc, bool simd)
    {
        int full = count / NR;
        for (int s = 0; s < full; s++, dst += (nint)NR * kc)
        {
            ushort* lines = src + (nint)s * NR * strideP;
            if (strideP == 1) PackContiguousBf16(dst, lines, strideK, kc);
            else if (strideK == 1 && simd) PackTransposed16Bf16(dst, lines, strideP, kc);
            else PackGeneralBf16(dst, lines, strideP, strideK, NR, kc);
        }
        int rest = count - full * NR;
        if (rest > 0) PackGeneralBf16(dst, src + (nint)full * NR * strideP, strideP, strideK, rest, kc);
    }

    /// <summary>Eight bfloat16 values at p, widened.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LoadBf16(ushort* p) => BFloat16.Widen8(Vector128.Load(p));

    /// <summary>Lines adjacent in memory (B of dinput): each k is 16 contiguous bfloat16 values.</summary>
    private static void PackContiguousBf16(float* dst, ushort* src, int strideK, int kc)
    {
        for (int k = 0; k < kc; k++, dst += NR, src += strideK)
        {
            Vector256.Store(LoadBf16(src), dst);
            Vector256.Store(LoadBf16(src + 8), dst + 8);
        }
    }

    /// <summary>Any strides, `lines` ≤ NR real lines, zero padding up to NR.</summary>
    private static void PackGeneralBf16(float* dst, ushort* src, int strideP, int strideK, int lines, int kc)
    {
        for (int k = 0; k < kc; k++, dst += NR)
        {
            ushort* s = src + (nint)k * strideK;
            int p = 0;
            for (; p < lines; p++) dst[p] = BFloat16.ToFloat(s[(nint)p * strideP]);
            for (; p < NR; p++) dst[p] = 0f;
        }
    }

    /// <summary>16 lines each contiguous along k (B of the forward product): widened rows into the 8×8 transposes.</summary>
    private static void PackTransposed16Bf16(float* dst, ushort* src, int strideP, int kc)
    {
        int k = 0;
        for (; k + 8 <= kc; k += 8)
        {
            for (int half = 0; half < 2; half++)
            {
                ushort* s = src + k + (nint)half * 8 * strideP;
                Transpose8x8(
                    LoadBf16(s), LoadBf16(s + strideP), LoadBf16(s + 2 * (nint)strideP), LoadBf16(s + 3 * (nint)strideP),
                    LoadBf16(s + 4 * (nint)strideP), LoadBf16(s + 5 * (nint)strideP), LoadBf16(s + 6 * (nint)strideP), LoadBf16(s + 7 * (nint)strideP),
                    dst + (nint)k * NR + half * 8, NR);
            }
        }
        if (k < kc) PackGeneralBf16(dst + (nint)k * NR, src + k, strideP, 1, NR, kc - k);
    }

    // ---- microkernel ----------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(int kc, float* a, float* b, float* c, int ldc, float* bias, bool overwrite, bool simd)
    {
        if (simd) Kernel6x16(kc, a, b, c, ldc, bias, overwrite);
        else KernelScalar(kc, a, b, c, ldc, bias, overwrite);
    }

    /// <summary>
    /// C[0..6, 0..16) (+)= Σ_k a[k·6 + r] · b[k·16 + j]. With overwrite, C = product + bias[j]
    /// (bias may be null); otherwise C += product.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float* bias, bool overwrite)
    {
        // The C tile is needed only after the k loop: start fetching its 12 lines now.
        float* cp = c;
        for (int r = 0; r < MR; r++, cp += ldc) { Sse.Prefetch0(cp); Sse.Prefetch0(cp + NR - 1); }
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.LoadAligned(b);
            var b1 = Vector256.LoadAligned(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Fma.MultiplyAdd(av, b0, c00); c01 = Fma.MultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Fma.MultiplyAdd(av, b0, c10); c11 = Fma.MultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Fma.MultiplyAdd(av, b0, c20); c21 = Fma.MultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Fma.MultiplyAdd(av, b0, c30); c31 = Fma.MultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Fma.MultiplyAdd(av, b0, c40); c41 = Fma.MultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Fma.MultiplyAdd(av, b0, c50); c51 = Fma.MultiplyAdd(av, b1, c51);
            a += MR;
            b += NR;
        }
        if (overwrite)
        {
            Vector256<float> i0 = default, i1 = default;
            if (bias != null) { i0 = Vector256.Load(bias); i1 = Vector256.Load(bias + 8); }
            Vector256.Store(c00 + i0, c); Vector256.Store(c01 + i1, c + 8); c += ldc;
            Vector256.Store(c10 + i0, c); Vector256.Store(c11 + i1, c + 8); c += ldc;
            Vector256.Store(c20 + i0, c); Vector256.Store(c21 + i1, c + 8); c += ldc;
            Vector256.Store(c30 + i0, c); Vector256.Store(c31 + i1, c + 8); c += ldc;
            Vector256.Store(c40 + i0, c); Vector256.Store(c41 + i1, c + 8); c += ldc;
            Vector256.Store(c50 + i0, c); Vector256.Store(c51 + i1, c + 8);
        }
        else
        {
            Vector256.Store(Vector256.Load(c) + c00, c); Vector256.Store(Vector256.Load(c + 8) + c01, c + 8); c += ldc;
            Vector256.Store(Vector256.Load(c) + c10, c); Vector256.Store(Vector256.Load(c + 8) + c11, c + 8); c += ldc;
            Vector256.Store(Vector256.Load(c) + c20, c); Vector256.Store(Vector256.Load(c + 8) + c21, c + 8); c += ldc;
            Vector256.Store(Vector256.Load(c) + c30, c); Vector256.Store(Vector256.Load(c + 8) + c31, c + 8); c += ldc;
            Vector256.Store(Vector256.Load(c) + c40, c); Vector256.Store(Vector256.Load(c + 8) + c41, c + 8); c += ldc;
            Vector256.Store(Vector256.Load(c) + c50, c); Vector256.Store(Vector256.Load(c + 8) + c51, c + 8);
        }
    }

    /// <summary>The same contract as <see cref="Kernel6x16"/> in plain scalar code, for CPUs without AVX2/FMA.</summary>
    private static void KernelScalar(int kc, float* a, float* b, float* c, int ldc, float* bias, bool overwrite)
    {
        float* acc = stackalloc float[MR * NR];
        new Span<float>(acc, MR * NR).Clear();
        for (int k = 0; k < kc; k++, a += MR, b += NR)
            for (int r = 0; r < MR; r++)
            {
                float ar = a[r];
                float* accr = acc + r * NR;
                for (int j = 0; j < NR; j++) accr[j] += ar * b[j];
            }
        for (int r = 0; r < MR; r++)
        {
            float* cr = c + (nint)r * ldc, accr = acc + r * NR;
            for (int j = 0; j < NR; j++)
                cr[j] = (overwrite ? (bias == null ? 0f : bias[j]) : cr[j]) + accr[j];
        }
    }

    // ---- dbias ----------------------------------------------------------------------------------

    private const int SumColumns = 256;

    private struct ColumnSumTasks : IParallelBody
    {
        public float* DBias, DOut;
        public int N, OC;

        public void Run(int index)
        {
            int j0 = index * SumColumns, j1 = Math.Min(OC, j0 + SumColumns);
            for (int n = 0; n < N; n++)
            {
                float* row = DOut + (nint)n * OC;
                int j = j0;
                for (; j + 8 <= j1; j += 8) Vector256.Store(Vector256.Load(DBias + j) + Vector256.Load(row + j), DBias + j);
                for (; j < j1; j++) DBias[j] += row[j];
            }
        }
    }

    /// <summary>dbias[j] += Σ_n dout[n·OC + j], in column chunks that stay in L1.</summary>
    private static void ColumnSums(float* dbias, float* dout, int N, int OC)
    {
        var body = new ColumnSumTasks { DBias = dbias, DOut = dout, N = N, OC = OC };
        int chunks = (OC + SumColumns - 1) / SumColumns;
        if ((long)N * OC < 1 << 16)
            for (int i = 0; i < chunks; i++) body.Run(i);
        else
            CpuParallel.For(chunks, in body);
    }
}
