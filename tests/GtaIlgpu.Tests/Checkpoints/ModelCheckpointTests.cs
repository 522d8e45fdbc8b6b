using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>Model folders: our round trip, Hugging Face GPT-2 folders (names, Conv1D transposition, dtypes), and clear errors.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class ModelCheckpointTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-ckpt-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    /// <summary>A model with GPT-2 init plus noise everywhere, so biases and layernorm weights are not constants.</summary>
    internal static Transformer RandomModel(IBackend backend, ModelConfig config, ulong seed)
    {
        var model = new Transformer(backend, config);
        var values = model.Layout.Initialize(seed);
        var rng = new Rng(seed + 1);
        foreach (var t in model.Layout.Tensors)
            for (long i = t.Offset; i < t.Offset + t.Length; i++) values[i] += (float)(0.3 * rng.NextNormal());
        backend.Upload(model.Parameters.View, values);
        return model;
    }

    private float[] Logits(Transformer model, int[] tokens)
    {
        using var acts = new Activations(model.Backend, model.Config, 1, tokens.Length, withGradients: false);
        using var input = model.Backend.AllocateFrom<int>(tokens);
        model.Forward(acts, input.View);
        return model.Backend.ToArray(acts.Logits);
    }

    [Fact]
    public void Our_folder_round_trips_bit_exactly_with_identical_logits_and_the_compact_vocabulary()
    {
        var vocabulary = CompactVocabulary.Build(["the cat sat on the mat", "a dog ran in the park"]);
        var config = new ModelConfig(2, 16, 2, vocabulary.Size, 12);
        using var model = RandomModel(_backend, config, 5);
        ModelCheckpoint.Save(_folder, model, vocabulary);
        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        Assert.Equal(config, loaded.Model.Config);
        var expected = _backend.ToArray(model.Parameters.View);
        var actual = _backend.ToArray(loaded.Model.Parameters.View);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
        var tokens = vocabulary.Encode("the cat ran in the park");
        Assert.Equal(Logits(model, tokens), Logits(loaded.Model, tokens));
        var tokenizer = Assert.IsType<CompactVocabulary>(loaded.Tokenizer);
        Assert.Equal(vocabulary.ToJson(), tokenizer.ToJson());

        // Conv1D weights are stored (in, out) in the file: c_attn is [C, 3C], c_fc [C, 4C], mlp.c_proj [4C, C].
        using var reader = SafeTensorsReader.Open(Path.Combine(_folder, "model.safetensors"));
        Assert.Equal([16L, 48L], reader["h.0.attn.c_attn.weight"].Shape);
        Assert.Equal([16L, 64L], reader["h.1.mlp.c_fc.weight"].Shape);
        Assert.Equal([64L, 16L], reader["h.1.mlp.c_proj.weight"].Shape);
        Assert.Equal([(long)vocabulary.Size, 16L], reader["wte.weight"].Shape);
    }

    /// <summary>y = x @ W + b with W stored (in, out): Hugging Face's Conv1D, computed from the file's own tensor.</summary>
    private static void AssertConv1D(float[] x, float[] y, (int[] Shape, float[] Values) w, float[] bias, string what)
    {
        int nIn = w.Shape[0], nOut = w.Shape[1], rows = x.Length / nIn;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < nOut; j++)
            {
                double sum = bias[j];
                for (int i = 0; i < nIn; i++) sum += (double)x[r * nIn + i] * w.Values[i * nOut + j];
                Assert.True(Math.Abs(sum - y[r * nOut + j]) <= 1e-4 + 1e-4 * Math.Abs(sum), $"{what}[{r},{j}]: expected {sum}, model computed {y[r * nOut + j]}");
            }
    }

    [Theory]
    [InlineData("F32", "")]
    [InlineData("F16", "transformer.")]
    [InlineData("BF16", "")]
    public void A_hugging_face_gpt2_folder_loads_with_the_conv1d_convention_and_runs(string dtype, string prefix)
    {
        var hf = new HuggingFaceFolder { Layers = 2, Channels = 8, Heads = 2, Vocab = 260, Positions = 16, DType = dtype, Prefix = prefix };
        hf.Build(7);
        hf.Write(_folder);
        var (vocab, merges) = Gpt2BpeTokenizerTests.SmallVocabulary();
        Gpt2BpeTokenizerTests.WriteFolder(_folder, vocab, merges);

        using var loaded = ModelCheckpoint.Load(_folder, _backend);
        var model = loaded.Model;
        Assert.IsType<Gpt2BpeTokenizer>(loaded.Tokenizer);
        Assert.Equal(hf.Tensors["wte.weight"].Values, _backend.ToArray(model.W.Wte));

        // Run the model and check each Conv1D against x @ W_file + b from its own input activations.
        int[] tokens = [5, 258, 17, 200, 3, 99];
        using var acts = new Activations(_backend, model.Config, 1, tokens.Length, withGradients: false);
        using var input = _backend.AllocateFrom<int>(tokens);
        model.Forward(acts, input.View);
        float[] A(BufferView<float> v) => _backend.ToArray(v);
        for (int l = 0; l < 2; l++)
        {
            var a = acts.Layers[l];
            string p = $"h.{l}.";
            AssertConv1D(A(a.Ln1), A(a.Qkv), hf.Tensors[p + "attn.c_attn.weight"], hf.Tensors[p + "attn.c_attn.bias"].Values, p + "c_attn");
            AssertConv1D(A(a.AttnOut), A(a.AttnProj), hf.Tensors[p + "attn.c_proj.weight"], hf.Tensors[p + "attn.c_proj.bias"].Values, p + "attn.c_proj");
            AssertConv1D(A(a.Ln2), A(a.FcH), hf.Tensors[p + "mlp.c_fc.weight"], hf.Tensors[p + "mlp.c_fc.bias"].Values, p + "c_fc");
            AssertConv1D(A(a.FcGelu), A(a.FcProj), hf.Tensors[p + "mlp.c_proj.weight"], hf.Tensors[p + "mlp.c_proj.bias"].Values, p + "mlp.c_proj");
        }
        // The LM head is wte: logits = ln_f · wteᵀ, i.e. Conv1D with W = wteᵀ.
        var wte = hf.Tensors["wte.weight"];
        var wteT = new float[wte.Values.Length];
        for (int v = 0; v < 260; v++) for (int c = 0; c < 8; c++) wteT[c * 260 + v] = wte.Values[v * 8 + c];
        AssertConv1D(A(acts.LnF), A(acts.Logits), ([8, 260], wteT), new float[260], "lm_head");

        // And it generates through the GPT-2 tokenizer, greedily and deterministically.
        var greedy = new SamplingSettings(Temperature: 0);
        string first = GenerateCommand.Continue(loaded, " the hello", 5, greedy, 1);
        Assert.Equal(first, GenerateCommand.Continue(loaded, " the hello", 5, greedy, 2));
        Assert.NotEmpty(first);
        Assert.Equal(0, CliErrors.Invoke(GenerateCommand.Build(), ["--model", _folder, "--prompt", "the", "--max-tokens", "4", "--device", "cpu"]));
    }

    [Fact]
    public void Folders_that_do_not_match_a_gpt2_model_are_rejected_clearly()
    {
        HuggingFaceFolder Fresh()
        {
            var hf = new HuggingFaceFolder { Layers = 1, Channels = 8, Heads = 2, Vocab = 20, Positions = 8 };
            hf.Build(3);
            return hf;
        }
        string Error(HuggingFaceFolder hf, IEnumerable<(string, int[], float[])>? extra = null, string? config = null)
        {
            if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
            hf.Write(_folder, extra, config);
            return Assert.Throws<InvalidDataException>(() => ModelCheckpoint.Load(_folder, _backend).Dispose()).Message;
        }

        var missing = Fresh();
        missing.Tensors.Remove("h.0.ln_2.bias");
        Assert.Contains("missing 1 tensor(s): h.0.ln_2.bias", Error(missing));

        // Weights in nn.Linear's (out, in) orientation are not GPT-2's Conv1D layout.
        var linear = Fresh();
        linear.Tensors["h.0.mlp.c_fc.weight"] = ([32, 8], linear.Tensors["h.0.mlp.c_fc.weight"].Values);
        Assert.Contains("'h.0.mlp.c_fc.weight' has shape [32, 8], expected [8, 32]", Error(linear));

        Assert.Contains("unexpected tensor 'h.0.attn.rotary'", Error(Fresh(), [("h.0.attn.rotary", [2], new float[2])]));

        var untied = Fresh();
        untied.WithLmHead = false;
        Assert.Contains("lm_head.weight differs from wte.weight", Error(untied, [("lm_head.weight", [20, 8], new float[160])]));

        Assert.Contains("missing integer 'n_head'", Error(Fresh(), config: "{\"n_layer\":1,\"n_embd\":8,\"vocab_size\":20,\"n_positions\":8}"));
        Assert.Contains("activation_function 'relu'", Error(Fresh(), config: "{\"n_layer\":1,\"n_embd\":8,\"n_head\":2,\"vocab_size\":20,\"n_positions\":8,\"activation_function\":\"relu\"}"));
        Assert.Contains("config.json", Error(Fresh(), config: "{\"n_layer\":1,\"n_embd\":8,\"n_head\":3,\"vocab_size\":20,\"n_positions\":8}"));
    }
}
