using ILGPU;
using ILGPU.Runtime;

namespace GtaIlgpu.Kernels;

// Causal grouped-query attention (llm.c's attention_forward / attention_backward generalised), plus the
// KV cache used by generation. NH query heads read NKV key/value heads of size hs (query head h reads
// head h / (NH/NKV), Hugging Face's repeat_kv); qkv rows are W = (NH+2·NKV)·hs wide, [q | k | v]. GPT-2
// is NKV = NH, hs = C/NH, with exactly the arithmetic it had before. Every kernel covers all batches and
// heads in one launch.
//
//  ForwardRows       one 64-thread group per query row (b,h,t): scores q·k·scale for t2 ≤ t are
//                    spread over the group and written straight into att; the row max and the sum
//                    of exponentials are group reductions (warp shuffles, then one shared slot per
//                    warp); after normalising (and zeroing t2 > t) a barrier makes the row visible
//                    and each thread produces output channels d = tid, tid+64, … from att·v.
//  BackwardRows      one group per row (b,h,t): datt = dout·vᵀ into scratch, the softmax backward
//                    dpre = att·(datt − Σ att·datt) with the Σ as a group reduction, then dq += scale·dpre·k.
//  BackwardColumns   one thread per (b,g,t2,d), g a key/value head: dk += scale·Σ_h Σ_{t≥t2} dpre[h,t,t2]·q[h,t]
//                    and dv += Σ_h Σ_{t≥t2} att[h,t,t2]·dout[h,t] over g's query heads h in order.
//                    Splitting rows from columns makes every gradient element owned by exactly one
//                    thread: accumulation without atomics, in a fixed (deterministic) order.
//  KvCacheStore      one thread per element: copies the k|v parts of qkv into the cache rows.
//  Decode            one group per (b,h): stores this token's k,v of h's key/value head in cache row
//                    positions[b] (the NH/NKV groups sharing that head write the same values), a
//                    barrier, then attends over rows 0..positions[b] in chunks of 256 keys with an
//                    online softmax (running max and sum, the output rescaled per chunk), so any
//                    cache length works with a fixed shared-memory chunk.
//
// Not done yet: flash-attention style tiling of keys in shared memory (the forward reads k and v
// from global memory once per query row), and recomputing att instead of storing it.

/// <summary>Attention sizes, passed to the kernels as one argument.</summary>
public struct AttentionShape
{
    /// <summary>Batch, sequence, query heads, key/value heads.</summary>
    public int B, T, NH, NKV;
    /// <summary>Head size hs (C/NH for GPT-2).</summary>
    public int HeadSize;
    /// <summary>Query heads per key/value head, NH/NKV.</summary>
    public int Group;
    /// <summary>NH·hs: the q part of a qkv row, and an output row.</summary>
    public int QueryWidth;
    /// <summary>NKV·hs: the k part (and the v part) of a qkv row.</summary>
    public int KvWidth;
    /// <summary>(NH+2·NKV)·hs: one qkv row.</summary>
    public int Width;
    /// <summary>1/√HeadSize.</summary>
    public float Scale;
    /// <summary>Cache rows per sequence (decode and cache store only).</summary>
    public int MaxT;
}

