using GtaIlgpu.Tests.Fixtures;
using System.Text.Json;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Tests.Gta;

namespace GtaIlgpu.Tests.Cli;

/// <summary>`gta train`, `gta eval` and `gta compare` end to end on a tiny dataset folder and a tiny model.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public class GtaCommandsTests
{
    private static readonly string[] Tiny =
    [
        "--steps", "2", "--prompts", "2", "--generations", "2", "--mu", "1", "--max-completion", "16", "--eval-every", "1",
        "--eval-examples", "4", "--base-layers", "1", "--base-channels", "16", "--base-heads", "2", "--base-sequence", "64",
        "--base-pretrain-steps", "2", "--base-prime-steps", "2", "--device", "cpu",
    ];

    [Fact]
    public void Train_writes_the_run_folder_and_eval_and_compare_read_and_extend_it()
    {
        string root = Path.Combine(Path.GetTempPath(), $"gta-cli-{Guid.NewGuid():N}");
        try
        {
            string data = DatasetFolder.WriteSynthetic(Path.Combine(root, "data"));
            string run = Path.Combine(root, "run");
            Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), [.. Tiny, "--data", data, "--out", run]));
            foreach (var file in new[] { "config.json", "metrics.jsonl", "validation.jsonl", "eval.json", "rewards.png", "accuracy.png", "checkpoint/model.safetensors", "checkpoint/vocab.gta.json" })
                Assert.True(File.Exists(Path.Combine(run, file)), $"{file} missing from the run folder");
            Assert.Equal(2, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Length);
            Assert.Equal(3, File.ReadAllLines(Path.Combine(run, "validation.jsonl")).Length); // steps 0, 1, 2
            using (var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "eval.json"))))
                foreach (var key in new[] { "accuracy", "macro_f1", "weighted_f1", "format_valid_rate", "guess_accuracy" })
                    Assert.True(eval.RootElement.TryGetProperty(key, out _), $"eval.json lacks {key}");
            using (var metrics = JsonDocument.Parse(File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))[0]))
                foreach (var key in new[] { "step", "reward", "reward_std", "rewards/format/mean", "rewards/format/std", "rewards/accuracy/mean", "rewards/accuracy/std",
                             "frac_reward_zero_std", "kl", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "completions/mean_length",
                             "completions/min_length", "completions/max_length", "completions/clipped_ratio", "num_tokens", "cos_sft_rl", "gate_dropped_sft", "grad_norm",
                             "grad_norm_sft", "grad_norm_rl", "sft_loss", "rl_loss", "learning_rate", "tokens_per_second", "seconds" })
                    Assert.True(metrics.RootElement.TryGetProperty(key, out _), $"metrics.jsonl lacks {key}");

            // A second train into the same folder is refused; eval reads the run back.
            Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), [.. Tiny, "--data", data, "--out", run]));
            string evalOut = Path.Combine(root, "eval-test.json");
            Assert.Equal(0, CliErrors.Invoke(EvalCommand.Build(), ["--model", run, "--data", data, "--split", "test", "--out", evalOut, "--device", "cpu"]));
            Assert.Equal(File.ReadAllText(Path.Combine(run, "eval.json")), File.ReadAllText(evalOut));

            string compare = Path.Combine(root, "compare");
            Assert.Equal(0, CliErrors.Invoke(CompareCommand.Build(), [.. Tiny, "--data", data, "--out", compare]));
            Assert.True(File.Exists(Path.Combine(compare, "accuracy.png")));
            string summary = File.ReadAllText(Path.Combine(compare, "summary.md"));
            foreach (var method in new[] { "| sft |", "| grpo |", "| gta |" }) Assert.Contains(method, summary);
            foreach (var method in new[] { "sft", "grpo", "gta" }) Assert.True(File.Exists(Path.Combine(compare, method, "eval.json")));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
