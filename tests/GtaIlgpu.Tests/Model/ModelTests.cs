using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>Whole-model checks on the scalar reference: gradient, decode path, layout.</summary>
public class ModelTests
{
    internal static readonly ModelConfig TinyConfig = new(Layers: 2, Channels: 8, Heads: 2, VocabSize: 11, MaxSequence: 8);

    internal static int[] RandomTokens(int count, int vocab, ulong seed)
    {
        var rng = new Rng(seed);
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = rng.NextInt(vocab);
        return tokens;
    }

    /// <summary>Mean next-token loss of the model on (inputs, targets); optionally leaves gradients in model.Gradients.</summary>
    internal static float Loss(Transformer model, Activations acts, TokenLoss loss, DeviceBuffer<int> inputs, bool backward)
    {
        model.Forward(acts, inputs.View);
        float value = loss.Compute(acts, withGradient: backward);
        if (backward)
        {
            model.ZeroGradients();
            model.Backward(acts, inputs.View);
        }
        return value;
    }

    [Fact]
    public void Whole_model_gradient_matches_finite_differences()
    {
        using var backend = new ReferenceBackend();
        using var model = new Transformer(backend, TinyConfig);
        model.InitializeWeights(7);
        // Larger weights than GPT-2's 0.02 so every path contributes measurably to the loss.
        var p = backend.ToArray(model.Parameters.View);
        var rng = new Rng(3);
        for (int i = 0; i < p.Length; i++) p[i] += (float)(0.3 * rng.NextNormal());
        backend.Upload(model.Parameters.View, p);

        const int B = 2, T = 5;
        using var acts = new Activations(backend, TinyConfig, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(RandomTokens(B * T, TinyConfig.VocabSize, 11));
        var targets = RandomTokens(B * T, TinyConfig.VocabSize, 12);
        targets[3] = -1; // a masked position must not contribute
        loss.SetTargets(targets);

        Loss(model, acts, loss, inputs, backward: true);
        var analytic = backend.ToArray(model.Gradients.View);

        // Probe a few entries of every tensor with central differences.
        const float h = 1e-2f;
        int checkedCount = 0;
        foreach (var tensor in model.Layout.Tensors)
        {
            for (int k = 0; k < 3; k++)
            {
                int index = (int)tensor.Offset + (int)((k * 7919L + 13) % tensor.Length);
                float original = p[index];
                p[index] = original + h; backend.Upload(model.Parameters.View, p);
                double plus = Loss(model, acts, loss, inputs, backward: false);
                p[index] = original - h; backend.Upload(model.Parameters.View, p);
                double minus = Loss(model, acts, loss, inputs, backward: false);
                p[index] = original; backend.Upload(model.Parameters.View, p);
                double numeric = (plus - minus) / (2 * h);
                double tolerance = 2e-3 + 3e-2 * Math.Abs(numeric);
                Assert.True(Math.Abs(analytic[index] - numeric) <= tolerance,
                    $"{tensor.Name}[{index - tensor.Offset}]: backward {analytic[index]:G6}, finite difference {numeric:G6}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 3 * model.Layout.Tensors.Count);
    }

    [Fact]
    public void Decode_steps_over_the_kv_cache_reproduce_the_full_forward_logits()
    {
        using var backend = new ReferenceBackend();
        using var model = new Transformer(backend, TinyConfig);
        model.InitializeWeights(5);
        const int B = 2, T = 6, prefill = 3;
        int V = TinyConfig.VocabSize;
        var tokens = RandomTokens(B * T, V, 21);
        using var full = new Activations(backend, TinyConfig, B, T, withGradients: false);
        using var tokenBuffer = backend.AllocateFrom<int>(tokens);
        model.Forward(full, tokenBuffer.View);
        var expected = backend.ToArray(full.Logits);

        using var cache = new KvCache(backend, TinyConfig, B, TinyConfig.MaxSequence);
        var prefix = new int[B * prefill];
        for (int b = 0; b < B; b++) Array.Copy(tokens, b * T, prefix, b * prefill, prefill);
        using var prefixActs = new Activations(backend, TinyConfig, B, prefill, withGradients: false);
        using var prefixBuffer = backend.AllocateFrom<int>(prefix);
        model.Forward(prefixActs, prefixBuffer.View, cache);

        using var step = new Activations(backend, TinyConfig, B, 1, withGradients: false);
        using var stepTokens = backend.Allocate<int>(B);
        using var positions = backend.Allocate<int>(B);
        for (int t = prefill; t < T; t++)
        {
            var ids = new int[B];
            var pos = new int[B];
            for (int b = 0; b < B; b++) { ids[b] = tokens[b * T + t]; pos[b] = t; }
            backend.Upload(stepTokens.View, ids);
            backend.Upload(positions.View, pos);
            model.DecodeStep(step, cache, stepTokens.View, positions.View);
            var logits = backend.ToArray(step.Logits);
            for (int b = 0; b < B; b++)
                for (int v = 0; v < V; v++)
                    Assert.Equal(expected[(b * T + t) * V + v], logits[b * V + v], 4);
        }
    }

    [Fact]
    public void Layout_is_aligned_and_puts_decayed_tensors_first()
    {
        var layout = new ParameterLayout(new ModelConfig(3, 24, 4, 50, 16));
        long previousEnd = 0;
        foreach (var t in layout.Tensors)
        {
            Assert.Equal(0, t.Offset % ParameterLayout.AlignmentFloats);
            Assert.True(t.Offset >= previousEnd, $"{t.Name} overlaps the tensor before it");
            previousEnd = t.Offset + t.Length;
            Assert.Equal(t.Decay, t.Offset < layout.DecayLength);
        }
        Assert.Equal(24L * 50 + 24 * 16 + 3 * (12L * 24 * 24 + 13 * 24) + 2 * 24, layout.ParameterCount);
    }
}
