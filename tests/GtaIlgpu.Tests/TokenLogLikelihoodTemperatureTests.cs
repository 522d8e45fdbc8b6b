using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests;

/// <summary>
/// The token log-likelihood at a sampling temperature with the policy's entropy (the GRPO ratio, KL and
/// --top-entropy-quantile): the scalar reference against hand values and finite differences through the
/// 1/τ scaling, and τ = 1 bit for bit equal to the plain op. Every implementation against the reference at
/// a temperature: Parity/TokenLogLikelihoodParity.
/// </summary>
public sealed class TokenLogLikelihoodTemperatureTests
{
    private static readonly ReferenceOps Ref = new();
    private static readonly CpuOps Cpu = new();

    private static HostBuffer<T> Buffer<T>(T[] values) where T : unmanaged
    {
        var buffer = new HostBuffer<T>(values.Length);
        values.CopyTo(buffer.Data, 0);
        return buffer;
    }

    private static float[] Random(Random rng, int n, float scale)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = scale * (2f * rng.NextSingle() - 1f);
        return x;
    }

    [Fact]
    public void Reference_matches_hand_values_at_temperature_one_half()
    {
        // Logits (0, ln 2·0.5, ln 3·0.5) at τ = 0.5 → z = (0, ln 2, ln 3): p = (1, 2, 3)/6.
        float[] logits = [0f, MathF.Log(2f) * 0.5f, MathF.Log(3f) * 0.5f];
        var lp = new HostBuffer<float>(1);
        var h = new HostBuffer<float>(1);
        var z = Buffer(logits);
        var grad = Buffer((float[])logits.Clone());
        Ref.TokenLogLikelihood(lp.View, h.View, z.View, Buffer(new[] { 1 }).View, default, 0.5f, 1, 3);
        Assert.Equal(Math.Log(2.0 / 6), lp.Data[0], 6);
        double[] p = [1.0 / 6, 2.0 / 6, 3.0 / 6];
        Assert.Equal(-p.Sum(q => q * Math.Log(q)), h.Data[0], 6);
        // Gradient of −c·logp w.r.t. the raw logits: (c/τ)(p − onehot) with c = 3, τ = 0.5.
        Ref.TokenLogLikelihood(lp.View, default, grad.View, Buffer(new[] { 1 }).View, Buffer(new[] { 3f }).View, 0.5f, 1, 3);
        Assert.Equal(6 * p[0], grad.Data[0], 5);
        Assert.Equal(6 * (p[1] - 1), grad.Data[1], 5);
        Assert.Equal(6 * p[2], grad.Data[2], 5);
    }

    [Theory]
    [InlineData(0.7f)]
    [InlineData(1.3f)]
    public void Reference_gradient_is_the_derivative_through_the_temperature(float tau)
    {
        const int N = 3, V = 5;
        var rng = new Random(21);
        var logits = Random(rng, N * V, 2f);
        var targets = Buffer(new[] { 4, -1, 0 });
        float[] c = [0.8f, 1.1f, -0.6f];
        var lp = new HostBuffer<float>(N);
        var input = Buffer(logits);
        double Loss()
        {
            Ref.TokenLogLikelihood(lp.View, default, input.View, targets.View, default, tau, N, V);
            double loss = 0;
            for (int n = 0; n < N; n++) loss -= c[n] * (double)lp.Data[n];
            return loss;
        }
        var gradient = Buffer((float[])logits.Clone());
        Ref.TokenLogLikelihood(new HostBuffer<float>(N).View, default, gradient.View, targets.View, Buffer(c).View, tau, N, V);
        for (int i = 0; i < logits.Length; i++)
        {
            float original = input.Data[i];
            input.Data[i] = original + 1e-3f; double plus = Loss();
            input.Data[i] = original - 1e-3f; double minus = Loss();
            input.Data[i] = original;
            double numeric = (plus - minus) / 2e-3;
            Assert.True(Math.Abs(numeric - gradient.Data[i]) <= 2e-3 + 2e-3 * Math.Abs(numeric), $"dlogits[{i}] at τ={tau}: analytic {gradient.Data[i]}, numeric {numeric}");
        }
    }

    [Fact]
    public void Temperature_one_gives_the_plain_ops_results_bit_for_bit_with_or_without_entropy()
    {
        const int N = 4, V = 300;
        var rng = new Random(5);
        var logitValues = Random(rng, N * V, 5f);
        var targets = Buffer(new[] { 3, 299, -1, 0 });
        var coefficients = Buffer(Random(rng, N, 2f));
        var plain = Buffer((float[])logitValues.Clone()); var scaled = Buffer((float[])logitValues.Clone());
        var lpPlain = new HostBuffer<float>(N); var lpScaled = new HostBuffer<float>(N); var h = new HostBuffer<float>(N);
        Cpu.TokenLogLikelihood(lpPlain.View, plain.View, targets.View, default, N, V);
        Cpu.TokenLogLikelihood(lpScaled.View, h.View, scaled.View, targets.View, default, 1f, N, V);
        Assert.Equal(lpPlain.Data, lpScaled.Data);
        Cpu.TokenLogLikelihood(lpPlain.View, plain.View, targets.View, coefficients.View, N, V);
        Cpu.TokenLogLikelihood(lpScaled.View, default, scaled.View, targets.View, coefficients.View, 1f, N, V);
        Assert.Equal(plain.Data, scaled.Data);
        Assert.Throws<ArgumentException>(() => Cpu.TokenLogLikelihood(lpScaled.View, default, scaled.View, targets.View, default, 0f, N, V));
    }
}
