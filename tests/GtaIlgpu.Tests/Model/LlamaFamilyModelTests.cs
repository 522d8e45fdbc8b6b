using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>Tiny models of every shape the Llama family takes, shared by the whole-model tests.</summary>
public static class FamilyConfigs
{
    private static ModelConfig Llama(int C, int NH, int V = 13, int T = 8) => new(2, C, NH, V, T)
    {
        Family = ModelFamily.Llama, ModelType = "llama", NormEps = 1e-6f,
    };

    /// <summary>
    /// Every case by name: grouped-query attention with an untied head and Llama 3's rope scaling (its
    /// original window of 8 puts the hs = 4 model's two frequencies in the scaled and the blended band);
    /// Qwen2's q/k/v biases over one KV head; Qwen3's q/k norm with head_dim 6 ≠ C/NH = 4; and Llama
    /// with every bias (attention_bias covers o_proj, mlp_bias the MLP).
    /// </summary>
    public static readonly Dictionary<string, ModelConfig> Cases = new()
    {
        ["gpt2"] = new ModelConfig(2, 8, 2, 13, 8),
        ["llama-gqa-untied-llama3"] = Llama(16, 4) with
        {
            KvHeads = 2, Intermediate = 24, TiedEmbeddings = false, RopeTheta = 10000,
            RopeScaling = new RopeScaling(Factor: 4, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8),
        },
        ["qwen2-mqa-bias"] = Llama(16, 4) with { ModelType = "qwen2", KvHeads = 1, Intermediate = 20, AttentionBias = true, RopeTheta = 1e6 },
        ["qwen3-qknorm-headdim"] = Llama(16, 4) with { ModelType = "qwen3", KvHeads = 2, HeadDim = 6, Intermediate = 24, QkNorm = true, RopeTheta = 1e6 },
        ["llama-all-biases"] = Llama(12, 2) with { KvHeads = 2, Intermediate = 16, AttentionBias = true, OutputBias = true, MlpBias = true },
    };

    public static TheoryData<string> Names
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var name in Cases.Keys) data.Add(name);
            return data;
        }
    }

    public sealed record StepResult(float[] Logits, float Loss, float[] Gradients, float[] Parameters);

    /// <summary>
    /// One training step of whatever trains in the model (every weight, or a LoRA model's adapters) on fixed random
    /// tokens, B = 2 × T = 6 with one ignored target: forward, fused loss, backward, AdamW. Returns the logits, the
    /// loss, the trainable gradient and the trainable parameters after the update.
    /// </summary>
    public static StepResult TrainingStep(Transformer model)
    {
        const int B = 2, T = 6;
        var backend = model.Backend;
        using var acts = new Activations(model, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, model.Config.VocabSize, 4));
        var targets = ModelTests.RandomTokens(B * T, model.Config.VocabSize, 5);
        targets[0] = -1;
        loss.SetTargets(targets);
        model.Forward(acts, inputs.View);
        var logits = backend.ToArray(acts.Logits);
        float value = loss.Compute(acts, withGradient: true);
        model.ZeroGradients();
        model.Backward(acts, inputs.View);
        var gradients = backend.ToArray(model.TrainableGradients);
        using var optimizer = new AdamWOptimizer(model, new AdamWSettings());
        optimizer.Step(1e-2f);
        return new StepResult(logits, value, gradients, backend.ToArray(model.TrainableParameters));
    }

    /// <summary>Two steps' logits, loss and trainable gradients agree; each test checks the updated parameters its own way.</summary>
    public static void AssertSameGradients(StepResult expected, StepResult actual, string what)
    {
        AssertClose(expected.Logits, actual.Logits, 1e-4, 1e-4, $"{what}: logits");
        Assert.Equal(expected.Loss, actual.Loss, 4);
        AssertClose(expected.Gradients, actual.Gradients, 1e-4, 1e-3, $"{what}: gradients");
    }

    /// <summary>Each element within atol + rtol·|expected|; the message names the first that is not.</summary>
    public static void AssertClose(float[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= atol + rtol * Math.Abs(expected[i]), $"{what}[{i}]: expected {expected[i]:G7}, got {actual[i]:G7}");
    }

    /// <summary>The family's initialisation plus noise, so norms, biases and q/k norms are not at their neutral values.</summary>
    public static void Perturb(IBackend backend, Transformer model, ulong seed, double scale)
    {
        var p = backend.ToArray(model.Parameters.View);
        var rng = new Rng(seed);
        for (int i = 0; i < p.Length; i++) p[i] += (float)(scale * rng.NextNormal());
        backend.Upload(model.Parameters.View, p);
    }
}

