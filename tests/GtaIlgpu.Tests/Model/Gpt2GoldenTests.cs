using System.Runtime.Intrinsics;
using System.Security.Cryptography;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>
/// GPT-2 stays bit for bit what it was before the Llama family joined the engine: the hashes below were
/// recorded on the GPT-2-only code (commit c86ce3f) over logits, loss, gradients, the AdamW-updated
/// parameters, a prefill + decode step's logits and the parameter layout (names, shapes, offsets).
/// Any change to GPT-2's arithmetic order, initialisation or layout changes a hash.
/// </summary>
public class Gpt2GoldenTests
{
    private static readonly ModelConfig Config = new(Layers: 2, Channels: 32, Heads: 4, VocabSize: 37, MaxSequence: 12);

    internal static string Fingerprint(IBackend backend)
    {
        const int B = 2, T = 7;
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(2024);
        using var acts = new Activations(backend, Config, B, T, withGradients: true);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.AllocateFrom<int>(ModelTests.RandomTokens(B * T, Config.VocabSize, 5));
        var targets = ModelTests.RandomTokens(B * T, Config.VocabSize, 6);
        targets[2] = -1;
        loss.SetTargets(targets);

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(float[] values) => hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        foreach (var t in model.Layout.Tensors)
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes($"{t.Name}:{string.Join('x', t.Shape)}@{t.Offset};"));

        model.Forward(acts, inputs.View);
        Add(backend.ToArray(acts.Logits));
        float value = loss.Compute(acts, withGradient: true);
        Add([value]);
        model.ZeroGradients();
        model.Backward(acts, inputs.View);
        Add(backend.ToArray(model.Gradients.View));
        using (var optimizer = new AdamWOptimizer(model, new AdamWSettings()))
            optimizer.Step(3e-3f);
        Add(backend.ToArray(model.Parameters.View));

        using var generator = new Generator(model, B, Config.MaxSequence);
        var completions = generator.Generate([[1, 2, 3], [4, 5]], 4, new SamplingSettings(Temperature: 0.9f, TopK: 10), new Rng(3));
        foreach (var c in completions) Add(c.Select(x => (float)x).ToArray());
        return Convert.ToHexString(hash.GetHashAndReset())[..16];
    }

    [Fact]
    public void Gpt2_on_the_scalar_reference_is_unchanged_bit_for_bit() =>
        Assert.Equal("22A0D970178D1BEC", Fingerprint(new ReferenceBackend()));

    [Fact]
    public void Gpt2_on_the_cpu_backend_is_unchanged_bit_for_bit()
    {
        // The SIMD code's summation order depends on the widest vector the CPU accelerates, so the hash
        // is per width; a machine of a width not recorded here says so instead of passing silently.
        int width = Vector512.IsHardwareAccelerated ? 512 : Vector256.IsHardwareAccelerated ? 256 : 128;
        var expected = new Dictionary<int, string> { [512] = "A7D4305A4BB99C1E" };
        Assert.True(expected.ContainsKey(width), $"no GPT-2 fingerprint recorded for {width}-bit vectors: record one from commit c86ce3f");
        using var backend = new CpuBackend();
        Assert.Equal(expected[width], Fingerprint(backend));
    }
}
