using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;

namespace GtaIlgpu.Tests.Gta;

/// <summary>The trainer's batch workspaces stay within what the memory plan counts, however many batch shapes a run meets.</summary>
public class WorkspacePoolTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void The_pool_never_holds_more_than_one_full_window_workspace(int microRows)
    {
        var config = ModelConfig.LlamaTiny(40, maxSequence: 96);
        using var backend = new CpuBackend();
        using var pool = new WorkspacePool(backend, config, microRows, new ActivationOptions(Recompute: true));
        int device = microRows == 0 ? 8 : microRows;
        long budget = Activations.Floats(config, device, config.MaxSequence, true, new ActivationOptions(Recompute: true));
        var seen = new HashSet<BatchWorkspace>();
        foreach (int length in new[] { 10, 40, 90, 17, 33, 65, 10, 96, 50 })
        {
            var w = pool.Get(8, length);
            seen.Add(w);
            Assert.Equal(device, w.Acts.Batch);
            Assert.True(w.Sequence >= length);
            Assert.True(pool.Floats <= budget, $"after a batch of {length}: {pool.Floats} floats held, the plan counts {budget}");
        }
        // Shapes that fit together are kept (the same workspace comes back), so a steady run allocates nothing.
        var short1 = pool.Get(8, 10);
        var middle = pool.Get(8, 40);
        Assert.Same(short1, pool.Get(8, 12));
        Assert.Same(middle, pool.Get(8, 47));
    }
}
