using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>
/// LoRA on a frozen base, a bf16 base and per-block recomputation, on every family of <see cref="FamilyConfigs"/>:
/// B = 0 is the base exactly, the adapted forward is the merged model's, finite differences of A and B, the
/// step on the CPU and the ILGPU kernels against the reference, what the allocator hands out, bf16 as
/// rounding only, and recomputation changing no bit.
/// </summary>
[Collection(IlgpuCollection.Name)]
public class LoraModelTests(IlgpuFixture ilgpu)
{
    private const int B = 2, T = 6;

    /// <summary>Every module the family has: all seven for Llama, GPT-2's four (q, k, v = c_attn).</summary>
    private static LoraSettings AllTargets(ModelConfig config, int rank = 2, float alpha = 3f) =>
        new(rank, alpha, config.IsGpt2 ? LoraSettings.Gpt2Targets : LoraSettings.LlamaTargets);

    private static Transformer Base(IBackend backend, ModelConfig config, ulong seed = 17)
    {
        var model = new Transformer(backend, config);
        model.InitializeWeights(seed);
        FamilyConfigs.Perturb(backend, model, seed + 1, 0.2);
        return model;
    }

    /// <summary>Adapters with B ≠ 0 too (PEFT starts B at zero; the tests need both factors live).</summary>
    private static float[] RandomAdapters(AdapterLayout layout, ulong seed, double scale = 0.3)
    {
        var values = new float[layout.TotalLength];
        var rng = new Rng(seed);
        foreach (var m in layout.Modules)
        {
            for (long i = 0; i < m.ALength; i++) values[m.AOffset + i] = (float)(scale * rng.NextNormal());
            for (long i = 0; i < m.BLength; i++) values[m.BOffset + i] = (float)(scale * rng.NextNormal());
        }
        return values;
    }

