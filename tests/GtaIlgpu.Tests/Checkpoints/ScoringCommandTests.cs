using System.Text.Json;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Model;
using GtaIlgpu.Text;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>`gta logprobs` against a direct log-softmax of the logits, its input checks, and `gta generate` on our own folder.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public sealed class ScoringCommandTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"gta-score-{Guid.NewGuid():N}");
    private readonly CpuBackend _backend = new();
    private readonly CompactVocabulary _vocabulary = CompactVocabulary.Build(["the cat sat on the mat", "a dog ran in the park"]);
    private readonly string _model;

    public ScoringCommandTests()
    {
        _model = Path.Combine(_folder, "model");
        using var model = ModelCheckpointTests.RandomModel(_backend, new ModelConfig(2, 16, 2, _vocabulary.Size, 12), 9);
        ModelCheckpoint.Save(_model, model, _vocabulary);
    }

    public void Dispose()
    {
        _backend.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private string Tokens(string json)
    {
        string path = Path.Combine(_folder, "tokens.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Logprobs_match_a_direct_log_softmax_of_the_logits()
    {
        int V = _vocabulary.Size;
        var rng = new GtaIlgpu.Common.Rng(4);
        // Ten sequences: more than one forward batch of eight.
        var sequences = Enumerable.Range(0, 10).Select(_ => Enumerable.Range(0, 7).Select(_ => rng.NextInt(V)).ToArray()).ToArray();
        string input = Tokens(JsonSerializer.Serialize(new { tokens = sequences }));
        string output = Path.Combine(_folder, "out.json");
        Assert.Equal(0, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", _model, "--tokens", input, "--out", output, "--device", "cpu"]));

        using var doc = JsonDocument.Parse(File.ReadAllText(output));
        var rows = doc.RootElement.GetProperty("logprobs").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        using var loaded = ModelCheckpoint.Load(_model, _backend);
        double total = 0;
        for (int i = 0; i < sequences.Length; i++)
        {
            using var acts = new Activations(_backend, loaded.Model.Config, 1, 7, withGradients: false);
            using var ids = _backend.AllocateFrom<int>(sequences[i]);
            loaded.Model.Forward(acts, ids.View);
            var logits = _backend.ToArray(acts.Logits);
            Assert.Equal(6, rows[i].Length);
            for (int t = 0; t < 6; t++)
            {
                var row = logits.AsSpan(t * V, V);
                double max = double.MinValue, sum = 0;
                foreach (float z in row) max = Math.Max(max, z);
                foreach (float z in row) sum += Math.Exp(z - max);
                double expected = row[sequences[i][t + 1]] - max - Math.Log(sum);
                Assert.Equal(expected, rows[i][t], 4);
                total -= expected;
            }
        }
        Assert.Equal(total / 60, doc.RootElement.GetProperty("loss").GetDouble(), 4);
    }

    [Theory]
    [InlineData("{\"tokens\": []}", "at least one sequence")]
    [InlineData("{\"tokens\": [[1, 2, 3], [1, 2]]}", "sequences must be equally long")]
    [InlineData("{\"tokens\": [[1]]}", "at least 2")]
    [InlineData("{\"tokens\": [[1, 99999]]}", "outside the model's vocabulary")]
    [InlineData("{\"tokens\": [[1, \"a\"]]}", "not an integer id")]
    [InlineData("{\"tokens\": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]}", "exceed the model's window")]
    [InlineData("{\"tokens\": [[1, 2]", "not valid JSON")]
    public void Bad_token_files_get_a_clear_error_and_no_output(string json, string expected)
    {
        string input = Tokens(json), output = Path.Combine(_folder, "out.json");
        var error = Assert.ThrowsAny<Exception>(() =>
        {
            var sequences = LogprobsCommand.ReadTokens(input);
            using var loaded = ModelCheckpoint.Load(_model, _backend);
            LogprobsCommand.Score(loaded.Model, sequences, input);
        });
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains(expected, error.Message);
        Assert.Equal(2, CliErrors.Invoke(LogprobsCommand.Build(), ["--model", _model, "--tokens", input, "--out", output, "--device", "cpu"]));
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Generate_on_our_folder_is_deterministic_greedily_and_from_a_seed()
    {
        using var loaded = ModelCheckpoint.Load(_model, _backend);
        var greedy = new SamplingSettings(Temperature: 0);
        Assert.Equal(GenerateCommand.Continue(loaded, "the cat", 6, greedy, 1), GenerateCommand.Continue(loaded, "the cat", 6, greedy, 99));
        var sampled = new SamplingSettings(0.8f, 40, 0.95f);
        Assert.Equal(GenerateCommand.Continue(loaded, "the cat", 6, sampled, 5), GenerateCommand.Continue(loaded, "the cat", 6, sampled, 5));
        Assert.Equal(0, CliErrors.Invoke(GenerateCommand.Build(), ["--model", _model, "--prompt", "the dog", "--max-tokens", "5", "--device", "cpu", "--seed", "3"]));
        Assert.Equal(2, CliErrors.Invoke(GenerateCommand.Build(), ["--model", Path.Combine(_folder, "missing"), "--prompt", "x", "--device", "cpu"]));
    }
}
