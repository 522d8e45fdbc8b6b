using GtaIlgpu.Benchmarking;

namespace GtaIlgpu.Tests.Benchmarks;

/// <summary>The occupancy calculator against cases worked by hand from NVIDIA's rules (see SmLimits).</summary>
public sealed class OccupancyTests
{
    private static readonly SmLimits A100 = SmLimits.Sm80, H100 = SmLimits.Sm90;

    [Fact]
    public void Gemm_at_48_registers_is_register_limited_to_five_groups()
    {
        // 48 regs × 32 lanes = 1536 per warp (a multiple of 256); 16384 per sub-partition / 1536 = 10 warps,
        // × 4 = 40 warps = 5 groups of 8. Shared: 8704 + 1024 = 9728 B → 17 groups; warps: 64 / 8 = 8.
        var o = Occupancy.Compute(A100, groupSize: 256, registersPerThread: 48, staticSharedBytes: 8704);
        Assert.Equal(5, o.GroupsPerSm);
        Assert.Equal(40, o.ActiveWarps);
        Assert.Equal(0.625, o.Occupancy);
        Assert.Equal(OccupancyLimiter.Registers, o.LimitedBy);
        Assert.Equal((8, 5, 17, 32), (o.GroupsByWarps, o.GroupsByRegisters, o.GroupsBySharedMemory, o.GroupsByGroupLimit));
    }

    [Fact]
    public void Registers_round_up_to_256_per_warp()
    {
        // 33 regs × 32 = 1056 → 1280 per warp: 12 warps per sub-partition, 48 warps, 6 groups of 8 = 75%
        // (unrounded, 16384 / 1056 = 15 warps per sub-partition would allow 7 groups = 87.5%).
        var o = Occupancy.Compute(H100, 256, 33, 8704);
        Assert.Equal(6, o.GroupsPerSm);
        Assert.Equal(0.75, o.Occupancy);
    }

    [Fact]
    public void Register_file_is_split_into_four_sub_partitions()
    {
        // 192 regs × 32 = 6144 per warp. Per sub-partition 16384 / 6144 = 2 warps, so 8 warps per SM;
        // one undivided 64K file would hold 10. One-warp groups: 8 groups, 8 warps = 12.5%.
        var o = Occupancy.Compute(A100, 32, 192, 0);
        Assert.Equal(8, o.GroupsPerSm);
        Assert.Equal(0.125, o.Occupancy);
        Assert.Equal(OccupancyLimiter.Registers, o.LimitedBy);
    }

    [Fact]
    public void A_group_whose_registers_exceed_the_per_group_file_cannot_launch()
    {
        // 1024 threads × 72 regs: 2304 per warp × 32 warps = 73728 > 65536 registers per block.
        Assert.Equal(0, Occupancy.Compute(A100, 1024, 72, 0).GroupsPerSm);
        // At 64 regs it fits exactly: 2048 × 32 = 65536, one group of 32 warps = 50%.
        var fits = Occupancy.Compute(A100, 1024, 64, 0);
        Assert.Equal(1, fits.GroupsPerSm);
        Assert.Equal(0.5, fits.Occupancy);
        Assert.Equal(0, Occupancy.Compute(A100, 32, 256, 0).GroupsPerSm); // above 255 registers per thread
    }

    [Fact]
    public void Shared_memory_limit_differs_between_A100_and_H100()
    {
        // 40 KB + 1 KB reserved = 41984 B per group (a multiple of 128). A100: 167936 / 41984 = 4 groups
        // of 4 warps = 25%; H100: 233472 / 41984 = 5 groups = 31.25%.
        var a100 = Occupancy.Compute(A100, 128, 32, 40 * 1024);
        var h100 = Occupancy.Compute(H100, 128, 32, 40 * 1024);
        Assert.Equal((4, 0.25, OccupancyLimiter.SharedMemory), (a100.GroupsPerSm, a100.Occupancy, a100.LimitedBy));
        Assert.Equal((5, 0.3125, OccupancyLimiter.SharedMemory), (h100.GroupsPerSm, h100.Occupancy, h100.LimitedBy));
    }

    [Fact]
    public void Shared_memory_is_allocated_in_128_byte_units_plus_the_reserved_kilobyte()
    {
        // 20 000 B + 1024 = 21024 → 21120 B (165 units): 167936 / 21120 = 7 groups. Without the rounding
        // and reservation, 167936 / 20000 would give 8.
        Assert.Equal(7, Occupancy.Compute(A100, 64, 16, 20_000).GroupsBySharedMemory);
        // More than 48 KB per group needs the opt-in; up to 163 KB on A100, beyond that no launch.
        Assert.Equal(1, Occupancy.Compute(A100, 64, 16, 0, dynamicSharedBytes: 100 * 1024).GroupsPerSm);
        Assert.Equal(0, Occupancy.Compute(A100, 64, 16, 0, dynamicSharedBytes: 164 * 1024).GroupsPerSm);
        Assert.Equal(1, Occupancy.Compute(H100, 64, 16, 0, dynamicSharedBytes: 164 * 1024).GroupsPerSm);
    }

    [Fact]
    public void Small_groups_hit_the_32_groups_per_SM_limit()
    {
        var o = Occupancy.Compute(H100, 32, 16, 0);
        Assert.Equal((32, 32, 0.5, OccupancyLimiter.GroupsPerSm), (o.GroupsPerSm, o.ActiveWarps, o.Occupancy, o.LimitedBy));
        Assert.Equal(1.0, Occupancy.Compute(H100, 64, 16, 0).Occupancy); // 32 groups of 2 warps fill 64
    }

    [Fact]
    public void A_group_size_that_does_not_divide_64_warps_wastes_slots()
    {
        // 640 threads = 20 warps: 3 groups = 60 warps = 93.75%, limited by warp slots.
        var o = Occupancy.Compute(A100, 640, 16, 0);
        Assert.Equal((3, 60, OccupancyLimiter.GroupSize), (o.GroupsPerSm, o.ActiveWarps, o.LimitedBy));
        Assert.Equal(0, Occupancy.Compute(A100, 1056, 16, 0).GroupsPerSm); // above 1024 threads per group
    }

    [Fact]
    public void Full_occupancy_at_32_registers_and_256_threads()
    {
        // 1024 per warp, 16 warps per sub-partition = 64 warps = 8 groups; warps also allow 8.
        var o = Occupancy.Compute(A100, 256, 32, 0);
        Assert.Equal((8, 1.0, OccupancyLimiter.GroupSize | OccupancyLimiter.Registers), (o.GroupsPerSm, o.Occupancy, o.LimitedBy));
    }

    [Theory]
    [InlineData(32, 1024)] // 1024 threads reach 2048 per SM (2 groups): the first size tried wins
    [InlineData(48, 640)]  // 40 warps fit; 1024…672 hold one group (≤ 1024 threads), 640 is the largest with 2 groups = 1280
    [InlineData(40, 768)]  // 48 warps fit; 768 = 24 warps, 2 groups = 1536 threads
    public void Driver_group_size_is_the_largest_with_the_most_resident_threads(int registers, int expected)
    {
        Assert.Equal(expected, Occupancy.MaxPotentialGroupSize(A100, registers, 0));
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Occupancy.Compute(A100, 0, 32, 0));
        Assert.Throws<ArgumentException>(() => Occupancy.Compute(A100, 256, -1, 0));
    }
}
