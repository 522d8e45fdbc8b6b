using System.Text.Json;
using GtaIlgpu.Cli.Commands;

namespace GtaIlgpu.Tests.Model;

/// <summary>The `gta pretrain` command end to end on a tiny model and a small text file.</summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public class PretrainCommandTests
{
    [Fact]
    public void Pretrain_writes_a_checkpoint_and_metrics_and_the_loss_falls()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"gta-pretrain-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string text = Path.Combine(folder, "text.txt");
            var lines = Enumerable.Range(0, 60).Select(i => $"the cat sat on the mat number {i % 7}.\n\nthe dog ran to the park.\n");
            File.WriteAllText(text, string.Concat(lines));
            string run = Path.Combine(folder, "run");
            string[] args = ["--text", text, "--out", run, "--layers", "1", "--channels", "16", "--heads", "2",
                "--sequence", "16", "--batch", "4", "--steps", "60", "--lr", "1e-2", "--warmup", "2", "--device", "cpu"];
            int exit = CliErrors.Invoke(PretrainCommand.Build(), args);
            Assert.Equal(0, exit);
            foreach (var file in new[] { "model.safetensors", "config.json", "vocab.gta.json", "metrics.jsonl" })
                Assert.True(File.Exists(Path.Combine(run, file)), $"{file} missing");
            var losses = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
                .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("loss").GetSingle()).ToArray();
            Assert.Equal(60, losses.Length);
            Assert.True(losses.TakeLast(5).Average() < losses.Take(5).Average() * 0.5, "loss did not fall");
            using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "config.json")));
            Assert.Equal(1, config.RootElement.GetProperty("n_layer").GetInt32());

            // A second run into the same folder is refused rather than overwriting it.
            Assert.Equal(2, CliErrors.Invoke(PretrainCommand.Build(), args));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
