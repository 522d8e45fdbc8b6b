using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Gta;
using GtaIlgpu.Rewards;
using GtaIlgpu.Tests.Checkpoints;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Text;

namespace GtaIlgpu.Tests.Cli;

/// <summary>
/// Random Qwen2-, Qwen3- and Llama-3-style folders — weights and config in transformers' layout, tokenizer
/// files in each family's format, a chat template in tokenizer_config.json — through `gta base --from`,
/// `gta train --model` (GTA, a few steps), `gta eval` and `gta generate` (text in, text out).
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class PretrainedLlamaGtaTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"gta-pretrained-llama-{Guid.NewGuid():N}");

    public PretrainedLlamaGtaTests() => Directory.CreateDirectory(_root);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    // The templates' telltale lines, as the models' tokenizer_config.json carry them (ChatMode auto detects the family from them).
    private const string ChatMlJinja = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    private const string Llama31Jinja = "{{- bos_token }}{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}{{- '<|eot_id|>' }}";

    public static TheoryData<string> Families => ["qwen2", "qwen3", "llama"];

    /// <summary>A random model of the family whose vocabulary covers the hand-made tokenizer's ids, with that tokenizer and a chat template.</summary>
    private string WriteFolder(string family)
    {
        string folder = Path.Combine(_root, family);
        var hf = family switch
        {
            "qwen2" => new LlamaHuggingFaceFolder { ModelType = "qwen2", KvHeads = 1, DType = "BF16" },
            "qwen3" => new LlamaHuggingFaceFolder { ModelType = "qwen3", HeadDim = 6, KvHeads = 2, DType = "BF16" },
            _ => new LlamaHuggingFaceFolder { ModelType = "llama", KvHeads = 2, DType = "F32", Tied = false, Shards = 2 },
        };
        hf.Layers = 1;
        hf.Vocab = 280;
        hf.Positions = 4096;
        hf.Build(11);
        hf.Write(folder);
        if (family == "llama") TokenizerFixtures.WriteLlama3(folder);
        else TokenizerFixtures.WriteQwen2(folder);
        string configPath = Path.Combine(folder, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["chat_template"] = family == "llama" ? Llama31Jinja : ChatMlJinja;
        File.WriteAllText(configPath, config.ToJsonString());
        return folder;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void A_llama_family_folder_goes_through_base_train_eval_and_generate(string family)
    {
        string hf = WriteFolder(family);
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        string baseDir = Path.Combine(_root, "base"), run = Path.Combine(_root, "run");
        string[] small = ["--max-completion", "96", "--base-prime-steps", "2", "--base-lr", "1e-3", "--device", "cpu"];
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", hf, "--data", data, "--out", baseDir, .. small]));

        // The base records its format: tags as text, the chat template, the end of turn; its tokenizer files travel with it.
        using (var options = JsonDocument.Parse(File.ReadAllText(Path.Combine(baseDir, PromptFormat.OptionsFile))))
        {
            Assert.Equal("text", options.RootElement.GetProperty("tags").GetString());
            Assert.Equal(family == "llama" ? "llama3.1" : "chatml", options.RootElement.GetProperty("chat").GetString());
            Assert.Equal(family == "llama" ? TokenizerFixtures.EotId : TokenizerFixtures.ImEnd, options.RootElement.GetProperty("end_id").GetInt32());
        }
        using (var backend = new CpuBackend())
        {
            var (model, format) = BaseCheckpoint.Load(baseDir, backend, ["negative", "positive"]);
            using (model)
            {
                Assert.Equal(family, model.Config.ModelType);
                Assert.Equal(280, model.Config.VocabSize); // nothing added: the tags are text
                Assert.True(format.Encode("<guess>").Length > 1, "the tags must be spelled by BPE, several tokens each");
                Assert.Contains(family == "llama" ? "<|start_header_id|>user<|end_header_id|>" : "<|im_start|>user\n", format.PromptText("a film", CompletionTemplate.GuessThinkAnswer));
            }
        }

        string[] steps = ["--steps", "2", "--prompts", "2", "--generations", "2", "--mu", "1", "--eval-every", "1", "--eval-examples", "4"];
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), ["--model", baseDir, "--data", data, "--out", run, .. steps, .. small]));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Length);
        Assert.True(File.Exists(Path.Combine(run, "checkpoint", PromptFormat.OptionsFile)), "the run's checkpoint records the format");
        string evalOut = Path.Combine(_root, "eval.json");
        Assert.Equal(0, CliErrors.Invoke(EvalCommand.Build(), ["--model", run, "--data", data, "--split", "test", "--out", evalOut, "--device", "cpu"]));
        using (var eval = JsonDocument.Parse(File.ReadAllText(evalOut)))
            Assert.True(eval.RootElement.GetProperty("accuracy").GetDouble() >= 0);

        // gta generate: text in, text out, through the folder's own tokenizer.
        var writer = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(writer);
        try
        {
            Assert.Equal(0, CliErrors.Invoke(GenerateCommand.Build(), ["--model", hf, "--prompt", "the film", "--max-tokens", "6", "--temperature", "0", "--device", "cpu"]));
        }
        finally { Console.SetOut(previous); }
        Assert.StartsWith("the film", writer.ToString());
    }

    /// <summary>A GTA run on a Qwen3 base stopped after a step and resumed writes what an uninterrupted run writes.</summary>
    [Fact]
    public void A_resumed_run_on_a_pretrained_base_is_the_same_run()
    {
        string hf = WriteFolder("qwen3");
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        string baseDir = Path.Combine(_root, "base");
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", hf, "--data", data, "--out", baseDir, "--base-prime-steps", "2", "--max-completion", "96", "--device", "cpu"]));
        string[] Args(string run, params string[] more) =>
            ["--model", baseDir, "--data", data, "--out", run, "--steps", "3", "--prompts", "2", "--generations", "2", "--mu", "1",
             "--eval-every", "1", "--eval-examples", "4", "--max-completion", "96", "--device", "cpu", .. more];
        string straight = Path.Combine(_root, "straight"), split = Path.Combine(_root, "split");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(straight)));
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), Args(split, "--checkpoint-every", "1", "--stop-after", "1")));
        Assert.True(File.Exists(Path.Combine(TrainingCheckpoint.Latest(split)!, PromptFormat.OptionsFile)), "the training checkpoint records the format");
        Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), ["--resume", split, "--device", "cpu"]));
        static string[] WithoutTimes(string path) => File.ReadAllLines(path).Select(line =>
        {
            var json = JsonNode.Parse(line)!.AsObject();
            json.Remove("tokens_per_second");
            json.Remove("seconds");
            return json.ToJsonString();
        }).ToArray();
        Assert.Equal(WithoutTimes(Path.Combine(straight, "metrics.jsonl")), WithoutTimes(Path.Combine(split, "metrics.jsonl")));
        Assert.Equal(File.ReadAllText(Path.Combine(straight, "eval.json")), File.ReadAllText(Path.Combine(split, "eval.json")));
    }

    /// <summary>Without a chat template the prompt is the plain one; a Llama 3 prompt starts with its bos, as its tokenizer adds it, a Qwen one has none.</summary>
    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    public void Chat_off_gives_the_plain_prompt_and_the_end_of_text_token(string family)
    {
        string hf = WriteFolder(family);
        string data = DatasetFolder.WriteSynthetic(Path.Combine(_root, "data"));
        string baseDir = Path.Combine(_root, "base");
        Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), ["--from", hf, "--chat", "off", "--data", data, "--out", baseDir, "--base-prime-steps", "0", "--max-completion", "96", "--device", "cpu"]));
        using var backend = new CpuBackend();
        var (model, format) = BaseCheckpoint.Load(baseDir, backend, ["negative", "positive"]);
        using (model)
        {
            Assert.Null(format.Chat);
            string prompt = format.PromptText("a film", CompletionTemplate.GuessThinkAnswer);
            Assert.DoesNotContain(family == "llama" ? "<|start_header_id|>" : "<|im_start|>", prompt);
            Assert.Equal(family == "llama", prompt.StartsWith("<|begin_of_text|>Task:", StringComparison.Ordinal));
            Assert.StartsWith(family == "llama" ? "<|begin_of_text|>Task:" : "Task:", prompt);
            // These tokenizer_config.json files name <|im_end|> and <|eot_id|> as eos.
            Assert.Equal(family == "llama" ? TokenizerFixtures.EotId : TokenizerFixtures.ImEnd, format.EndOfText);
            if (family == "llama") Assert.Equal(TokenizerFixtures.BeginOfText, format.Prompt("a film", CompletionTemplate.GuessThinkAnswer)[0]);
        }
    }
}
