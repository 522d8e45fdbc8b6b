using GtaIlgpu.Training;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>User mistakes and bad input end in one clear line (exit 2), not a stack trace.</summary>
public static class CliErrors
{
    /// <summary>
    /// Parses and runs a command, with our error handling instead of System.CommandLine's stack trace.
    /// Usage errors (a missing argument, an unknown option) also exit 2, so that exit 1 stays free for
    /// commands with a meaning of their own for it (`gta bench compare`: a regression).
    /// </summary>
    public static int Invoke(System.CommandLine.Command command, string[] args) =>
        Run(() =>
        {
            var parse = command.Parse(args);
            if (parse.Errors.Count > 0)
            {
                foreach (var error in parse.Errors) AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {error.Message}");
                return 2;
            }
            return parse.Invoke(new System.CommandLine.InvocationConfiguration { EnableDefaultExceptionHandler = false });
        });

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsUserError(e))
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 2;
        }
    }

    private static bool IsUserError(Exception e) =>
        e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or InvalidOperationException or NonFiniteException or TimeoutException or InsufficientMemoryException;
}
