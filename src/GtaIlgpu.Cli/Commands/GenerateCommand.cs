using System.CommandLine;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Model;

namespace GtaIlgpu.Cli.Commands;

/// <summary>`gta generate`: a sampled continuation of a prompt, from one of our run folders or a Hugging Face GPT-2 folder.</summary>
public static class GenerateCommand
{
    public static Command Build()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "model folder: a gta run, or a Hugging Face GPT-2 folder (config.json, model.safetensors, vocab.json, merges.txt)", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "text to continue", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "tokens to generate at most (generation also stops at end-of-text)", DefaultValueFactory = _ => 50 };
        var temperature = new Option<float>("--temperature") { Description = "sampling temperature; 0 decodes greedily", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "sample among the k most likely tokens; 0: all", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "then sample within the smallest set of most likely tokens whose probability, renormalised after top-k, reaches p; 1: all", DefaultValueFactory = _ => 0.95f };
        var device = CommonOptions.Device();
        var seed = CommonOptions.Seed(1337);

        var command = new Command("generate", "print a sampled continuation of a prompt");
        foreach (var option in new Option[] { model, prompt, maxTokens, temperature, topK, topP, device, seed })
            command.Options.Add(option);
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(prompt)!, parse.GetValue(maxTokens),
            new SamplingSettings(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP)), parse.GetValue(seed), parse.GetValue(device)!));
        return command;
    }

    private static int Run(DirectoryInfo folder, string prompt, int maxTokens, SamplingSettings sampling, ulong seed, string device)
    {
        if (maxTokens <= 0) throw new ArgumentException($"--max-tokens must be positive, got {maxTokens}");
        if (sampling.TopP <= 0 || sampling.TopP > 1) throw new ArgumentException($"--top-p must be in (0, 1], got {sampling.TopP}");
        using var backend = CommonOptions.OpenBackend(device);
        using var loaded = ModelCheckpoint.Load(folder.FullName, backend);
        Console.Out.WriteLine(prompt + Continue(loaded, prompt, maxTokens, sampling, seed));
        return 0;
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
