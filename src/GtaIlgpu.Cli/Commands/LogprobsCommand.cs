using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Training;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta logprobs`: the plain forward pass over given token ids, reporting log p(token t+1 | tokens ≤ t)
/// for every position and their mean cross-entropy, for checking our numbers against other implementations.
/// </summary>
public static class LogprobsCommand
{
    /// <summary>Sequences per forward pass: bounds the activation memory.</summary>
    private const int MaxBatch = 8;

    public static Command Build()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "model folder: a gta run, or a Hugging Face GPT-2, Llama, Qwen2 or Qwen3 folder", Required = true };
        var tokens = new Option<FileInfo>("--tokens") { Description = "JSON file {\"tokens\": [[ids...], ...]}: sequences of equal length ≥ 2", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "JSON file to write {\"loss\": mean cross-entropy, \"logprobs\": [[...], ...]}", Required = true };
        var device = CommonOptions.Device();

        var command = new Command("logprobs", "score token sequences: next-token log-probabilities and mean cross-entropy");
        var baseModel = CommonOptions.AdapterBase();
        foreach (var option in new Option[] { model, baseModel, tokens, output, device })
            command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(tokens)!, parse.GetValue(output)!, parse.GetValue(device)!, parse.GetValue(baseModel)?.FullName));
        return command;
    }

    /// <summary>Reads and checks the input: a non-empty list of equally long sequences of at least two ids.</summary>
    public static int[][] ReadTokens(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokens file not found: {path}", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message})"); }
        if (root?["tokens"] is not JsonArray rows || rows.Count == 0)
            throw new InvalidDataException($"{path}: expected {{\"tokens\": [[ids...], ...]}} with at least one sequence");
        var sequences = new int[rows.Count][];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i] is not JsonArray row) throw new InvalidDataException($"{path}: tokens[{i}] is not an array of ids");
            sequences[i] = new int[row.Count];
            for (int t = 0; t < row.Count; t++)
            {
                if (row[t] is not JsonValue v || !v.TryGetValue(out int id))
                    throw new InvalidDataException($"{path}: tokens[{i}][{t}] is not an integer id");
                sequences[i][t] = id;
            }
            if (sequences[i].Length < 2) throw new InvalidDataException($"{path}: tokens[{i}] has {sequences[i].Length} ids; scoring needs at least 2");
            if (sequences[i].Length != sequences[0].Length)
                throw new InvalidDataException($"{path}: tokens[{i}] has {sequences[i].Length} ids but tokens[0] has {sequences[0].Length}; sequences must be equally long");
        }
        return sequences;
    }

    /// <summary>Log-probabilities (N, T−1) of each next token and their mean negative.</summary>
    public static (float[][] LogProbs, double Loss) Score(Transformer model, int[][] sequences, string source)
    {
        int N = sequences.Length, T = sequences[0].Length, V = model.Config.VocabSize;
        if (T > model.Config.MaxSequence) throw new InvalidDataException($"{source}: sequences of {T} ids exceed the model's window of {model.Config.MaxSequence}");
        for (int i = 0; i < N; i++)
            for (int t = 0; t < T; t++)
                if (sequences[i][t] < 0 || sequences[i][t] >= V)
                    throw new InvalidDataException($"{source}: tokens[{i}][{t}] = {sequences[i][t]} is outside the model's vocabulary of {V}");
        int B = Math.Min(N, MaxBatch);
        var backend = model.Backend;
        MemoryPlan.ForInference(model.Config, B, T, decoding: false).EnsureFits(backend.MemoryBytes, backend.Name);
        using var acts = new Activations(model, B, T, withGradients: false);
        using var loss = new TokenLoss(backend, B * T);
        using var inputs = backend.Allocate<int>(B * T);
        var hostInputs = new int[B * T];
        var targets = new int[B * T];
        var result = new float[N][];
        double total = 0;
        for (int first = 0; first < N; first += B)
        {
            int count = Math.Min(B, N - first);
            Array.Clear(hostInputs);
            Array.Fill(targets, -1); // the last position of each row, and unused rows, predict nothing
            for (int b = 0; b < count; b++)
            {
                var s = sequences[first + b];
                s.CopyTo(hostInputs, b * T);
                Array.Copy(s, 1, targets, b * T, T - 1);
            }
            backend.Upload(inputs.View, hostInputs);
            loss.SetTargets(targets);
            model.Forward(acts, inputs.View);
            loss.Compute(acts, withGradient: false);
            var logProbs = loss.LogProbs;
            for (int b = 0; b < count; b++)
            {
                result[first + b] = logProbs.Slice(b * T, T - 1).ToArray();
                foreach (float lp in result[first + b]) total -= lp;
            }
        }
        return (result, total / ((double)N * (T - 1)));
    }

    private static int Run(DirectoryInfo folder, FileInfo tokensFile, FileInfo outputFile, string device, string? baseFolder)
    {
        var sequences = ReadTokens(tokensFile.FullName);
        using var backend = CommonOptions.OpenBackend(device);
        using var loaded = ModelCheckpoint.Load(folder.FullName, backend, baseFolder: baseFolder);
        AnsiConsole.MarkupLineInterpolated($"[grey]model:[/] {loaded.Model.Config.Describe(loaded.Model.Layout.ParameterCount)}");
        var (logProbs, loss) = Score(loaded.Model, sequences, tokensFile.FullName);
        var json = new JsonObject
        {
            ["loss"] = loss,
            ["logprobs"] = new JsonArray(logProbs.Select(row => (JsonNode)new JsonArray(row.Select(v => (JsonNode)v).ToArray())).ToArray()),
        };
        AtomicFile.WriteText(outputFile.FullName, json.ToJsonString());
        AnsiConsole.MarkupLineInterpolated($"{sequences.Length} sequences of {sequences[0].Length} tokens: mean next-token cross-entropy {loss:F6}; written to {outputFile.FullName}");
        return 0;
    }
}