public static class AttentionKernels
{
    /// <summary>Threads per (b,h,t) row group and per (b,h) decode group.</summary>
    public const int RowThreads = 64;
    /// <summary>Keys scored per decode step chunk (shared-memory size).</summary>
    public const int DecodeChunk = 256;
    /// <summary>One reduction slot per warp: 256 threads in warps of at least 4 (the CPU emulator's).</summary>
    private const int ReductionSlots = 64;

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = AttentionKernels.RowThreads)]
    public static void ForwardRows(ArrayView<float> output, ArrayView<float> att, ArrayView<float> qkv, AttentionShape s)
    {
        var slots = SharedMemory.Allocate<float>(ReductionSlots);
        int tid = Group.IdxX, threads = Group.DimX;
        int row = Grid.IdxX;                   // (b·NH + h)·T + t
        int t = row % s.T, bh = row / s.T;
        int h = bh % s.NH, b = bh / s.NH;
        int g = h / s.Group;                   // key/value head
        int W = s.Width, hs = s.HeadSize;
        int q = (b * s.T + t) * W + h * hs;
        int keys = b * s.T * W + s.QueryWidth + g * hs; // key of position t2 at keys + t2·W
        int values = keys + s.KvWidth;
        int attRow = row * s.T;

        float localMax = float.NegativeInfinity;
        for (int t2 = tid; t2 <= t; t2 += threads)
        {
            float score = 0f;
            int k = keys + t2 * W;
            for (int d = 0; d < hs; d++)
                score += qkv[q + d] * qkv[k + d];
            score *= s.Scale;
            att[attRow + t2] = score;
            localMax = Math.Max(localMax, score);
        }
        float rowMax = GroupMax(localMax, slots);

        float localSum = 0f;
        for (int t2 = tid; t2 <= t; t2 += threads)
        {
            float e = MathF.Exp(att[attRow + t2] - rowMax);
            att[attRow + t2] = e;
            localSum += e;
        }
        float inverse = 1f / GroupSum(localSum, slots);

        for (int t2 = tid; t2 < s.T; t2 += threads)
            att[attRow + t2] = t2 <= t ? att[attRow + t2] * inverse : 0f;
        Group.Barrier(); // the whole row of probabilities is read by every thread below

        int outRow = (b * s.T + t) * s.QueryWidth + h * hs;
        for (int d = tid; d < hs; d += threads)
        {
            float acc = 0f;
            for (int t2 = 0; t2 <= t; t2++)
                acc += att[attRow + t2] * qkv[values + t2 * W + d];
            output[outRow + d] = acc;
        }
    }

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = AttentionKernels.RowThreads)]
    public static void BackwardRows(ArrayView<float> dqkv, ArrayView<float> scratch, ArrayView<float> doutput, ArrayView<float> qkv, ArrayView<float> att, AttentionShape s)
    {
        var slots = SharedMemory.Allocate<float>(ReductionSlots);
        int tid = Group.IdxX, threads = Group.DimX;
        int row = Grid.IdxX;
        int t = row % s.T, bh = row / s.T;
        int h = bh % s.NH, b = bh / s.NH;
        int g = h / s.Group;
        int W = s.Width, hs = s.HeadSize;
        int keys = b * s.T * W + s.QueryWidth + g * hs;
        int values = keys + s.KvWidth;
        int dout = (b * s.T + t) * s.QueryWidth + h * hs;
        int attRow = row * s.T;

        // datt[t2] = dout[t]·v[t2], and the softmax backward's Σ att·datt.
        float localDot = 0f;
        for (int t2 = tid; t2 <= t; t2 += threads)
        {
            float datt = 0f;
            int v = values + t2 * W;
            for (int d = 0; d < hs; d++)
                datt += doutput[dout + d] * qkv[v + d];
            scratch[attRow + t2] = datt;
            localDot += att[attRow + t2] * datt;
        }
        float dot = GroupSum(localDot, slots);

        // dpre = att·(datt − Σ att·datt), without the 1/√hs scale (applied to dq and dk).
        for (int t2 = tid; t2 <= t; t2 += threads)
            scratch[attRow + t2] = att[attRow + t2] * (scratch[attRow + t2] - dot);
        Group.Barrier();

        int dq = (b * s.T + t) * W + h * hs;
        for (int d = tid; d < hs; d += threads)
        {
            float acc = 0f;
            for (int t2 = 0; t2 <= t; t2++)
                acc += scratch[attRow + t2] * qkv[keys + t2 * W + d];
            dqkv[dq + d] += s.Scale * acc;
        }
    }

    /// <summary>
    /// One thread per (b,g,t2,d), g a key/value head; runs after <see cref="BackwardRows"/> has filled scratch
    /// with dpre. The thread sums over g's query heads in order, then over t ≥ t2, and owns its dk and dv element.
    /// </summary>
    [GpuKernel]
    public static void BackwardColumns(Index1D index, ArrayView<float> dqkv, ArrayView<float> scratch, ArrayView<float> doutput, ArrayView<float> qkv, ArrayView<float> att, AttentionShape s)
    {
        int hs = s.HeadSize;
        int d = index % hs;
        int column = index / hs;               // (b·NKV + g)·T + t2
        int t2 = column % s.T, bg = column / s.T;
        int g = bg % s.NKV, b = bg / s.NKV;
        int W = s.Width;

        float dk = 0f, dv = 0f;
        for (int h = g * s.Group; h < (g + 1) * s.Group; h++)
        {
            int queries = b * s.T * W + h * hs + d;
            int douts = b * s.T * s.QueryWidth + h * hs + d;
            int block = (b * s.NH + h) * s.T * s.T;
            for (int t = t2; t < s.T; t++)
            {
                int at = block + t * s.T + t2;
                dk += scratch[at] * qkv[queries + t * W];
                dv += att[at] * doutput[douts + t * s.QueryWidth];
            }
        }
        int k = (b * s.T + t2) * W + s.QueryWidth + g * hs + d;
        dqkv[k] += s.Scale * dk;
        dqkv[k + s.KvWidth] += dv;
    }

    /// <summary>One thread per (b,t,j), j &lt; 2·NKV·hs: kvCache[b,t,j] = qkv[b,t,NH·hs + j].</summary>
    [GpuKernel]
    public static void KvCacheStore(Index1D index, ArrayView<float> kvCache, ArrayView<float> qkv, AttentionShape s)
    {
        int kv2 = 2 * s.KvWidth;
        int j = index % kv2;
        int bt = index / kv2;
        int t = bt % s.T, b = bt / s.T;
        kvCache[(b * s.MaxT + t) * kv2 + j] = qkv[bt * s.Width + s.QueryWidth + j];
    }

    [GpuKernel(ExplicitlyGrouped = true, GroupSize = AttentionKernels.RowThreads)]
    public static void Decode(ArrayView<float> output, ArrayView<float> kvCache, ArrayView<float> qkv, ArrayView<int> positions, AttentionShape s)
    {
        var slots = SharedMemory.Allocate<float>(ReductionSlots);
        var chunk = SharedMemory.Allocate<float>(DecodeChunk);
        int tid = Group.IdxX, threads = Group.DimX;
        int bh = Grid.IdxX;
        int h = bh % s.NH, b = bh / s.NH;
        int g = h / s.Group;
        int hs = s.HeadSize, kv2 = 2 * s.KvWidth;
        int pos = positions[b];
        int outRow = b * s.QueryWidth + h * hs;

        // Positions live on the device, so the host cannot check them without a sync: an invalid
        // one poisons this head's output instead of indexing outside the cache. (Uniform per group.)
        if (pos < 0 || pos >= s.MaxT)
        {
            for (int d = tid; d < hs; d += threads)
                output[outRow + d] = float.NaN;
            return;
        }

        int q = b * s.Width + h * hs;
        int newKey = b * s.Width + s.QueryWidth + g * hs;
        int cache = b * s.MaxT * kv2 + g * hs;   // key of row t2 at cache + t2·kv2, value at + NKV·hs
        // Every group of this key/value head writes the same values: the race is between equal stores.
        for (int d = tid; d < hs; d += threads)
        {
            kvCache[cache + pos * kv2 + d] = qkv[newKey + d];
            kvCache[cache + pos * kv2 + s.KvWidth + d] = qkv[newKey + s.KvWidth + d];
        }
        Group.Barrier();

        float runningMax = float.NegativeInfinity, runningSum = 0f;
        for (int start = 0; start <= pos; start += DecodeChunk)
        {
            int count = Math.Min(DecodeChunk, pos + 1 - start);
            float localMax = float.NegativeInfinity;
            for (int i = tid; i < count; i += threads)
            {
                int k = cache + (start + i) * kv2;
                float score = 0f;
                for (int d = 0; d < hs; d++)
                    score += qkv[q + d] * kvCache[k + d];
                score *= s.Scale;
                chunk[i] = score;
                localMax = Math.Max(localMax, score);
            }
            float newMax = Math.Max(runningMax, GroupMax(localMax, slots));
            float correction = MathF.Exp(runningMax - newMax); // 0 on the first chunk

            float localSum = 0f;
            for (int i = tid; i < count; i += threads)
            {
                float e = MathF.Exp(chunk[i] - newMax);
                chunk[i] = e;
                localSum += e;
            }
            runningSum = runningSum * correction + GroupSum(localSum, slots); // its barriers publish chunk
            runningMax = newMax;

            for (int d = tid; d < hs; d += threads)
            {
                float acc = start == 0 ? 0f : output[outRow + d] * correction;
                int v = cache + start * kv2 + s.KvWidth + d;
                for (int i = 0; i < count; i++)
                    acc += chunk[i] * kvCache[v + i * kv2];
                output[outRow + d] = acc;
            }
            Group.Barrier(); // chunk is overwritten by the next iteration
        }

        float inverse = 1f / runningSum;
        for (int d = tid; d < hs; d += threads)
            output[outRow + d] *= inverse;
    }

    // ---- group reductions (1-D groups): a shuffle tree inside each warp, one shared slot per warp ----

    private static float GroupSum(float value, ArrayView<float> slots)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
            value += Warp.ShuffleXor(value, offset);
        if (Warp.LaneIdx == 0) slots[Warp.WarpIdx] = value;
        Group.Barrier();
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        float total = 0f;
        for (int w = 0; w < warps; w++)
            total += slots[w];
        Group.Barrier(); // the slots may be reused by the next reduction
        return total;
    }

    private static float GroupMax(float value, ArrayView<float> slots)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
            value = Math.Max(value, Warp.ShuffleXor(value, offset));
        if (Warp.LaneIdx == 0) slots[Warp.WarpIdx] = value;
        Group.Barrier();
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        float result = float.NegativeInfinity;
        for (int w = 0; w < warps; w++)
            result = Math.Max(result, slots[w]);
        Group.Barrier();
        return result;
    }
}

