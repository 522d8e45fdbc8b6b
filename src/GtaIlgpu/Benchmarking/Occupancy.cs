namespace GtaIlgpu.Benchmarking;

/// <summary>
/// Per-multiprocessor limits of one GPU architecture, as NVIDIA's occupancy calculator uses them.
/// Sources: CUDA C++ Programming Guide, "Technical Specifications per Compute Capability"; the
/// "Occupancy" sections of the Ampere and Hopper tuning guides (docs.nvidia.com/cuda/ampere-tuning-guide,
/// docs.nvidia.com/cuda/hopper-tuning-guide): 64 warps (2048 threads), 32 resident blocks and 64K 32-bit
/// registers per SM, at most 255 registers per thread, shared memory up to 164 KB per SM on A100
/// (163 KB per block) and 228 KB on H100 (227 KB per block). The allocation rules (registers per warp
/// rounded up to 256 and split over 4 sub-partitions, shared memory in 128-byte units plus 1 KB
/// reserved per block from compute capability 8.0) are those of cuda_occupancy.h in the CUDA toolkit.
/// </summary>
public sealed record SmLimits
{
    public required string Architecture { get; init; }
    public required string Devices { get; init; }
    public int WarpSize { get; init; } = 32;
    public int MaxThreadsPerSm { get; init; } = 2048;
    public int MaxThreadsPerGroup { get; init; } = 1024;
    public int MaxGroupsPerSm { get; init; } = 32;
    public int RegistersPerSm { get; init; } = 64 * 1024;
    public int MaxRegistersPerThread { get; init; } = 255;
    /// <summary>A warp's registers are allocated in units of this many (regs/thread × 32, rounded up).</summary>
    public int RegisterAllocationUnit { get; init; } = 256;
    /// <summary>The register file is split into this many partitions, each holding whole warps.</summary>
    public int RegisterSubPartitions { get; init; } = 4;
    /// <summary>The largest shared-memory carveout; the driver picks it when shared memory would limit occupancy.</summary>
    public required int SharedBytesPerSm { get; init; }
    /// <summary>Static shared memory per block (and dynamic without the opt-in attribute).</summary>
    public int SharedBytesPerGroup { get; init; } = 48 * 1024;
    public required int SharedBytesPerGroupOptIn { get; init; }
    /// <summary>Shared memory the driver reserves for itself in every block (compute capability ≥ 8.0).</summary>
    public int SharedBytesReservedPerGroup { get; init; } = 1024;
    public int SharedAllocationUnit { get; init; } = 128;

    public int MaxWarpsPerSm => MaxThreadsPerSm / WarpSize;

    /// <summary>Compute capability 8.0.</summary>
    public static readonly SmLimits Sm80 = new()
    {
        Architecture = "sm_80", Devices = "A100",
        SharedBytesPerSm = 164 * 1024, SharedBytesPerGroupOptIn = 163 * 1024,
    };

    /// <summary>Compute capability 9.0 (H200 is an H100 with more memory: the same SM).</summary>
    public static readonly SmLimits Sm90 = new()
    {
        Architecture = "sm_90", Devices = "H100/H200",
        SharedBytesPerSm = 228 * 1024, SharedBytesPerGroupOptIn = 227 * 1024,
    };

    public static readonly IReadOnlyList<SmLimits> Targets = [Sm80, Sm90];
}

/// <summary>What stops more groups from being resident on one SM.</summary>
[Flags]
public enum OccupancyLimiter
{
    None = 0,
    /// <summary>Warp slots: the group size times the groups resident reaches 64 warps (full occupancy when the size divides evenly).</summary>
    GroupSize = 1,
    Registers = 2,
    SharedMemory = 4,
    /// <summary>The 32 resident groups per SM: small groups cannot fill the warp slots.</summary>
    GroupsPerSm = 8,
}

/// <summary>Theoretical occupancy of one launch configuration on one SM.</summary>
/// <param name="GroupsPerSm">Resident groups; 0 when one group does not fit at all.</param>
/// <param name="LimitedBy">Every limit equal to <paramref name="GroupsPerSm"/> (several can bind at once).</param>
public sealed record OccupancyResult(
    int GroupSize, int GroupsPerSm, int ActiveWarps, double Occupancy, OccupancyLimiter LimitedBy,
    int GroupsByWarps, int GroupsByRegisters, int GroupsBySharedMemory, int GroupsByGroupLimit);

