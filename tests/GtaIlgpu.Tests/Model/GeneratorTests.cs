using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Reference;

namespace GtaIlgpu.Tests.Model;

public class GeneratorTests
{
    private static readonly ModelConfig Config = new(Layers: 2, Channels: 8, Heads: 2, VocabSize: 13, MaxSequence: 12);

    /// <summary>Greedy decoding by re-running the full forward pass on the growing sequence.</summary>
    private static int[] GreedyByFullForward(Transformer model, int[] prompt, int count)
    {
        var sequence = prompt.ToList();
        for (int i = 0; i < count; i++)
        {
            using var acts = new Activations(model.Backend, Config, 1, sequence.Count, withGradients: false);
            using var tokens = model.Backend.AllocateFrom<int>(sequence.ToArray());
            model.Forward(acts, tokens.View);
            var logits = model.Backend.ToArray(acts.Logits);
            int V = Config.VocabSize, row = (sequence.Count - 1) * V, best = 0;
            for (int v = 1; v < V; v++) if (logits[row + v] > logits[row + best]) best = v;
            sequence.Add(best);
        }
        return sequence.Skip(prompt.Length).ToArray();
    }

    [Fact]
    public void Greedy_generation_with_the_kv_cache_matches_full_forward_decoding_for_prompts_of_different_lengths()
    {
        using var backend = new ReferenceBackend();
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(4);
        var p = backend.ToArray(model.Parameters.View);
        var rng = new Rng(9);
        for (int i = 0; i < p.Length; i++) p[i] += (float)(0.5 * rng.NextNormal()); // sharpen the logits so argmax is unambiguous
        backend.Upload(model.Parameters.View, p);

        int[][] prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9]];
        using var generator = new Generator(model, 4, Config.MaxSequence);
        var completions = generator.Generate(prompts, 5, new SamplingSettings(Temperature: 0), new Rng(1));
        for (int b = 0; b < prompts.Length; b++)
            Assert.Equal(GreedyByFullForward(model, prompts[b], 5), completions[b]);
    }

    [Fact]
    public void Sampling_is_reproducible_from_the_seed_and_stops_at_the_stop_token()
    {
        using var backend = new ReferenceBackend();
        using var model = new Transformer(backend, Config);
        model.InitializeWeights(4);
        int[][] prompts = [[1, 2], [3, 4, 5]];
        using var generator = new Generator(model, 2, Config.MaxSequence);
        var sampling = new SamplingSettings(Temperature: 1.5f, TopK: 8, TopP: 0.95f);
        var a = generator.Generate(prompts, 6, sampling, new Rng(42));
        var b = generator.Generate(prompts, 6, sampling, new Rng(42));
        Assert.Equal(a, b);
        int stop = a[0][1];
        var stopped = generator.Generate(prompts, 6, sampling, new Rng(42), stopToken: stop);
        Assert.Equal(stop, stopped[0][^1]);
        Assert.True(stopped[0].Length <= 2);
    }

    /// <summary>
    /// A prefill of a few prompts at a time (the trainer's micro-batch) fills the same cache rows as one of all
    /// of them: sampled completions are the same bits, for a chunk that divides the batch and one that does not,
    /// on the reference and the CPU backend, with LoRA adapters on the model too.
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Prefill_in_chunks_of_rows_samples_the_same_completions(int prefillRows)
    {
        foreach (IBackend backend in new IBackend[] { new ReferenceBackend(), new GtaIlgpu.Backends.Cpu.CpuBackend() })
        {
            using var _ = backend;
            using var plain = new Transformer(backend, Config);
            plain.InitializeWeights(4);
            // Weights far from their small initialisation, so the context (the prefilled cache) steers every draw.
            var p = backend.ToArray(plain.Parameters.View);
            var rng = new Rng(9);
            for (int i = 0; i < p.Length; i++) p[i] += (float)(0.5 * rng.NextNormal());
            backend.Upload(plain.Parameters.View, p);
            using var model = plain.WithOptions(new ModelOptions(new LoraSettings(2, 4, LoraSettings.Gpt2Targets)), 5);
            int[][] prompts = [[1, 2, 3, 4, 5], [6], [7, 8, 9], [10, 11], [12, 1, 2, 3]];
            var sampling = new SamplingSettings(Temperature: 1.2f);
            using var whole = new Generator(model, 5, Config.MaxSequence);
            using var chunked = new Generator(model, 5, Config.MaxSequence, prefillRows);
            Assert.Equal(prefillRows, chunked.PrefillRows);
            Assert.Equal(whole.Generate(prompts, 5, sampling, new Rng(3)), chunked.Generate(prompts, 5, sampling, new Rng(3)));
        }
    }
}
