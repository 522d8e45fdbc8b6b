using System.Text.RegularExpressions;
using GtaIlgpu.Data;

namespace GtaIlgpu.Tests.Fixtures;

/// <summary>
/// Commands write to the process's one console, so a test class that invokes one outside the console
/// collection races the tests that capture it (a flake CI met once). Read from the test sources, since
/// what a test calls is not visible by reflection.
/// </summary>
public class ConsoleCollectionMembershipTests
{
    private static readonly Regex InvokesACommand = new(@"CliErrors\.Invoke\(|\w+Command\.Build\(\)", RegexOptions.Compiled);

    [Fact]
    public void Every_test_file_that_invokes_a_command_is_in_the_console_collection()
    {
        string root = DatasetLoader.FindRepositoryRoot() ?? throw new InvalidOperationException("the repository root (GtaIlgpu.sln) was not found above the test binaries");
        string tests = Path.Combine(root, "tests", "GtaIlgpu.Tests");
        var files = Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .ToList();
        var invoking = files.Where(f => InvokesACommand.IsMatch(File.ReadAllText(f))).ToList();
        Assert.True(invoking.Count >= 10, $"only {invoking.Count} test files invoke a command: the pattern no longer finds them");
        var outside = invoking.Where(f => !File.ReadAllText(f).Contains("ConsoleCollection.Name)]", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(tests, f)).Order(StringComparer.Ordinal).ToList();
        Assert.True(outside.Count == 0, "test files invoking a command outside [Collection(ConsoleCollection.Name)]: " + string.Join(", ", outside));
    }
}