    private static float[] Logits(Transformer model, bool adapters = true)
    {
        using var acts = new Activations(model, B, T, withGradients: false);
        using var inputs = model.Backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, model.Config.VocabSize, 4));
        model.Forward(acts, inputs.View, adapters: adapters);
        return model.Backend.ToArray(acts.Logits);
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void With_B_zero_the_adapted_model_is_the_base_exactly(string name)
    {
        var config = FamilyConfigs.Cases[name];
        foreach (IBackend backend in new IBackend[] { new ReferenceBackend(), new CpuBackend() })
        {
            using var _ = backend;
            using var baseModel = Base(backend, config);
            var expected = Logits(baseModel);
            using var adapted = baseModel.WithOptions(new ModelOptions(AllTargets(config)), 3);
            var a = backend.ToArray(adapted.Adapters!.View);
            Assert.Contains(a, v => v != 0); // A is random: only B = 0 keeps the update at zero
            Assert.Equal(expected, Logits(adapted));
            Assert.Equal(expected, Logits(adapted, adapters: false));
        }
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void The_adapted_forward_is_the_merged_models_forward(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var backend = new CpuBackend();
        using var baseModel = Base(backend, config);
        using var adapted = baseModel.WithOptions(new ModelOptions(AllTargets(config)), 3);
        var adapters = RandomAdapters(adapted.AdapterLayout!, 9);
        adapted.UploadAdapters(adapters);
        var actual = Logits(adapted);
        var withoutAdapters = Logits(adapted, adapters: false);

        using var merged = new Transformer(backend, config);
        merged.UploadBaseWeights(PeftAdapter.Merge(adapted.Layout, baseModel.DownloadBaseWeights(), adapted.AdapterLayout!, adapters));
        var expected = Logits(merged);
        double moved = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-4 * Math.Abs(expected[i]),
                $"{name}: logit {i}: merged {expected[i]:G7}, adapted {actual[i]:G7}");
            moved = Math.Max(moved, Math.Abs(actual[i] - withoutAdapters[i]));
        }
        Assert.True(moved > 1e-2, $"{name}: the adapters moved no logit (max change {moved:G3})");
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Adapter_gradients_match_finite_differences(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var backend = new ReferenceBackend();
        using var baseModel = Base(backend, config, 7);
        using var model = baseModel.WithOptions(new ModelOptions(AllTargets(config)), 3);
        var p = RandomAdapters(model.AdapterLayout!, 5);
        model.UploadAdapters(p);

        using var acts = new Activations(model, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, config.VocabSize, 11));
        var targets = ModelTests.RandomTokens(B * T, config.VocabSize, 12);
        targets[3] = -1;
        loss.SetTargets(targets);
        ModelTests.Loss(model, acts, loss, inputs, backward: true);
        var analytic = backend.ToArray(model.TrainableGradients);
        // A smaller step than the whole-model check's: the adapters' products curve the loss more (B·A both move).
        const float h = 2e-3f;
        foreach (var (tensor, offset, length) in model.AdapterLayout!.Modules.SelectMany(m => new[] { (m.AName, m.AOffset, m.ALength), (m.BName, m.BOffset, m.BLength) }))
        {
            Assert.True(analytic.AsSpan((int)offset, (int)length).ToArray().Any(g => g != 0), $"{name}: {tensor} has no gradient");
            for (int k = 0; k < 3; k++)
            {
                int index = (int)offset + (int)((k * 7919L + 13) % length);
                float original = p[index];
                p[index] = original + h; model.UploadAdapters(p);
                double plus = ModelTests.Loss(model, acts, loss, inputs, backward: false);
                p[index] = original - h; model.UploadAdapters(p);
                double minus = ModelTests.Loss(model, acts, loss, inputs, backward: false);
                p[index] = original; model.UploadAdapters(p);
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(analytic[index] - numeric) <= 2e-3 + 3e-2 * Math.Abs(numeric),
                    $"{name}: {tensor}[{index - offset}]: backward {analytic[index]:G6}, finite difference {numeric:G6}");
            }
        }
    }

    private static FamilyConfigs.StepResult AdaptedStep(IBackend backend, ModelConfig config, WeightDtype dtype, bool recompute = false)
    {
        using var baseModel = Base(backend, config);
        using var model = baseModel.WithOptions(new ModelOptions(AllTargets(config), dtype, recompute), 3);
        model.UploadAdapters(RandomAdapters(model.AdapterLayout!, 9));
        return FamilyConfigs.TrainingStep(model);
    }

    private static void AssertClose(FamilyConfigs.StepResult expected, FamilyConfigs.StepResult actual, string what)
    {
        FamilyConfigs.AssertSameGradients(expected, actual, what);
        FamilyConfigs.AssertClose(expected.Parameters, actual.Parameters, 1e-4, 1e-4, $"{what}: adapters after AdamW");
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void A_lora_step_on_the_cpu_and_the_ilgpu_kernels_matches_the_reference_with_either_base_dtype(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var reference = new ReferenceBackend();
        using var cpu = new CpuBackend();
        foreach (var dtype in new[] { WeightDtype.F32, WeightDtype.Bf16 })
        {
            var expected = AdaptedStep(reference, config, dtype);
            AssertClose(expected, AdaptedStep(cpu, config, dtype), $"{name} {dtype} on cpu");
            // The emulator is slow: its bf16 run covers the adapters' fp32 matmuls, the column ops and the bf16 kernels.
            if (dtype == WeightDtype.Bf16) AssertClose(expected, AdaptedStep(ilgpu.Backend, config, dtype), $"{name} {dtype} on {ilgpu.Backend.Name}");
        }
    }

    [Theory]
    [InlineData(WeightDtype.F32)]
    [InlineData(WeightDtype.Bf16)]
    public void Frozen_weights_get_no_gradient_and_no_moments(WeightDtype dtype)
    {
        var config = FamilyConfigs.Cases["qwen3-qknorm-headdim"];
        using var backend = new CpuBackend();
        var layout = new ParameterLayout(config);
        var lora = new LoraSettings(4, 8, LoraSettings.DefaultTargets);
        var adapters = new AdapterLayout(config, lora);

        long before = backend.AllocatedBytes;
        using var model = new Transformer(backend, config, new ModelOptions(lora, dtype));
        using var optimizer = new AdamWOptimizer(model, new AdamWSettings());
        long allocated = backend.AllocatedBytes - before;

        long baseBytes = dtype == WeightDtype.Bf16 ? 2 * layout.DecayLength + 4 * (layout.TotalLength - layout.DecayLength) : 4 * layout.TotalLength;
        long sink = 4 * 2 * Math.Max(config.Channels, config.HeadSize);
        long rotary = 4 * (config.HeadSize / 2);
        // The base once; the adapters four times (weights, gradient, m, v); the frozen norms' sink; the rotary table.
        Assert.Equal(baseBytes + 4 * 4 * adapters.TotalLength + sink + rotary, allocated);
        var plan = new MemoryPlan(config, model.Options).Weights().Gradients().AdamMoments();
        Assert.Equal(allocated - rotary, plan.TotalBytes);

        // Full fine-tuning of the same model: four fp32 copies of everything.
        long beforeFull = backend.AllocatedBytes;
        using var full = new Transformer(backend, config);
        using var fullOptimizer = new AdamWOptimizer(full, new AdamWSettings());
        Assert.Equal(4 * 4 * layout.TotalLength + rotary, backend.AllocatedBytes - beforeFull);
        Assert.Throws<InvalidOperationException>(() => model.Gradients);
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void A_bf16_base_differs_from_fp32_only_by_bf16_rounding(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var backend = new CpuBackend();
        using var baseModel = Base(backend, config);
        var fp32 = baseModel.DownloadBaseWeights();
        var options = new ModelOptions(AllTargets(config), WeightDtype.Bf16);
        using var bf16 = baseModel.WithOptions(options, 3);
        var stored = bf16.DownloadBaseWeights();
        var layout = bf16.Layout;
        var rounded = (float[])fp32.Clone();
        for (long i = 0; i < layout.DecayLength; i++) rounded[i] = BFloat16.ToFloat(BFloat16.FromFloat(fp32[i]));
        // Matmul weights and embeddings are rounded to bf16 (to nearest even), norms and biases kept.
        Assert.Equal(rounded, stored);
        Assert.Contains(Enumerable.Range(0, (int)layout.DecayLength), i => rounded[i] != fp32[i]);

        // The widened weights enter the same GEMM: an fp32 model holding the rounded weights computes the same bits.
        using var roundedBase = new Transformer(backend, config);
        roundedBase.UploadBaseWeights(rounded);
        using var twin = roundedBase.WithOptions(new ModelOptions(AllTargets(config)), 3);
        var adapters = RandomAdapters(bf16.AdapterLayout!, 9);
        bf16.UploadAdapters(adapters);
        twin.UploadAdapters(adapters);
        var expected = FamilyConfigs.TrainingStep(twin);
        var actual = FamilyConfigs.TrainingStep(bf16);
        Assert.Equal(expected.Logits, actual.Logits);
        Assert.Equal(expected.Gradients, actual.Gradients);
        Assert.Equal(expected.Parameters, actual.Parameters);
    }

    [Theory]
    [MemberData(nameof(FamilyConfigs.Names), MemberType = typeof(FamilyConfigs))]
    public void Recomputation_changes_no_bit_on_the_cpu(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var backend = new CpuBackend();
        // Full fine-tuning and LoRA on a bf16 base, each with and without recomputation.
        using (var baseModel = Base(backend, config))
        {
            using var kept = baseModel.WithOptions(ModelOptions.Full, 0);
            using var recomputed = baseModel.WithOptions(new ModelOptions(Recompute: true), 0);
            var expected = FamilyConfigs.TrainingStep(kept);
            var actual = FamilyConfigs.TrainingStep(recomputed);
            Assert.Equal(expected.Logits, actual.Logits);
            Assert.Equal(expected.Gradients, actual.Gradients);
            Assert.Equal(expected.Parameters, actual.Parameters);
        }
        var withoutRecompute = AdaptedStep(backend, config, WeightDtype.Bf16);
        var withRecompute = AdaptedStep(backend, config, WeightDtype.Bf16, recompute: true);
        Assert.Equal(withoutRecompute.Gradients, withRecompute.Gradients);
        Assert.Equal(withoutRecompute.Parameters, withRecompute.Parameters);

        // What it buys: one block's activations instead of every block's.
        var lora = new ActivationOptions(new AdapterLayout(config, AllTargets(config)));
        long all = Activations.Floats(config, B, T, true, lora), one = Activations.Floats(config, B, T, true, lora with { Recompute = true });
        Assert.True(one < all, $"{name}: recompute pool {one} floats, kept pool {all}");
    }

    /// <summary>
    /// Turning a loaded base into a LoRA model copies it tensor by tensor: under a host-array limit of its largest
    /// tensor (a 3B model's whole buffer is more than one array holds) it still gives the bf16-rounded base exactly.
    /// </summary>
    [Fact]
    public void A_base_becomes_a_lora_model_tensor_by_tensor()
    {
        var config = FamilyConfigs.Cases["qwen3-qknorm-headdim"];
        using var backend = new CpuBackend();
        using var baseModel = Base(backend, config);
        var expected = baseModel.DownloadBaseWeights();
        for (long i = 0; i < baseModel.Layout.DecayLength; i++) expected[i] = BFloat16.ToFloat(BFloat16.FromFloat(expected[i]));
        long largest = baseModel.Layout.Tensors.Max(t => t.Length);
        Transformer adapted;
        using (HostArrays.LimitTo(largest, chunkLength: 7))
            adapted = baseModel.WithOptions(new ModelOptions(AllTargets(config), WeightDtype.Bf16), 3);
        using (adapted)
        {
            var actual = new float[expected.Length];
            foreach (var t in adapted.Layout.Tensors) adapted.DownloadBaseTensor(t, actual.AsSpan((int)t.Offset, (int)t.Length));
            foreach (var t in adapted.Layout.Tensors)
                Assert.Equal(expected.AsSpan((int)t.Offset, (int)t.Length).ToArray(), actual.AsSpan((int)t.Offset, (int)t.Length).ToArray());
        }
    }
}
