using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Model;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>
/// A 3–4B model holds more values than one .NET array, so loading, saving, training checkpoints, vocabulary growth
/// and `gta export --merge` go tensor by tensor. Each path runs here under a host-array limit
/// (<see cref="HostArrays.LimitTo"/>) set to the model's largest tensor, below the whole model, and with chunks of 7
/// values: a whole-model array anywhere on the path fails, every chunked loop runs many times with a remainder, and
/// the results must still be bit for bit those computed here without the limit.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class StreamingCheckpointTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"gta-stream-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private static long Largest(ParameterLayout layout) => layout.Tensors.Max(t => t.Length);

    /// <summary>The limit at the largest tensor of the layouts involved, which must be below each whole model.</summary>
    private static IDisposable Limit(params ParameterLayout[] layouts)
    {
        long limit = layouts.Max(Largest);
        foreach (var layout in layouts) Assert.True(limit < layout.TotalLength, $"the limit {limit} must be below the model's {layout.TotalLength} values");
        return HostArrays.LimitTo(limit, chunkLength: 7);
    }

    private static LoraSettings Lora(ModelConfig config) => new(2, 3f, config.IsGpt2 ? LoraSettings.Gpt2Targets : LoraSettings.LlamaTargets);

    private static int[] Bits(ReadOnlySpan<float> values) => values.ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    /// <summary>Random values inside every tensor of the layout; the padding between tensors stays zero.</summary>
    private static float[] RandomFlat(ParameterLayout layout, ulong seed)
    {
        var values = new float[layout.TotalLength];
        var rng = new Rng(seed);
        foreach (var t in layout.Tensors)
            for (long i = t.Offset; i < t.Offset + t.Length; i++) values[i] = (float)rng.NextNormal();
        return values;
    }

    [Theory]
    [InlineData("gpt2", false, false)]
    [InlineData("gpt2", true, true)]
    [InlineData("llama-gqa-untied-llama3", false, true)]
    [InlineData("llama-gqa-untied-llama3", true, false)]
    [InlineData("qwen3-qknorm-headdim", true, true)]
    public void A_model_saves_and_loads_tensor_by_tensor_under_a_limit_below_its_size(string name, bool bf16, bool sharded)
    {
        var config = FamilyConfigs.Cases[name];
        var options = bf16 ? new ModelOptions(Lora(config), WeightDtype.Bf16) : ModelOptions.Full;
        using var fp32 = ModelCheckpointTests.RandomModel(_backend, config, 5);
        using var model = bf16 ? fp32.WithOptions(options, 3) : fp32.WithOptions(ModelOptions.Full, 0);
        var expected = model.DownloadBaseWeights(); // a bf16 base widened
        string folder = Path.Combine(_root, name);
        long shardBytes = sharded ? 4 * 3 * Largest(model.Layout) : HuggingFaceWeights.DefaultMaxShardBytes;

        LoadedModel loaded;
        using (Limit(model.Layout))
        {
            Assert.Contains("DownloadBaseTensor", Assert.Throws<InvalidOperationException>(() => model.DownloadBaseWeights()).Message);
            ModelCheckpoint.Save(folder, model, null, maxShardBytes: shardBytes);
            loaded = ModelCheckpoint.Load(folder, _backend, options: options);
        }
        using (loaded) Assert.Equal(Bits(expected), Bits(loaded.Model.DownloadBaseWeights()));

        // The files hold each tensor under its name, GPT-2's Conv1D weights transposed to (in, out).
        Assert.Equal(sharded, File.Exists(Path.Combine(folder, HuggingFaceWeights.IndexFile)));
        using var reader = HuggingFaceWeights.Open(folder);
        Assert.Equal(model.Layout.Tensors.Count, reader.Names.Count);
        foreach (var t in model.Layout.Tensors)
        {
            var ours = expected.AsSpan((int)t.Offset, (int)t.Length).ToArray();
            if (ModelCheckpoint.IsConv1D(t.Name))
            {
                int rows = t.Shape[0], cols = t.Shape[1];
                ours = Enumerable.Range(0, ours.Length).Select(j => ours[j % rows * cols + j / rows]).ToArray();
            }
            Assert.Equal(Bits(ours), Bits(reader.ReadFloat32(t.Name)));
        }
    }

    [Fact]
    public void A_hugging_face_folder_loads_under_the_limit_and_its_tied_head_is_compared_to_the_last_value()
    {
        // transformers' layout written by the fixture, not by us: BF16, the "transformer." prefix, lm_head a copy of wte.
        var hf = new HuggingFaceFolder { Layers = 2, Channels = 8, Heads = 2, Vocab = 20, Positions = 8, DType = "BF16", Prefix = ModelCheckpoint.BodyPrefix };
        hf.Build(15);
        string folder = Path.Combine(_root, "hf");
        hf.Write(folder);
        var layout = new ParameterLayout(ModelCheckpoint.ReadConfig(Path.Combine(folder, ModelCheckpoint.ConfigFile)));
        LoadedModel loaded;
        using (Limit(layout)) loaded = ModelCheckpoint.Load(folder, _backend);
        using (loaded)
        {
            var weights = loaded.Model.DownloadBaseWeights();
            foreach (var t in layout.Tensors)
            {
                var (shape, file) = hf.Tensors[t.Name];
                // The file's (in, out) is our (out, in) transposed.
                var expected = ModelCheckpoint.IsConv1D(t.Name) ? Enumerable.Range(0, file.Length).Select(j => file[j % shape[0] * shape[1] + j / shape[0]]).ToArray() : file;
                Assert.Equal(Bits(expected), Bits(weights.AsSpan((int)t.Offset, (int)t.Length)));
            }
        }

        // A head that differs from wte in its last value only is found, however many pieces the comparison takes.
        var head = hf.Tensors["wte.weight"].Values.ToArray();
        head[^1] = -head[^1] + 1;
        hf.WithLmHead = false;
        hf.Write(folder, [("lm_head.weight", hf.Tensors["wte.weight"].Shape, head)]);
        using (Limit(layout))
            Assert.Contains("lm_head.weight differs from wte.weight", Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(folder, _backend).Dispose()).Message);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama-gqa-untied-llama3")]
    public void A_full_model_training_checkpoint_round_trips_weights_and_moments_under_the_limit(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var model = ModelCheckpointTests.RandomModel(_backend, config, 7);
        using var optimizer = new AdamWOptimizer(model, new AdamWSettings());
        var m = RandomFlat(model.Layout, 8);
        var v = RandomFlat(model.Layout, 9).Select(x => Math.Abs(x)).ToArray();
        _backend.Upload(optimizer.M.View, m);
        _backend.Upload(optimizer.V.View, v);
        var state = new TrainingState(3, 7, [1, 2, 3, 4], 11, new JsonObject { ["note"] = "streamed" });
        string run = Path.Combine(_root, "run");

        using var restored = new Transformer(_backend, config);
        using var restoredOptimizer = new AdamWOptimizer(restored, new AdamWSettings());
        using (Limit(model.Layout))
        {
            string checkpoint = TrainingCheckpoint.Save(run, model, optimizer, null, state, "{}\n");
            Assert.Equal(7, TrainingCheckpoint.Restore(checkpoint, restored, restoredOptimizer).OptimizerStep);
        }
        Assert.Equal(Bits(model.DownloadBaseWeights()), Bits(restored.DownloadBaseWeights()));
        Assert.Equal(Bits(m), Bits(_backend.ToArray(restoredOptimizer.M.View)));
        Assert.Equal(Bits(v), Bits(_backend.ToArray(restoredOptimizer.V.View)));
        Assert.Equal(7, restoredOptimizer.StepCount);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama-gqa-untied-llama3")]
    public void The_vocabulary_grows_tensor_by_tensor_under_the_limit(string name)
    {
        var config = FamilyConfigs.Cases[name];
        const int newRows = 3;
        using var model = ModelCheckpointTests.RandomModel(_backend, config, 12);
        var source = model.DownloadBaseWeights();
        var grownLayout = new ParameterLayout(config with { VocabSize = config.VocabSize + newRows });
        var expected = new float[grownLayout.TotalLength];
        int V = config.VocabSize, C = config.Channels;
        foreach (var t in model.Layout.Tensors)
        {
            var target = grownLayout[t.Name];
            Array.Copy(source, t.Offset, expected, target.Offset, t.Length);
            if (t.Role is not (TensorRole.TokenEmbedding or TensorRole.LmHead)) continue;
            for (int c = 0; c < C; c++)
            {
                double mean = 0;
                for (int row = 0; row < V; row++) mean += source[t.Offset + (long)row * C + c];
                for (int row = V; row < V + newRows; row++) expected[target.Offset + (long)row * C + c] = (float)(mean / V);
            }
        }

        Transformer grown;
        using (Limit(model.Layout, grownLayout)) grown = VocabularyGrowth.Grow(model, newRows);
        using (grown) Assert.Equal(Bits(expected), Bits(grown.DownloadBaseWeights()));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("qwen3-qknorm-headdim")]
    public void Export_merge_streams_a_base_through_the_merge_under_the_limit(string name)
    {
        var config = FamilyConfigs.Cases[name];
        using var baseModel = ModelCheckpointTests.RandomModel(_backend, config, 13);
        var layout = baseModel.Layout;
        string baseDir = Path.Combine(_root, "base"), adapterDir = Path.Combine(_root, "adapter"), mergedDir = Path.Combine(_root, "merged");
        ModelCheckpoint.Save(baseDir, baseModel, null);
        var adapterLayout = new AdapterLayout(config, Lora(config));
        var adapters = new float[adapterLayout.TotalLength];
        var rng = new Rng(14);
        for (int i = 0; i < adapters.Length; i++) adapters[i] = (float)(0.3 * rng.NextNormal());
        PeftAdapter.Save(adapterDir, adapterLayout, adapters, baseDir);

        // PEFT's merge written out here: W[Column + o, i] += alpha/r · Σ_k B[o, k]·A[k, i] over each module's group rows.
        var expected = baseModel.DownloadBaseWeights();
        double scale = 3.0 / 2;
        foreach (var m in adapterLayout.Modules)
        {
            long group = layout.Group(m.Role, m.Layer)!.Value.Offset;
            for (int o = 0; o < m.Out; o++)
                for (int i = 0; i < m.In; i++)
                {
                    double sum = 0;
                    for (int k = 0; k < m.Rank; k++) sum += (double)adapters[m.BOffset + o * m.Rank + k] * adapters[m.AOffset + k * m.In + i];
                    expected[group + (long)(m.Column + o) * m.In + i] += (float)(scale * sum);
                }
        }
        Assert.Equal(Bits(expected), Bits(PeftAdapter.Merge(layout, baseModel.DownloadBaseWeights(), adapterLayout, adapters)));

        using (Limit(layout))
            Assert.Equal(0, CliErrors.Invoke(ExportCommand.Build(), [adapterDir, "--out", mergedDir, "--merge"]));
        using var merged = ModelCheckpoint.Load(mergedDir, _backend);
        Assert.Equal(Bits(expected), Bits(merged.Model.DownloadBaseWeights()));
        Assert.NotEqual(Bits(baseModel.DownloadBaseWeights()), Bits(expected));
    }
}
