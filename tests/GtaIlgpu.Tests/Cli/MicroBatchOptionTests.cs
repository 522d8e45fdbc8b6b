using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Cli;

/// <summary>--micro-batch reaches the settings, is saved with the run and read back for --resume.</summary>
public class MicroBatchOptionTests
{
    private static GtaSettings Parse(params string[] args) => GtaOptionsParsing.Parse(args);

    [Fact]
    public void The_option_defaults_to_the_whole_batch_and_round_trips_through_the_run_spec()
    {
        Assert.Equal(0, Parse().MicroBatch);
        var settings = Parse("--micro-batch", "4");
        Assert.Equal(4, settings.MicroBatch);
        var json = new GtaRunSpec(settings, null, "f", "t", ["a", "b"], null, 0).ToJson();
        Assert.Equal(4, json["settings"]!["micro_batch"]!.GetValue<int>());
        Assert.Equal(settings, GtaRunSpec.FromJson(json, "new").Settings);

        // A run saved before the option existed trained whole batches.
        json["settings"]!.AsObject().Remove("micro_batch");
        Assert.Equal(0, GtaRunSpec.FromJson(json, "old").Settings.MicroBatch);
        Assert.Throws<ArgumentException>(() => Parse("--micro-batch", "-2").Validate());
    }
}