/// <summary>
/// Whole-model checks of every family, GPT-2 included: finite-difference gradients on the reference, decoding
/// against the full forward, a whole training step on the CPU backend and the ILGPU kernels against the
/// reference, the fused layout and its names.
/// </summary>
[Collection(IlgpuCollection.Name)]
public class LlamaFamilyModelTests(IlgpuFixture ilgpu)
{
    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Whole_model_gradient_matches_finite_differences(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var backend = new ReferenceBackend();
        using var model = new Transformer(backend, config);
        model.InitializeWeights(7);
        FamilyConfigs.Perturb(backend, model, 3, 0.3);
        var p = backend.ToArray(model.Parameters.View);

        const int B = 2, T = 5;
        using var acts = new Activations(backend, config, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, config.VocabSize, 11));
        var targets = ModelTests.RandomTokens(B * T, config.VocabSize, 12);
        targets[3] = -1;
        loss.SetTargets(targets);

        ModelTests.Loss(model, acts, loss, inputs, backward: true);
        var analytic = backend.ToArray(model.Gradients.View);
        const float h = 1e-2f;
        foreach (var tensor in model.Layout.Tensors)
        {
            // Every tensor reaches the loss: one the forward pass ignores (an untied head read from the
            // embedding, a bias never added) has an all-zero gradient, and finite differences of zero agree with it.
            Assert.True(analytic.AsSpan((int)tensor.Offset, (int)tensor.Length).ToArray().Any(g => g != 0), $"{name}: {tensor.Name} has no gradient: the forward pass does not use it");
            for (int k = 0; k < 3; k++)
            {
                int index = (int)tensor.Offset + (int)((k * 7919L + 13) % tensor.Length);
                float original = p[index];
                p[index] = original + h; backend.Upload(model.Parameters.View, p);
                double plus = ModelTests.Loss(model, acts, loss, inputs, backward: false);
                p[index] = original - h; backend.Upload(model.Parameters.View, p);
                double minus = ModelTests.Loss(model, acts, loss, inputs, backward: false);
                p[index] = original; backend.Upload(model.Parameters.View, p);
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(analytic[index] - numeric) <= 2e-3 + 3e-2 * Math.Abs(numeric),
                    $"{name}: {tensor.Name}[{index - tensor.Offset}]: backward {analytic[index]:G6}, finite difference {numeric:G6}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Decode_steps_reproduce_the_full_forward_on_the_reference_and_cpu(string name)
    {
        DecodeMatchesForward(new ReferenceBackend(), FamilyConfigs.Cases[name]);
        DecodeMatchesForward(new CpuBackend(), FamilyConfigs.Cases[name]);
    }

    private static void DecodeMatchesForward(IBackend backend, ModelConfig config)
    {
        using var _ = backend;
        using var model = new Transformer(backend, config);
        model.InitializeWeights(5);
        FamilyConfigs.Perturb(backend, model, 8, 0.2);
        const int B = 2, T = 7, prefill = 3;
        int V = config.VocabSize;
        var tokens = ModelTests.RandomTokens(B * T, V, 21);
        using var full = new Activations(backend, config, B, T, withGradients: false);
        using var tokenBuffer = backend.AllocateFrom<int>(tokens);
        model.Forward(full, tokenBuffer.View);
        var expected = backend.ToArray(full.Logits);

        using var cache = new KvCache(backend, config, B, config.MaxSequence);
        var prefix = new int[B * prefill];
        for (int b = 0; b < B; b++) Array.Copy(tokens, b * T, prefix, b * prefill, prefill);
        using var prefixActs = new Activations(backend, config, B, prefill, withGradients: false);
        using var prefixBuffer = backend.AllocateFrom<int>(prefix);
        model.Forward(prefixActs, prefixBuffer.View, cache);

        using var step = new Activations(backend, config, B, 1, withGradients: false);
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
                    Assert.True(Math.Abs(expected[(b * T + t) * V + v] - logits[b * V + v]) <= 2e-5,
                        $"{backend.Name}: step t={t}, row {b}, logit {v}: full forward {expected[(b * T + t) * V + v]:G7}, decode {logits[b * V + v]:G7}");
        }
    }

    private static FamilyConfigs.StepResult RunStep(IBackend backend, ModelConfig config)
    {
        using var model = new Transformer(backend, config);
        model.InitializeWeights(17);
        FamilyConfigs.Perturb(backend, model, 2, 0.2);
        return FamilyConfigs.TrainingStep(model);
    }

    private static void AssertStepMatches(IBackend backend, ModelConfig config, string name)
    {
        using var reference = new ReferenceBackend();
        var expected = RunStep(reference, config);
        var actual = RunStep(backend, config);
        FamilyConfigs.AssertSameGradients(expected, actual, $"{name} on {backend.Name}");
        for (int i = 0; i < expected.Parameters.Length; i++)
        {
            double tolerance = Math.Abs(expected.Gradients[i]) > 1e-4 ? 1e-5 + 1e-4 * Math.Abs(expected.Parameters[i]) : 1e-2;
            Assert.True(Math.Abs(expected.Parameters[i] - actual.Parameters[i]) <= tolerance,
                $"{name} on {backend.Name}: parameters after AdamW[{i}]: expected {expected.Parameters[i]:G7}, got {actual.Parameters[i]:G7}");
        }
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Cpu_backend_matches_the_reference_through_a_whole_training_step(string name)
    {
        using var backend = new CpuBackend();
        AssertStepMatches(backend, FamilyConfigs.Cases[name], name);
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Ilgpu_kernels_match_the_reference_through_a_whole_training_step(string name) =>
        AssertStepMatches(ilgpu.Backend, FamilyConfigs.Cases[name], name);

    [Fact]
    public void Fused_groups_are_contiguous_and_carry_hugging_face_names()
    {
        var config = FamilyConfigs.Cases["qwen3-qknorm-headdim"] with { AttentionBias = true, OutputBias = true };
        var layout = new ParameterLayout(config);
        var q = layout["model.layers.1.self_attn.q_proj.weight"];
        var k = layout["model.layers.1.self_attn.k_proj.weight"];
        var v = layout["model.layers.1.self_attn.v_proj.weight"];
        Assert.Equal([4 * 6, 16], q.Shape);
        Assert.Equal([2 * 6, 16], k.Shape);
        Assert.Equal(q.Offset + q.Length, k.Offset);
        Assert.Equal(k.Offset + k.Length, v.Offset);
        Assert.Equal((q.Offset, q.Length + k.Length + v.Length), layout.Group(TensorRole.QkvWeight, 1));
        var gate = layout["model.layers.0.mlp.gate_proj.weight"];
        Assert.Equal(gate.Offset + gate.Length, layout["model.layers.0.mlp.up_proj.weight"].Offset);
        Assert.Equal([16, 24], layout["model.layers.0.self_attn.o_proj.weight"].Shape);
        Assert.Equal([6], layout["model.layers.0.self_attn.q_norm.weight"].Shape);
        Assert.Equal(layout["model.layers.0.self_attn.q_proj.bias"].Offset + 24, layout["model.layers.0.self_attn.k_proj.bias"].Offset);
        foreach (var t in layout.Tensors) Assert.Equal(t.Decay, t.Offset < layout.DecayLength);
        Assert.DoesNotContain(layout.Tensors, t => t.Name == "lm_head.weight");
    }

    /// <summary>
    /// transformers' "default" rule 1/θ^(2i/hs), and "llama3" with original window 8, factor 4, low 1, high 4:
    /// frequency 1 (wavelength 2π, between 8/4 and 8/1) is blended, s = (8/2π − 1)/3, to (1−s)/4 + s = 1/π;
    /// frequency 0.01 (wavelength 628 &gt; 8) is divided by the factor.
    /// </summary>
    [Fact]
    public void Rotary_frequencies_follow_the_default_and_llama3_rules()
    {
        var plain = RotaryFrequencies.Compute(new ModelConfig(1, 16, 2, 5, 8) { Family = ModelFamily.Llama, Intermediate = 8 });
        Assert.Equal(4, plain.Length);
        double[] expected = [1, 0.1, 0.01, 0.001];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], plain[i], 1e-7 * 1 + 1e-6 * expected[i]);
        var scaled = RotaryFrequencies.Compute(FamilyConfigs.Cases["llama-gqa-untied-llama3"]);
        Assert.Equal(1 / Math.PI, scaled[0], 1e-6);
        Assert.Equal(0.0025, scaled[1], 1e-9);
    }
}
