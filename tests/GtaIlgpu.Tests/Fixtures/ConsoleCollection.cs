namespace GtaIlgpu.Tests.Fixtures;

/// <summary>
/// Tests that run commands with progress displays: Spectre.Console refuses two live displays at once
/// (the second command fails with "cannot be running at the same time"), so these never run in parallel.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection
{
    public const string Name = "commands with progress displays";
}