/// <summary>
/// NVIDIA's theoretical occupancy (the CUDA occupancy calculator, cuda_occupancy.h), for the default
/// carveout: resident warps per SM over the maximum, where the resident groups are the least of what
/// warp slots, registers, shared memory and the per-SM group limit allow.
/// </summary>
public static class Occupancy
{
    public static OccupancyResult Compute(SmLimits sm, int groupSize, int registersPerThread, int staticSharedBytes, int dynamicSharedBytes = 0)
    {
        if (groupSize <= 0) throw new ArgumentException($"group size must be positive, got {groupSize}");
        if (registersPerThread < 0 || staticSharedBytes < 0 || dynamicSharedBytes < 0)
            throw new ArgumentException($"registers ({registersPerThread}) and shared bytes ({staticSharedBytes} + {dynamicSharedBytes}) must not be negative");

        int warpsPerGroup = CeilDiv(groupSize, sm.WarpSize);
        int byWarps = groupSize > sm.MaxThreadsPerGroup ? 0 : sm.MaxWarpsPerSm / warpsPerGroup;
        int byRegisters = GroupsByRegisters(sm, warpsPerGroup, registersPerThread);
        int byShared = GroupsBySharedMemory(sm, staticSharedBytes + dynamicSharedBytes);
        int byLimit = sm.MaxGroupsPerSm;

        int groups = Math.Min(Math.Min(byWarps, byRegisters), Math.Min(byShared, byLimit));
        var limitedBy = OccupancyLimiter.None;
        if (groups == byWarps) limitedBy |= OccupancyLimiter.GroupSize;
        if (groups == byRegisters) limitedBy |= OccupancyLimiter.Registers;
        if (groups == byShared) limitedBy |= OccupancyLimiter.SharedMemory;
        if (groups == byLimit) limitedBy |= OccupancyLimiter.GroupsPerSm;
        int warps = groups * warpsPerGroup;
        return new OccupancyResult(groupSize, groups, warps, (double)warps / sm.MaxWarpsPerSm, limitedBy,
            byWarps, byRegisters, byShared, byLimit);
    }

    /// <summary>
    /// The group size cuOccupancyMaxPotentialBlockSize returns (what ILGPU's auto-grouped kernels get on
    /// CUDA): trying sizes from the largest down in whole warps, the first one with the most resident threads.
    /// </summary>
    public static int MaxPotentialGroupSize(SmLimits sm, int registersPerThread, int staticSharedBytes)
    {
        int best = 0, bestThreads = 0;
        for (int size = sm.MaxThreadsPerGroup; size > 0; size -= sm.WarpSize)
        {
            int threads = size * Compute(sm, size, registersPerThread, staticSharedBytes).GroupsPerSm;
            if (threads > bestThreads)
            {
                best = size;
                bestThreads = threads;
            }
            if (bestThreads == sm.MaxThreadsPerSm) break;
        }
        return best;
    }

    private static int GroupsByRegisters(SmLimits sm, int warpsPerGroup, int registersPerThread)
    {
        if (registersPerThread > sm.MaxRegistersPerThread) return 0;
        int perWarp = RoundUp(registersPerThread * sm.WarpSize, sm.RegisterAllocationUnit);
        if (perWarp == 0) return int.MaxValue;
        // Warps take registers within one sub-partition each. (cuda_occupancy.h also checks a group against the
        // 64K registers per block; on these targets that equals the SM's file, so a group that fails that check
        // gets 0 here already.)
        int warpsPerPartition = sm.RegistersPerSm / sm.RegisterSubPartitions / perWarp;
        return warpsPerPartition * sm.RegisterSubPartitions / warpsPerGroup;
    }

    private static int GroupsBySharedMemory(SmLimits sm, int sharedBytes)
    {
        int allocated = RoundUp(sharedBytes + sm.SharedBytesReservedPerGroup, sm.SharedAllocationUnit);
        int perGroupLimit = (sharedBytes > sm.SharedBytesPerGroup ? sm.SharedBytesPerGroupOptIn : sm.SharedBytesPerGroup) + sm.SharedBytesReservedPerGroup;
        if (allocated > perGroupLimit) return 0;
        return sm.SharedBytesPerSm / allocated;
    }

    private static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;

    private static int RoundUp(int value, int unit) => CeilDiv(value, unit) * unit;
}
