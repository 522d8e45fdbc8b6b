using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta base`: build the shared base model for a dataset (language modelling on the training texts, then
/// format priming with random labels; or, with --from, format priming of a downloaded GPT-2 whose
/// vocabulary gets the tags) and save it, so that several methods, seeds and ablations can start from
/// the same checkpoint with `gta train --model DIR`.
/// </summary>
public static class BaseCommand
{
    public static Command Build()
    {
        var options = new GtaOptions();
        var output = new Option<DirectoryInfo>("--out") { Description = "base folder", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("runs", "base")) };
        var overwrite = new Option<bool>("--overwrite") { Description = "replace a base already in --out" };
        var from = new Option<DirectoryInfo?>("--from") { Description = "start from a downloaded Hugging Face folder instead of a model built from scratch: GPT-2 (config.json, model.safetensors, vocab.json, merges.txt; the six tags become new tokens, embedding rows at the mean of the existing ones) or Llama 3 / Qwen2 / Qwen3 (weights, config.json and tokenizer files; the tags stay text its tokenizer spells, prompts follow --chat); language-model pretraining is skipped and the format is primed (--base-prime-steps, 0 to skip); --base-layers, --base-channels, --base-heads and --base-pretrain-steps do not apply" };
        var command = new Command("base", "build the base model for a dataset (it follows the formats but knows nothing of the task) and save it");
        options.AddBaseTo(command);
        command.Options.Add(output);
        command.Options.Add(overwrite);
        command.Options.Add(from);
        command.SetAction(p => Run(options, p, p.GetValue(output)!.FullName, p.GetValue(overwrite), p.GetValue(from)?.FullName));
        return command;
    }

    private static int Run(GtaOptions options, ParseResult p, string folder, bool overwrite, string? from)
    {
        TrainCommand.RefuseExisting(folder, overwrite);
        var settings = options.Base(p);
        var data = DatasetLoader.LoadSplits(p.GetValue(options.Data));
        string task = GtaOptions.TaskName(p.GetValue(options.Task), data.Name);
        AnsiConsole.MarkupLineInterpolated($"[grey]data:[/] {data.Name}: {data.Train.Count} train; labels {string.Join(", ", data.Labels)}");
        using var backend = CommonOptions.OpenBackend(p.GetValue(options.Device)!);
        if (from is not null && !PretrainedBase.IsHuggingFaceFolder(from))
            throw new DirectoryNotFoundException($"--from {from}: not a Hugging Face model folder (needs config.json, model.safetensors or its shards, and a tokenizer: vocab.json + merges.txt, tokenizer.json or original/tokenizer.model)");
        var (model, format) = from is null ? GtaRunner.BuildBase(backend, data, settings, task) : GtaRunner.BuildPretrainedBase(backend, data, from, settings, task);
        using (model)
        {
            var validation = data.ValidationSample(200);
            // A quarter of the window leaves the prompt room even in tiny test models.
            int maxCompletion = Math.Min(settings.MaxCompletionTokens, model.Config.MaxSequence / 4);
            var table = new Table().AddColumns("template (validation, greedy)", "accuracy", "format-valid");
            foreach (var template in new[] { CompletionTemplate.GuessThinkAnswer, CompletionTemplate.ThinkAnswer, CompletionTemplate.Answer })
            {
                var m = GtaRunner.Evaluate(model, format, validation, template, maxCompletion, $"base, {template}");
                table.AddRow(template.ToString(), $"{m.Accuracy:P1}", $"{m.FormatValidRate:P1}");
            }
            BaseCheckpoint.Save(folder, model, format, new JsonObject
            {
                ["data"] = data.Name,
                ["from"] = from,
                ["settings"] = JsonSerializer.SerializeToNode(settings, GtaRunner.Json),
            });
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"[grey]base folder:[/] {folder}");
        }
        return 0;
    }
}
