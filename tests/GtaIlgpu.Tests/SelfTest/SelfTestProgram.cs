using System.Diagnostics;
using System.Reflection;
using GtaIlgpu.Tests.Parity;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace GtaIlgpu.Tests.SelfTest;

/// <summary>
/// Runs this assembly's xunit tests without `dotnet test`, so a self-contained publish of the test
/// project is a runner on a GPU machine that has no .NET SDK (scripts/gpu-check.sh):
/// <c>GTA_TEST_DEVICE=cuda ./GtaIlgpu.Tests [--filter PREFIX,...]</c>. It drives xunit's own
/// framework (discovery, theories, fixtures, collections) rather than re-implementing any of it;
/// `dotnet test` ignores this entry point. By default it runs the op parity suites on the device
/// GTA_TEST_DEVICE names (the Gpu* classes; without a GPU, the CPU emulator's Emulator4* and
/// Emulator32* classes), the whole-model backend parity tests and the PTX compilation tests, one test
/// collection at a time.
/// </summary>
public static class SelfTestProgram
{
    private static string[] DefaultFilter() =>
    [
        GpuFixture.AbsentReason is null ? "GtaIlgpu.Tests.Parity.Gpu" : "GtaIlgpu.Tests.Parity.Emulator",
        "GtaIlgpu.Tests.Model.BackendModelParityTests",
        "GtaIlgpu.Tests.PtxCompileTests",
    ];

    public static int Main(string[] args)
    {
        string[] filter = DefaultFilter();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--filter" && i + 1 < args.Length) filter = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            else if (args[i] is "--all") filter = [""];
            else
            {
                Console.Error.WriteLine("usage: GtaIlgpu.Tests [--filter CLASS_PREFIX,...] [--all]   (device: GTA_TEST_DEVICE=cuda|opencl|ilgpu-cpu)");
                return 2;
            }
        }
        Console.WriteLine($"selftest: GTA_TEST_DEVICE={Environment.GetEnvironmentVariable("GTA_TEST_DEVICE") ?? "(unset: ilgpu-cpu)"}, filter {string.Join(", ", filter)}");

        var assembly = typeof(SelfTestProgram).Assembly;
        var sink = new ConsoleSink();
        using var framework = new XunitTestFramework(sink);
        var discoverer = framework.GetDiscoverer(Reflector.Wrap(assembly));
        var discovery = new DiscoverySink(filter);
        discoverer.Find(includeSourceInformation: false, discovery, new Options());
        discovery.Done.WaitOne();
        Console.WriteLine($"selftest: {discovery.TestCases.Count} test cases selected");
        if (discovery.TestCases.Count == 0) return 1;

        var executor = framework.GetExecutor(assembly.GetName());
        var options = new Options();
        options.SetValue("xunit.execution.DisableParallelization", (bool?)true); // one device, one collection at a time
        var stopwatch = Stopwatch.StartNew();
        executor.RunTests(discovery.TestCases, sink, options);
        sink.Finished.WaitOne();
        Console.WriteLine($"selftest: {sink.Passed} passed, {sink.Failed} failed, {sink.Skipped} skipped in {stopwatch.Elapsed.TotalSeconds:F1} s");
        return sink.Failed == 0 && sink.Passed > 0 ? 0 : 1;
    }

    /// <summary>xunit's options are a name → value bag; unset names read as default.</summary>
    private sealed class Options : ITestFrameworkDiscoveryOptions, ITestFrameworkExecutionOptions
    {
        private readonly Dictionary<string, object?> _values = [];
        public TValue GetValue<TValue>(string name) => _values.TryGetValue(name, out var value) && value is TValue typed ? typed : default!;
        public void SetValue<TValue>(string name, TValue value) => _values[name] = value;
    }

    private sealed class DiscoverySink(string[] filter) : LongLivedMarshalByRefObject, IMessageSink
    {
        public List<ITestCase> TestCases { get; } = [];
        public ManualResetEvent Done { get; } = new(false);

        public bool OnMessage(IMessageSinkMessage message)
        {
            if (message is ITestCaseDiscoveryMessage discovered)
            {
                string type = discovered.TestCase.TestMethod.TestClass.Class.Name;
                if (filter.Any(f => type.StartsWith(f, StringComparison.Ordinal))) TestCases.Add(discovered.TestCase);
            }
            else if (message is IDiscoveryCompleteMessage) Done.Set();
            return true;
        }
    }

    private sealed class ConsoleSink : LongLivedMarshalByRefObject, IMessageSink
    {
        public int Passed, Failed, Skipped;
        public ManualResetEvent Finished { get; } = new(false);

        public bool OnMessage(IMessageSinkMessage message)
        {
            switch (message)
            {
                case ITestPassed:
                    Passed++;
                    break;
                case ITestFailed failed:
                    Failed++;
                    Console.WriteLine($"[FAIL] {failed.Test.DisplayName}");
                    foreach (var line in failed.Messages) Console.WriteLine($"       {line}");
                    if (failed.StackTraces.FirstOrDefault() is { } trace) Console.WriteLine(trace);
                    break;
                case ITestSkipped skipped:
                    Skipped++;
                    Console.WriteLine($"[SKIP] {skipped.Test.DisplayName}: {skipped.Reason}");
                    break;
                case ITestCollectionFinished collection:
                    Console.WriteLine($"  {collection.TestCollection.DisplayName}: {collection.TestsRun} run, {collection.TestsFailed} failed ({collection.ExecutionTime:F1} s)");
                    break;
                case IErrorMessage error:
                    Failed++;
                    Console.WriteLine($"[ERROR] {string.Join(" ", error.Messages)}");
                    break;
                case ITestAssemblyFinished:
                    Finished.Set();
                    break;
            }
            return true;
        }
    }
}
