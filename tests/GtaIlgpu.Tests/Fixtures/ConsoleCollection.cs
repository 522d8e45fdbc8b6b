namespace GtaIlgpu.Tests.Fixtures;

/// <summary>
/// Tests that run commands, which write to the process's one console: Spectre.Console refuses two live
/// displays at once (the second command fails with "cannot be running at the same time"), and a test that
/// captures Console.Out or AnsiConsole.Console (`gta generate` prints with Console.Out) would read another
/// command's lines. So every test class that invokes a command belongs here, and these never run in parallel.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection
{
    public const string Name = "commands with progress displays";
}
