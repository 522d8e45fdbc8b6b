using System.CommandLine;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Gta;

namespace GtaIlgpu.Tests.Cli;

/// <summary>The GTA options on a bare command: what `gta train` would make of these arguments, without running anything.</summary>
internal static class GtaOptionsParsing
{
    public static GtaSettings Parse(params string[] args)
    {
        var options = new GtaOptions();
        var command = new Command("probe");
        options.AddTo(command);
        var result = command.Parse(args);
        Assert.Empty(result.Errors);
        return options.Settings(result, TrainingMethod.Gta);
    }
}
