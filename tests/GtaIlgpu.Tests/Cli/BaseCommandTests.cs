using System.Text.Json;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Tests.Fixtures;
using GtaIlgpu.Tests.Gta;

namespace GtaIlgpu.Tests.Cli;

/// <summary>`gta base` saves a base that `gta train --model` starts from, bit for bit the weights it saved.</summary>
[Collection(ConsoleCollection.Name)]
public class BaseCommandTests
{
    private static readonly string[] TinyBase =
    [
        "--base-layers", "1", "--base-channels", "16", "--base-heads", "2", "--base-sequence", "64",
        "--base-pretrain-steps", "2", "--base-prime-steps", "2",
    ];

    private static readonly string[] TinyTrain =
    [
        "--steps", "1", "--prompts", "2", "--generations", "2", "--mu", "1", "--max-completion", "16", "--eval-every", "1",
        "--eval-examples", "4", "--device", "cpu",
    ];

    /// <summary>metrics.jsonl without its wall-clock fields, which differ from run to run.</summary>
    private static string[] WithoutClock(string path) => File.ReadAllLines(path).Select(line =>
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(line)!.AsObject();
        node.Remove("tokens_per_second");
        node.Remove("seconds");
        return node.ToJsonString();
    }).ToArray();

    [Fact]
    public void Train_from_a_saved_base_starts_from_its_weights_and_refuses_a_dataset_with_other_labels()
    {
        string root = Path.Combine(Path.GetTempPath(), $"gta-base-{Guid.NewGuid():N}");
        try
        {
            var data = GtaEndToEndTests.SyntheticSentiment(40, 6, 7);
            string dataDir = DatasetFolder.Write(Path.Combine(root, "data"), data.Train, data.Validation, data.Test);
            string baseDir = Path.Combine(root, "base");
            Assert.Equal(0, CliErrors.Invoke(BaseCommand.Build(), [.. TinyBase, "--device", "cpu", "--data", dataDir, "--out", baseDir]));
            foreach (var file in new[] { "model.safetensors", "config.json", "vocab.gta.json", "gta_base.json" })
                Assert.True(File.Exists(Path.Combine(baseDir, file)), $"{file} missing from the base folder");

            // Step 0's validation of a run from the saved base equals that of the base saved by a run that builds it:
            // both are the same weights, format and prompts.
            string fromSaved = Path.Combine(root, "from-saved");
            string built = Path.Combine(root, "built");
            Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), [.. TinyTrain, "--data", dataDir, "--model", baseDir, "--out", fromSaved]));
            Assert.Equal(0, CliErrors.Invoke(TrainCommand.Build(), [.. TinyTrain, .. TinyBase, "--data", dataDir, "--out", built]));
            Assert.Equal(WithoutClock(Path.Combine(built, "metrics.jsonl")), WithoutClock(Path.Combine(fromSaved, "metrics.jsonl")));
            Assert.Equal(File.ReadAllLines(Path.Combine(built, "validation.jsonl")), File.ReadAllLines(Path.Combine(fromSaved, "validation.jsonl")));

            // A dataset with a label the base was never primed on is refused in one line.
            var relabelled = data.Test.Select(e => e with { Label = "neutral" }).ToList();
            string other = DatasetFolder.Write(Path.Combine(root, "other"), [.. data.Train, .. relabelled], data.Validation, data.Test);
            Assert.Equal(2, CliErrors.Invoke(TrainCommand.Build(), [.. TinyTrain, "--data", other, "--model", baseDir, "--out", Path.Combine(root, "refused")]));
            Assert.False(File.Exists(Path.Combine(root, "refused", "metrics.jsonl")));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
