using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Gta;

public class GradientConstraintTests
{
    private static (float[] Result, ConstraintResult Info) Apply(float[] sft, float[] rl, ConstraintKind kind, float l1 = 1, float l2 = 1)
    {
        using var backend = new CpuBackend();
        using var a = backend.AllocateFrom<float>(sft);
        using var b = backend.AllocateFrom<float>(rl);
        var info = GradientConstraint.Apply(backend.Ops, a.View, b.View, kind, l1, l2);
        return (backend.ToArray(a.View), info);
    }

    [Fact]
    public void Gate_drops_the_sft_gradient_exactly_when_the_cosine_is_negative()
    {
        float[] sft = [1f, 2f, -3f], rl = [-1f, 0.5f, 2f];
        var (result, info) = Apply(sft, rl, ConstraintKind.Gate, l1: 0.7f, l2: 1.5f);
        Assert.True(info.Cosine < 0);
        Assert.True(info.SftDropped);
        Assert.Equal(rl.Select(x => 1.5f * x).ToArray(), result);
    }

    [Fact]
    public void Gate_sums_weighted_gradients_when_they_agree()
    {
        float[] sft = [1f, 2f, 3f], rl = [0.5f, -0.1f, 1f];
        var (result, info) = Apply(sft, rl, ConstraintKind.Gate, l1: 2f, l2: 3f);
        Assert.False(info.SftDropped);
        double cos = (0.5 - 0.2 + 3) / (Math.Sqrt(14) * Math.Sqrt(0.25 + 0.01 + 1));
        Assert.Equal(cos, info.Cosine, 5);
        for (int i = 0; i < 3; i++) Assert.Equal(2 * sft[i] + 3 * rl[i], result[i], 5);
    }

    [Fact]
    public void PCGrad_removes_the_conflicting_component_of_the_sft_gradient()
    {
        float[] sft = [1f, 1f], rl = [-1f, 0f];
        var (result, info) = Apply(sft, rl, ConstraintKind.PCGrad);
        Assert.False(info.SftDropped);
        // g_s' = g_s − (g_s·g_r/|g_r|²)·g_r = (1,1) − (−1)·(−1,0) = (0, 1); plus g_r = (−1, 1).
        Assert.Equal(-1f, result[0], 6);
        Assert.Equal(1f, result[1], 6);
        // The projected SFT part is orthogonal to g_r.
        Assert.Equal(0f, (result[0] - rl[0]) * rl[0] + (result[1] - rl[1]) * rl[1], 6);
    }

    [Fact]
    public void None_is_the_plain_weighted_sum_even_in_conflict()
    {
        float[] sft = [1f, 1f], rl = [-1f, 0f];
        var (result, info) = Apply(sft, rl, ConstraintKind.None, 1f, 1f);
        Assert.True(info.Cosine < 0);
        Assert.Equal([0f, 1f], result);
    }
}
