namespace GtaIlgpu.Tests.Parity;

/// <summary>AdamW over a flat range, over several steps (bias correction changes with the step).</summary>
public abstract class AdamWParity(OpsFixture fixture)
{
    private const double Atol = 1e-6, Rtol = 1e-5;

    [ParityTheory]
    [InlineData(1, 0f, 1f)]
    [InlineData(7, 0.1f, 0.5f)]
    public void One_step_matches_the_reference(int step, float weightDecay, float gradScale)
    {
        const int n = 45;
        using var t = new Twins(fixture, seed: 70 + step);
        var param = t.Random(n);
        var grad = t.Random(n);
        var m = t.Random(n, scale: 0.1f);
        var v = t.Random(n, scale: 0.005f, offset: 0.005f);
        t.Run((ops, s) => ops.AdamW(s[param], s[grad], s[m], s[v], 1e-3f, 0.9f, 0.95f, 1e-8f, weightDecay, step, gradScale));
        t.AssertClose(param, "param", Atol, Rtol);
        t.AssertClose(m, "m", Atol, Rtol);
        t.AssertClose(v, "v", Atol, Rtol);
        t.AssertClose(grad, "grad (untouched)", 0, 0);
    }

    [ParityFact]
    public void Four_steps_match_the_reference() => FourSteps(1007);

    /// <summary>CpuOps splits 70,001 elements over its threads; the emulators take 4,099.</summary>
    [ParityFact]
    public void Four_steps_at_a_multithreaded_length() => FourSteps(fixture.Size(70_001, 4_099));

    private void FourSteps(int n)
    {
        using var t = new Twins(fixture, seed: n);
        var param = t.Random(n);
        var m = t.Upload(new float[n]);
        var v = t.Upload(new float[n]);
        for (int step = 1; step <= 4; step++)
        {
            var grad = t.Random(n, scale: 3f);
            t.Run((ops, s) => ops.AdamW(s[param], s[grad], s[m], s[v], 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, step, 0.5f));
        }
        t.AssertClose(param, "param", Atol, Rtol);
        t.AssertClose(m, "m", Atol, Rtol);
        t.AssertClose(v, "v", Atol, Rtol);
    }
}
