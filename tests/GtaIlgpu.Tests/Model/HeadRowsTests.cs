using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>
/// The LM head restricted to the positions with a target (Activations.SetHeadRows) gives the same bits
/// as the full head on every backend: the listed logits, the loss, log-probabilities and every gradient.
/// </summary>
[Collection(IlgpuCollection.Name)]
public class HeadRowsTests(IlgpuFixture ilgpu)
{
    // C and V straddle the CPU microkernel's 16-wide vectors; B·T = 26 rows, 9 of them with a target.
    private static readonly ModelConfig Config = new(Layers: 2, Channels: 16, Heads: 2, VocabSize: 37, MaxSequence: 16);
    private const int B = 2, T = 13;

    private sealed record Pass(float[] Logits, float Loss, float[] LogProbs, float[] Gradients);

    private static int[] Targets()
    {
        var targets = Enumerable.Repeat(-1, B * T).ToArray();
        var tokens = ModelTests.RandomTokens(B * T, Config.VocabSize, 9);
        // Completion-like runs: the end of each row, and one isolated position.
        foreach (int p in new[] { 2, 8, 9, 10, 11, T + 7, T + 8, T + 9, T + 12 }) targets[p] = tokens[p];
        return targets;
    }

    private static Pass Run(IBackend backend, bool restrict)
    {
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(23);
        using var acts = new Activations(backend, Config, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, Config.VocabSize, 8));
        var targets = Targets();
        loss.SetTargets(targets);
        if (restrict) acts.SetHeadRows(Enumerable.Range(0, B * T).Where(i => targets[i] >= 0).ToArray());
        model.Forward(acts, inputs.View);
        var logits = backend.ToArray(acts.Logits);
        float value = loss.Compute(acts, withGradient: true);
        var logProbs = loss.LogProbs.ToArray();
        model.ZeroGradients();
        model.Backward(acts, inputs.View);
        // Twice: the second pass reuses the head's scratch and the stale rows of the first.
        model.Forward(acts, inputs.View);
        loss.Compute(acts, withGradient: true);
        model.Backward(acts, inputs.View);
        return new Pass(logits, value, logProbs, backend.ToArray(model.Gradients.View));
    }

    private static void AssertSameBits(IBackend backend)
    {
        var full = Run(backend, restrict: false);
        var restricted = Run(backend, restrict: true);
        var targets = Targets();
        int V = Config.VocabSize;
        for (int p = 0; p < B * T; p++)
        {
            if (targets[p] < 0) continue;
            for (int v = 0; v < V; v++)
                Assert.True(full.Logits[p * V + v] == restricted.Logits[p * V + v], $"logit ({p},{v}): {full.Logits[p * V + v]:R} vs {restricted.Logits[p * V + v]:R}");
        }
        Assert.Equal(full.Loss, restricted.Loss);
        Assert.Equal(full.LogProbs, restricted.LogProbs);
        Assert.Contains(full.Gradients, g => g != 0);
        for (int i = 0; i < full.Gradients.Length; i++)
            Assert.True(full.Gradients[i] == restricted.Gradients[i], $"gradient[{i}]: {full.Gradients[i]:R} vs {restricted.Gradients[i]:R}");
    }

    [Fact]
    public void Reference_backend_gives_the_same_bits() { using var backend = new ReferenceBackend(); AssertSameBits(backend); }

    [Fact]
    public void Cpu_backend_gives_the_same_bits() { using var backend = new CpuBackend(); AssertSameBits(backend); }

    [Fact]
    public void Ilgpu_kernels_give_the_same_bits() => AssertSameBits(ilgpu.Backend);

    [Fact]
    public void An_empty_list_computes_no_logits_and_bad_lists_are_refused()
    {
        using var backend = new CpuBackend();
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(1);
        using var acts = new Activations(backend, Config, B, T, withGradients: false);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, Config.VocabSize, 3));
        backend.Upload(acts.Logits, Enumerable.Repeat(7f, B * T * Config.VocabSize).ToArray());
        acts.SetHeadRows([]);
        model.Forward(acts, inputs.View);
        Assert.All(backend.ToArray(acts.Logits), x => Assert.Equal(7f, x));
        acts.UseAllHeadRows();
        model.Forward(acts, inputs.View);
        Assert.DoesNotContain(7f, backend.ToArray(acts.Logits));

        Assert.Contains("ascending", Assert.Throws<ArgumentException>(() => acts.SetHeadRows([3, 3])).Message);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => acts.SetHeadRows([B * T])).Message);
        Assert.Contains("outside", Assert.Throws<ArgumentException>(() => acts.SetHeadRows([-1])).Message);
    }
}
