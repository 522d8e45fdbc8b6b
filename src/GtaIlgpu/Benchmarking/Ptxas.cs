using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace GtaIlgpu.Benchmarking;

/// <summary>What `ptxas -v` reports for one entry point on one architecture.</summary>
public sealed record PtxasUsage(int Registers, int SharedBytes, int StackFrameBytes, int SpillStoreBytes, int SpillLoadBytes, int ConstantBytes);

/// <summary>
/// NVIDIA's PTX assembler, run as a separate process: it checks that generated PTX really assembles
/// for a GPU architecture, and its `-v` report gives registers, shared memory, stack and spills.
/// </summary>
public sealed partial class Ptxas
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    private Ptxas(string path, string version)
    {
        Path = path;
        Version = version;
    }

    public string Path { get; }

    /// <summary>The release line of `ptxas --version`, e.g. "Cuda compilation tools, release 11.8, V11.8.89".</summary>
    public string Version { get; }

    /// <summary>Checks that the file runs as ptxas; an <see cref="InvalidOperationException"/> says why not.</summary>
    public static Ptxas Open(string path)
    {
        if (!File.Exists(path)) throw new InvalidOperationException($"ptxas not found at {path}");
        int exit;
        string output;
        try
        {
            (exit, output) = Run(path, ["--version"]);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{path} does not run: {e.Message}");
        }
        var release = output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("Cuda compilation tools", StringComparison.Ordinal));
        if (exit != 0 || release is null)
            throw new InvalidOperationException($"{path} --version failed (exit {exit}): {Tail(output)}");
        return new Ptxas(path, release);
    }

    /// <summary>Assembles PTX for an architecture ("sm_90"); returns ptxas's exit code and its combined output.</summary>
    public (int ExitCode, string Output) Assemble(string ptx, string architecture, bool verbose)
    {
        string folder = Directory.CreateTempSubdirectory("gta-ptxas-").FullName;
        try
        {
            string source = System.IO.Path.Combine(folder, "kernel.ptx");
            File.WriteAllText(source, ptx);
            var arguments = new List<string> { $"-arch={architecture}", "-o", System.IO.Path.Combine(folder, "kernel.cubin"), source };
            if (verbose) arguments.Insert(0, "-v");
            return Run(Path, arguments);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Assembles with -v and reads the entry point's resources; an assembly error throws with ptxas's message.</summary>
    public PtxasUsage Usage(string ptx, string architecture, string what)
    {
        var (exit, output) = Assemble(ptx, architecture, verbose: true);
        if (exit != 0) throw new InvalidOperationException($"ptxas -arch={architecture} rejected {what} (exit {exit}):\n{output}");
        return ParseVerbose(output, what);
    }

    /// <summary>
    /// Reads the entry point's lines of a `ptxas -v` report:
    /// <code>
    /// ptxas info    : Compiling entry function 'Name' for 'sm_80'
    /// ptxas info    : Function properties for Name
    ///     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    /// ptxas info    : Used 48 registers, 8704 bytes smem, 400 bytes cmem[0]
    /// </code>
    /// Exactly one entry is expected (ILGPU writes one kernel per PTX module).
    /// </summary>
    public static PtxasUsage ParseVerbose(string output, string what)
    {
        var entries = EntryLine().Matches(output);
        if (entries.Count != 1)
            throw new InvalidDataException($"ptxas -v for {what}: expected one entry function, found {entries.Count}:\n{output}");
        string entry = entries[0].Groups["name"].Value;
        string afterEntry = output[entries[0].Index..];

        var used = UsedLine().Match(afterEntry);
        if (!used.Success) throw new InvalidDataException($"ptxas -v for {what}: no 'Used N registers' line after entry {entry}:\n{output}");
        int registers = Int(used.Groups["registers"].Value);
        int shared = 0, constant = 0;
        foreach (Match part in UsedPart().Matches(used.Groups["rest"].Value))
        {
            if (part.Groups["kind"].Value == "smem") shared += Int(part.Groups["bytes"].Value);
            else if (part.Groups["kind"].Value.StartsWith("cmem", StringComparison.Ordinal)) constant += Int(part.Groups["bytes"].Value);
        }

        var properties = new Regex($@"Function properties for {Regex.Escape(entry)}\s*\n\s*(?<stack>\d+) bytes stack frame, (?<stores>\d+) bytes spill stores, (?<loads>\d+) bytes spill loads")
            .Match(output);
        if (!properties.Success) throw new InvalidDataException($"ptxas -v for {what}: no stack/spill line for entry {entry}:\n{output}");
        return new PtxasUsage(registers, shared, Int(properties.Groups["stack"].Value),
            Int(properties.Groups["stores"].Value), Int(properties.Groups["loads"].Value), constant);
    }

    private static int Int(string digits) => int.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"Compiling entry function '(?<name>[^']+)' for '(?<arch>sm_\d+a?)'")]
    private static partial Regex EntryLine();

    [GeneratedRegex(@"Used (?<registers>\d+) registers(?<rest>[^\n]*)")]
    private static partial Regex UsedLine();

    [GeneratedRegex(@"(?<bytes>\d+) bytes (?<kind>smem|cmem\[\d+\])")]
    private static partial Regex UsedPart();

    private static (int ExitCode, string Output) Run(string path, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {path}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{path} did not finish within {Timeout.TotalSeconds:F0} s");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private static string Tail(string text)
    {
        var lines = text.Trim().Split('\n');
        return string.Join(" | ", lines.Skip(Math.Max(0, lines.Length - 3)));
    }
}
