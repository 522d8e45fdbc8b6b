using System.CommandLine;
using GtaIlgpu.Backends;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>Options that several commands share, defined once.</summary>
public static class CommonOptions
{
    public static Option<string> Device() => new("--device")
    {
        Description = $"where to compute: {string.Join("|", BackendFactory.Choices)} (auto takes a CUDA GPU when present, else the CPU backend)",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<ulong> Seed(ulong value) => new("--seed")
    {
        Description = "seed for initialisation, data order and sampling",
        DefaultValueFactory = _ => value,
    };

    public static IBackend OpenBackend(string device)
    {
        var backend = BackendFactory.Create(device);
        AnsiConsole.MarkupLineInterpolated($"[grey]device:[/] {backend.Name} — {backend.Description}");
        return backend;
    }
}