/// <summary>
/// Loads the attention kernels once and launches them with IOps semantics (shapes checked on the host first).
/// </summary>
public sealed class AttentionLauncher
{
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape> _forwardRows;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape> _backwardRows;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape> _backwardColumns;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, AttentionShape> _kvCacheStore;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionShape> _decode;

    public AttentionLauncher(Accelerator accelerator)
    {
        if (accelerator.MaxNumThreadsPerGroup < AttentionKernels.RowThreads || AttentionKernels.RowThreads % accelerator.WarpSize != 0)
            throw new NotSupportedException(
                $"attention kernels need groups of {AttentionKernels.RowThreads} threads in whole warps; {accelerator.Name} has warp {accelerator.WarpSize}, max group {accelerator.MaxNumThreadsPerGroup}");
        _forwardRows = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.ForwardRows);
        _backwardRows = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.BackwardRows);
        _backwardColumns = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.BackwardColumns);
        _kvCacheStore = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.KvCacheStore);
        _decode = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionShape>(AttentionKernels.Decode);
    }

    /// <summary>output (B,T,NH·hs), att (B,NH,T,T) softmax probabilities, from qkv (B,T,(NH+2·NKV)·hs).</summary>
    public void Forward(ArrayView<float> output, ArrayView<float> att, ArrayView<float> qkv, int B, int T, int NH, int NKV, int hs)
    {
        const string op = "AttentionForward";
        var shape = Shape(op, B, T, NH, NKV, hs, maxT: T);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * T * shape.QueryWidth);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * shape.Width);
        _forwardRows(RowConfig(B * NH * T), output, att, qkv, shape);
    }

    /// <summary>dqkv (B,T,(NH+2·NKV)·hs) += gradient; scratch (B,NH,T,T) is overwritten.</summary>
    public void Backward(ArrayView<float> dqkv, ArrayView<float> scratch, ArrayView<float> doutput, ArrayView<float> qkv, ArrayView<float> att, int B, int T, int NH, int NKV, int hs)
    {
        const string op = "AttentionBackward";
        var shape = Shape(op, B, T, NH, NKV, hs, maxT: T);
        OpShapes.AtLeast(op, "dqkv", dqkv.Length, (long)B * T * shape.Width);
        OpShapes.AtLeast(op, "scratch", scratch.Length, (long)B * NH * T * T);
        OpShapes.AtLeast(op, "doutput", doutput.Length, (long)B * T * shape.QueryWidth);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * shape.Width);
        OpShapes.AtLeast(op, "att", att.Length, (long)B * NH * T * T);
        _backwardRows(RowConfig(B * NH * T), dqkv, scratch, doutput, qkv, att, shape);
        _backwardColumns(B * T * shape.KvWidth, dqkv, scratch, doutput, qkv, att, shape); // (b,g,t2,d): B·NKV·T·hs threads
    }

    /// <summary>kvCache (B,maxT,2·NKV·hs) rows t &lt; T = the k|v parts of qkv (B,T,(NH+2·NKV)·hs).</summary>
    public void KvCacheStore(ArrayView<float> kvCache, ArrayView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT)
    {
        const string op = "KvCacheStore";
        var shape = Shape(op, B, T, NH, NKV, hs, maxT);
        if (T > maxT) throw new ArgumentException($"{op}: T={T} exceeds the cache length maxT={maxT}");
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * 2 * shape.KvWidth);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * T * shape.Width);
        _kvCacheStore(B * T * 2 * shape.KvWidth, kvCache, qkv, shape);
    }

    /// <summary>
    /// Stores this token's k,v (qkv (B,(NH+2·NKV)·hs)) in kvCache row (b, positions[b]) and writes output (B,NH·hs) =
    /// attention over cache rows 0..positions[b]. A position outside [0, maxT) yields NaN outputs.
    /// </summary>
    public void Decode(ArrayView<float> output, ArrayView<float> kvCache, ArrayView<float> qkv, ArrayView<int> positions, int B, int NH, int NKV, int hs, int maxT)
    {
        const string op = "AttentionDecode";
        var shape = Shape(op, B, 1, NH, NKV, hs, maxT);
        OpShapes.AtLeast(op, "output", output.Length, (long)B * shape.QueryWidth);
        OpShapes.AtLeast(op, "kvCache", kvCache.Length, (long)B * maxT * 2 * shape.KvWidth);
        OpShapes.AtLeast(op, "qkv", qkv.Length, (long)B * shape.Width);
        OpShapes.AtLeast(op, "positions", positions.Length, B);
        _decode(RowConfig(B * NH), output, kvCache, qkv, positions, shape);
    }

    private static AttentionShape Shape(string op, int B, int T, int NH, int NKV, int hs, int maxT)
    {
        OpShapes.Positive(op, "B", B);
        OpShapes.Positive(op, "T", T);
        OpShapes.Positive(op, "maxT", maxT);
        int width = OpShapes.AttentionHeads(op, NH, NKV, hs);
        return new AttentionShape
        {
            B = B, T = T, NH = NH, NKV = NKV, HeadSize = hs, Group = NH / NKV,
            QueryWidth = NH * hs, KvWidth = NKV * hs, Width = width,
            Scale = 1f / MathF.Sqrt(hs), MaxT = maxT,
        };
    }

    private static KernelConfig RowConfig(int groups) => new(new Index1D(groups), new Index1D(AttentionKernels.RowThreads));
}
