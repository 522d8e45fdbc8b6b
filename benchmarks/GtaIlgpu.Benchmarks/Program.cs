using System.Globalization;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using GtaIlgpu.Benchmarking;
using GtaIlgpu.Benchmarks;
using GtaIlgpu.Benchmarks.EndToEnd;
using GtaIlgpu.Benchmarks.GtaStep;
using GtaIlgpu.Benchmarks.Ops;
using GtaIlgpu.Model;

// Four modes (docs/benchmarks/README.md):
//   GtaIlgpu.Benchmarks [--results DIR] [--shapes tiny,gpt2] <BenchmarkDotNet arguments>   kernel suites → DIR/kernels.{json,md}
//   GtaIlgpu.Benchmarks e2e [--devices cpu,cuda] [--configs tiny,small,gpt2-124M] [--steps 3] [--warmup auto|N]
//                           [--new-tokens 32] [--results DIR]                                 end to end → DIR/e2e.{json,md}
//   GtaIlgpu.Benchmarks gta-step [--device cpu] [--shape qwen2.5-0.5b|qwen2.5-3b|qwen3-4b|llama-3.2-3b|tiny] [--variant full|lora]
//                                [--lora-rank 16] [--lora-alpha 32] [--lora-targets q,k,v,o] [--base-dtype bf16|f32] [--recompute]
//                                [--micro-batch N] [--steps 3] [--warmup 1] [--window 128] [--prompts 2] [--generations 4]
//                                [--max-completion 16] [--mu 4] [--sft-prompts 32] [--results DIR]
//                                one GTA training step's time and peak RSS, ONE variant per process → DIR/gta-step-SHAPE-VARIANT.{json,md}
//   GtaIlgpu.Benchmarks yardstick-spec [--results DIR]     the shapes scripts/torch_yardstick.py times → DIR/yardstick-spec.json
// Runs are always in-process: the GPU bundle has no SDK to build BenchmarkDotNet's child processes,
// and the throughput columns read device peaks registered by the suites in this process.
var arguments = new List<string>(args);
string results = TakeOption(arguments, "--results") ?? Path.Combine("BenchmarkDotNet.Artifacts", "gta");
try
{
    if (arguments.Count > 0 && arguments[0] == "e2e")
        return RunEndToEnd(arguments.Skip(1).ToList(), results);
    if (arguments.Count > 0 && arguments[0] == "gta-step")
        return RunGtaStep(arguments.Skip(1).ToList(), results);
    if (arguments.Count > 0 && arguments[0] == "yardstick-spec")
    {
        if (arguments.Count > 1) throw new ArgumentException($"yardstick-spec: unknown arguments {string.Join(' ', arguments.Skip(1))}");
        Console.WriteLine($"// yardstick shapes: {YardstickSpec.Save(results)}");
        return 0;
    }
    return RunKernels(arguments, results);
}
catch (Exception e) when (e is ArgumentException or InvalidOperationException or InsufficientMemoryException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static int RunKernels(List<string> arguments, string results)
{
    if (TakeOption(arguments, "--shapes") is { } shapes) Environment.SetEnvironmentVariable("GTA_BENCH_SHAPES", shapes);
    if (!arguments.Any(a => a.Equals("--inProcess", StringComparison.OrdinalIgnoreCase) || a == "-i")) arguments.Add("--inProcess");

    var suites = new List<Type> { typeof(CpuMatmulBenchmarks), typeof(CpuOpsBenchmarks), typeof(IlgpuEmulatorSmokeBenchmarks) };
    if (IlgpuBackend.CudaAvailable()) suites.Add(typeof(CudaOpsBenchmarks));
    else Console.WriteLine("// no CUDA device: CudaOpsBenchmarks is not listed");

    var summaries = BenchmarkSwitcher.FromTypes(suites.ToArray()).Run(arguments.ToArray()).ToList();
    var figures = new List<BenchmarkFigure>();
    bool failed = false;
    var machine = MachineInfo.DetectHost();
    foreach (var summary in summaries)
    {
        failed |= summary.HasCriticalValidationErrors || summary.Reports.Any(r => !r.Success);
        foreach (var report in summary.Reports)
        {
            var benchmarkCase = report.BenchmarkCase;
            var suite = benchmarkCase.Descriptor.Type;
            if (OpsBenchmarkBase.GpuOf(suite) is { } gpu) machine = machine.WithGpu(gpu);
            if (report.ResultStatistics is not { } stats) continue;
            figures.Add(Figure(summary, benchmarkCase, stats.Mean));
        }
    }
    if (summaries.Count == 0) return failed ? 1 : 0; // e.g. --list or --help
    var (peak, method) = DevicePeaks.CpuPeak();
    var configuration = new Dictionary<string, string>
    {
        ["arguments"] = string.Join(' ', arguments),
        ["shapes"] = Environment.GetEnvironmentVariable("GTA_BENCH_SHAPES") ?? "all",
        ["statistic"] = "BenchmarkDotNet mean of the measured iterations",
    };
    // A missing row must say so in the report, not only on the console.
    if (CudaOpsBenchmarks.CublasMissingReason is { } missing)
        configuration["cuBLAS yardstick"] = $"MISSING, the CudaOps matmul rows have no Cublas* row to be read against: {missing} "
            + "(ILGPU.Algorithms loads libcublas.so.12, .11 or .10 only); see yardstick.md for PyTorch's matmul (cuBLAS) at the same shapes";
    var run = new BenchmarkRun
    {
        Kind = "kernels",
        Timestamp = DateTimeOffset.Now,
        Commit = BenchmarkRun.DetectCommit(),
        Machine = machine with { CpuPeakGflops = peak, CpuPeakMethod = method },
        Configuration = configuration,
        Results = figures,
    };
    string path = run.Save(results, "kernels");
    Console.WriteLine($"// results: {path} and kernels.md ({figures.Count} figures)");
    return failed ? 1 : 0;
}

static BenchmarkFigure Figure(Summary summary, BenchmarkCase benchmarkCase, double meanNs)
{
    string device = benchmarkCase.Descriptor.Type.IsSubclassOf(typeof(OpsBenchmarkBase))
        ? OpsBenchmarkBase.DeviceOf(benchmarkCase.Descriptor.Type) : "cpu";
    string parameters = string.Join(" ", benchmarkCase.Parameters.Items.Select(p => p.Value?.ToString()));
    string name = $"{benchmarkCase.Descriptor.Type.Name}/{benchmarkCase.Descriptor.WorkloadMethod.Name}" + (parameters.Length > 0 ? $"/{parameters}" : "");
    var (value, metric) = Throughput.Of(summary, benchmarkCase);
    var (fraction, yardstick) = Throughput.FractionOfYardstick(summary, benchmarkCase);
    string? note = benchmarkCase.Descriptor.Type == typeof(IlgpuEmulatorSmokeBenchmarks) ? "ILGPU CPU emulator: smoke only, timing meaningless" : null;
    return metric == Throughput.Metric.None || value is null
        ? new BenchmarkFigure { Name = name, Unit = "ns", Value = meanNs, Better = BenchmarkFigure.Lower, TimeNs = meanNs, Note = note ?? device }
        : new BenchmarkFigure
        {
            Name = name, Unit = metric == Throughput.Metric.Gflops ? "GFLOP/s" : "GB/s", Value = value.Value, Better = BenchmarkFigure.Higher,
            FractionOfPeak = Throughput.FractionOfPeak(summary, benchmarkCase),
            FractionOfYardstick = fraction, Yardstick = fraction is null ? null : yardstick, TimeNs = meanNs, Note = note ?? device,
        };
}

static int RunEndToEnd(List<string> arguments, string results)
{
    string devices = TakeOption(arguments, "--devices") ?? (IlgpuBackend.CudaAvailable() ? "cpu,cuda" : "cpu");
    string configs = TakeOption(arguments, "--configs") ?? string.Join(",", EndToEndConfig.All.Select(c => c.Name));
    int steps = int.Parse(TakeOption(arguments, "--steps") ?? "3", CultureInfo.InvariantCulture);
    var warmup = WarmupPolicy.Parse(TakeOption(arguments, "--warmup") ?? "auto");
    int newTokens = int.Parse(TakeOption(arguments, "--new-tokens") ?? "32", CultureInfo.InvariantCulture);
    if (arguments.Count > 0) throw new ArgumentException($"e2e: unknown arguments {string.Join(' ', arguments)}");
    if (steps < 1 || newTokens < 1) throw new ArgumentException("e2e: --steps and --new-tokens must be at least 1");

    var machine = MachineInfo.DetectHost();
    var (cpuPeak, cpuMethod) = DevicePeaks.CpuPeak();
    machine = machine with { CpuPeakGflops = cpuPeak, CpuPeakMethod = cpuMethod };
    var figures = new List<BenchmarkFigure>();
    var stepLines = new Dictionary<string, string>(); // the Markdown shows the configuration, not the JSON's step lists
    foreach (string device in devices.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
    {
        using var backend = BackendFactory.Create(device);
        Console.WriteLine($"// {backend.Name} — {backend.Description}");
        double? peak = cpuPeak;
        if (backend is IlgpuBackend ilgpu)
        {
            machine = machine.WithGpu(ilgpu);
            peak = ilgpu.Kind == IlgpuDeviceKind.Cpu ? null : machine.GpuPeakGflops;
            if (ilgpu.Kind == IlgpuDeviceKind.Cpu) Console.WriteLine("// ILGPU CPU emulator: smoke only, timings meaningless");
        }
        foreach (string name in configs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var config = EndToEndConfig.All.FirstOrDefault(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? EndToEndConfig.All.FirstOrDefault(c => c.Name.StartsWith(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"e2e: unknown config '{name}' (choose from {string.Join(", ", EndToEndConfig.All.Select(c => c.Name))})");
            var result = EndToEndBenchmark.Measure(backend, config, steps, warmup, newTokens, peak, Console.WriteLine);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{backend.Name,-9} {config.Name,-10} train {result.TrainTokensPerSecond,9:F0} tok/s (MFU {result.TrainMfu:P1})   rollout {result.GenerateTokensPerSecond,8:F1} tok/s (MFU {result.GenerateMfu:P2})"));
            figures.AddRange(EndToEndBenchmark.Figures(result));
            stepLines[$"train steps {EndToEndBenchmark.TrainRowName(backend.Name, config)}"] = string.Create(CultureInfo.InvariantCulture,
                $"{result.WarmupNote}; warm-up {string.Join(", ", result.WarmupStepSeconds.Select(t => (t * 1e3).ToString("F0", CultureInfo.InvariantCulture)))} ms; "
                + $"measured {string.Join(", ", result.StepSeconds.Select(t => (t * 1e3).ToString("F0", CultureInfo.InvariantCulture)))} ms");
        }
    }
    var configuration = new Dictionary<string, string>
    {
        ["devices"] = devices, ["configs"] = configs,
        ["steps"] = warmup.Fixed is int fixedSteps ? $"{fixedSteps} warm-up + {steps} measured (median)"
            : $"warm-up {new WarmupRule().Criterion}, then {steps} measured (median); every step's time in samplesNs/warmupNs",
        ["new tokens per row"] = newTokens.ToString(CultureInfo.InvariantCulture),
        ["flops"] = "train 6·N + 12·L·(NH·hs)·T per token; rollout 2·N + 4·L·(NH·hs)·context per token; N = ModelConfig.MatmulParameters (NH·hs = C for GPT-2)",
    };
    foreach (var (key, value) in stepLines) configuration[key] = value;
    var run = new BenchmarkRun
    {
        Kind = "end-to-end",
        Timestamp = DateTimeOffset.Now,
        Commit = BenchmarkRun.DetectCommit(),
        Machine = machine,
        Configuration = configuration,
        Results = figures,
    };
    string path = run.Save(results, "e2e");
    Console.WriteLine($"// results: {path} and e2e.md");
    return 0;
}

static int RunGtaStep(List<string> arguments, string results)
{
    int Int(string name, int fallback) => TakeOption(arguments, name) is { } text
        ? int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) ? value : throw new ArgumentException($"gta-step: {name} takes a whole number, not '{text}'")
        : fallback;
    var defaults = new GtaStepOptions();
    string device = TakeOption(arguments, "--device") ?? "cpu";
    string shape = TakeOption(arguments, "--shape") ?? defaults.Shape;
    if (!GtaStepOptions.Shapes.Contains(shape, StringComparer.OrdinalIgnoreCase))
        throw new ArgumentException($"gta-step: unknown --shape '{shape}' (choose from {string.Join(", ", GtaStepOptions.Shapes)})");
    string variant = TakeOption(arguments, "--variant") ?? defaults.VariantName;
    var options = new GtaStepOptions
    {
        Shape = shape.ToLowerInvariant(),
        Variant = Enum.TryParse<GtaStepVariant>(variant, ignoreCase: true, out var v) ? v : throw new ArgumentException($"gta-step: --variant takes full or lora, not '{variant}'"),
        LoraRank = Int("--lora-rank", defaults.LoraRank),
        LoraAlpha = TakeOption(arguments, "--lora-alpha") is { } alpha
            ? float.TryParse(alpha, NumberStyles.Float, CultureInfo.InvariantCulture, out float a) ? a : throw new ArgumentException($"gta-step: --lora-alpha takes a number, not '{alpha}'")
            : defaults.LoraAlpha,
        LoraTargets = TakeOption(arguments, "--lora-targets") ?? defaults.LoraTargets,
        BaseDtype = TakeOption(arguments, "--base-dtype") is { } dtype
            ? Enum.TryParse<WeightDtype>(dtype, ignoreCase: true, out var d) ? d : throw new ArgumentException($"gta-step: --base-dtype takes bf16 or f32, not '{dtype}'")
            : null,
        Recompute = TakeFlag(arguments, "--recompute"),
        MicroBatch = Int("--micro-batch", defaults.MicroBatch),
        Steps = Int("--steps", defaults.Steps),
        Warmup = Int("--warmup", defaults.Warmup),
        Window = Int("--window", defaults.Window),
        Prompts = Int("--prompts", defaults.Prompts),
        Generations = Int("--generations", defaults.Generations),
        MaxCompletion = Int("--max-completion", defaults.MaxCompletion),
        Mu = Int("--mu", defaults.Mu),
        SftPrompts = Int("--sft-prompts", defaults.SftPrompts),
    };
    if (arguments.Count > 0) throw new ArgumentException($"gta-step: unknown arguments {string.Join(' ', arguments)}");
    if (options.Variant == GtaStepVariant.Full && options.BaseDtype == WeightDtype.Bf16)
        throw new ArgumentException("gta-step: --base-dtype bf16 keeps a frozen LoRA base; --variant full trains every weight in fp32");

    var machine = MachineInfo.DetectHost();
    using var backend = BackendFactory.Create(device);
    Console.WriteLine($"// {backend.Name} — {backend.Description}");
    if (backend is IlgpuBackend ilgpu)
    {
        machine = machine.WithGpu(ilgpu);
        if (ilgpu.Kind == IlgpuDeviceKind.Cpu) Console.WriteLine("// ILGPU CPU emulator: smoke only, timings meaningless");
    }
    var result = GtaStepBenchmark.Measure(backend, options, Console.WriteLine);
    Console.WriteLine(GtaStepBenchmark.Summary(result));
    var run = new BenchmarkRun
    {
        Kind = "gta-step",
        Timestamp = DateTimeOffset.Now,
        Commit = BenchmarkRun.DetectCommit(),
        Machine = machine,
        Configuration = GtaStepBenchmark.Configuration(result),
        Results = GtaStepBenchmark.Figures(result).ToList(),
    };
    string name = GtaStepBenchmark.FileName(options);
    string path = run.Save(results, name);
    Console.WriteLine($"// results: {path} and {name}.md");
    return 0;
}

/// <summary>Removes "--name" from the list and says whether it was there.</summary>
static bool TakeFlag(List<string> arguments, string name)
{
    int index = arguments.FindIndex(a => a.Equals(name, StringComparison.OrdinalIgnoreCase));
    if (index >= 0) arguments.RemoveAt(index);
    return index >= 0;
}

/// <summary>Removes "--name value" from the list and returns value (null when absent).</summary>
static string? TakeOption(List<string> arguments, string name)
{
    int index = arguments.FindIndex(a => a.Equals(name, StringComparison.OrdinalIgnoreCase));
    if (index < 0) return null;
    if (index + 1 >= arguments.Count) throw new ArgumentException($"{name} needs a value");
    string value = arguments[index + 1];
    arguments.RemoveRange(index, 2);
    return value;
}
