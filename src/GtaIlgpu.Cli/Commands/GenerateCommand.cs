using System.CommandLine;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Model;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta generate`: a sampled continuation of a prompt, from one of our run folders or a Hugging Face folder
/// (GPT-2, Llama, Qwen2, Qwen3). --prompt takes text (the folder's tokenizer encodes it); --tokens takes ids
/// and prints ids, which works for every family without a tokenizer.
/// </summary>
public static class GenerateCommand
{
    public static Command Build()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "model folder: a gta run, or a Hugging Face folder (config.json, model.safetensors or its shards; vocab.json and merges.txt for --prompt)", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "text to continue (needs the folder's tokenizer)" };
        var tokens = new Option<string?>("--tokens") { Description = "token ids to continue, comma- or space-separated; prints the generated ids as a JSON array" };
        var stopToken = new Option<int>("--stop-token") { Description = "with --tokens: stop after this id (e.g. the model's end-of-text); -1: none", DefaultValueFactory = _ => -1 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "tokens to generate at most (generation also stops at end-of-text)", DefaultValueFactory = _ => 50 };
        var temperature = new Option<float>("--temperature") { Description = "sampling temperature; 0 decodes greedily", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "sample among the k most likely tokens; 0: all", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "then sample within the smallest set of most likely tokens whose probability, renormalised after top-k, reaches p; 1: all", DefaultValueFactory = _ => 0.95f };
        var device = CommonOptions.Device();
        var seed = CommonOptions.Seed(1337);

        var command = new Command("generate", "print a sampled continuation of a prompt");
        var baseModel = CommonOptions.AdapterBase();
        foreach (var option in new Option[] { model, baseModel, prompt, tokens, stopToken, maxTokens, temperature, topK, topP, device, seed })
            command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(prompt), parse.GetValue(tokens), parse.GetValue(stopToken), parse.GetValue(maxTokens),
            new SamplingSettings(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP)), parse.GetValue(seed), parse.GetValue(device)!, parse.GetValue(baseModel)?.FullName));
        return command;
    }

    private static int Run(DirectoryInfo folder, string? prompt, string? tokens, int stopToken, int maxTokens, SamplingSettings sampling, ulong seed, string device, string? baseFolder)
    {
        if ((prompt is null) == (tokens is null)) throw new ArgumentException("give exactly one of --prompt (text) and --tokens (ids)");
        if (maxTokens <= 0) throw new ArgumentException($"--max-tokens must be positive, got {maxTokens}");
        if (sampling.TopP <= 0 || sampling.TopP > 1) throw new ArgumentException($"--top-p must be in (0, 1], got {sampling.TopP}");
        var ids = tokens is null ? null : ParseIds(tokens);
        using var backend = CommonOptions.OpenBackend(device);
        using var loaded = ModelCheckpoint.Load(folder.FullName, backend, baseFolder: baseFolder);
        if (ids is not null)
            Console.Out.WriteLine("[" + string.Join(", ", ContinueIds(loaded.Model, ids, maxTokens, sampling, seed, stopToken)) + "]");
        else
            Console.Out.WriteLine(prompt + Continue(loaded, prompt!, maxTokens, sampling, seed));
        return 0;
    }

    /// <summary>"1, 2 3" → [1, 2, 3]; anything that is not an integer is named.</summary>
    public static int[] ParseIds(string text)
    {
        var parts = text.Split([',', ' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("--tokens holds no ids");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out ids[i]))
                throw new ArgumentException($"--tokens: '{parts[i]}' (item {i}) is not an integer id");
        return ids;
    }

    /// <summary>The generated ids after the prompt ids (the prompt is checked against the vocabulary and window).</summary>
    public static int[] ContinueIds(Transformer model, int[] ids, int maxTokens, SamplingSettings sampling, ulong seed, int stopToken = -1)
    {
        int window = model.Config.MaxSequence;
        if (ids.Length >= window) throw new ArgumentException($"--tokens holds {ids.Length} ids; the model's window is {window}");
        for (int i = 0; i < ids.Length; i++)
            if (ids[i] < 0 || ids[i] >= model.Config.VocabSize)
                throw new ArgumentException($"--tokens: id {ids[i]} (item {i}) is outside the model's vocabulary of {model.Config.VocabSize}");
        int length = Math.Min(window, ids.Length + maxTokens);
        var plan = MemoryPlan.ForInference(model.Config, 1, length, decoding: true);
        plan.EnsureFits(model.Backend.MemoryBytes, model.Backend.Name);
        using var generator = new Generator(model, 1, length);
        return generator.Generate([ids], maxTokens, sampling, new Rng(seed), stopToken)[0];
    }

    /// <summary>The decoded continuation of a prompt (without the prompt); stops at end-of-text or after maxTokens.</summary>
    public static string Continue(LoadedModel loaded, string prompt, int maxTokens, SamplingSettings sampling, ulong seed)
    {
        var tokenizer = loaded.RequireTokenizer();
        var ids = tokenizer.Encode(prompt);
        if (ids.Length == 0) throw new ArgumentException("--prompt encodes to no tokens");
        int window = loaded.Model.Config.MaxSequence;
        if (ids.Length >= window) throw new ArgumentException($"--prompt is {ids.Length} tokens; the model's window is {window}");
        using var generator = new Generator(loaded.Model, 1, Math.Min(window, ids.Length + maxTokens));
        var completion = generator.Generate([ids], maxTokens, sampling, new Rng(seed), tokenizer.EndOfTextId)[0];
        return tokenizer.Decode(completion);
    }
}
