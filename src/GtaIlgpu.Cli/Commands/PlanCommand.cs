using System.CommandLine;
using System.Globalization;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta plan`: the memory a `gta train` stage would hold on its device, item by item, for a model shape
/// (a known one, or a folder's config.json: no weights are read), the training options and a window, and
/// whether it fits a given device memory; when it does not, the first change (LoRA, a bf16 base,
/// recomputation, micro-batches, fewer completions) that would. Nothing is allocated.
/// </summary>
public static class PlanCommand
{
    public static Command Build()
    {
        var options = new GtaOptions();
        var shape = new Option<string?>("--shape") { Description = $"a known model shape: {string.Join(", ", KnownShapes.All.Keys)}" };
        var window = new Option<int>("--window") { Description = "tokens per sequence: the longest prompt plus --max-completion", DefaultValueFactory = _ => 1024 };
        var memory = new Option<double>("--device-memory") { Description = "device memory in GiB (e.g. 80 for an A100/H100 80GB)", DefaultValueFactory = _ => 80 };
        var method = new Option<TrainingMethod>("--method") { Description = "Gta, Sft or Grpo", DefaultValueFactory = _ => TrainingMethod.Gta };
        var markdown = new Option<bool>("--markdown") { Description = "print the plan as a Markdown table (for reports and the README)" };
        var command = new Command("plan", "the memory a training run would need for a model shape and options, and whether it fits (nothing is allocated)");
        options.AddTo(command);
        foreach (var option in new Option[] { shape, window, memory, method, markdown }) command.Options.Add(option);
        command.SetAction(p =>
        {
            var config = Shape(p.GetValue(shape), p.GetValue(options.Model)) with { MaxSequence = p.GetValue(window) };
            if (config.MaxSequence <= p.GetValue(options.MaxCompletion))
                throw new ArgumentException($"--window {config.MaxSequence} leaves no room for a prompt before --max-completion {p.GetValue(options.MaxCompletion)}");
            var settings = options.Settings(p, p.GetValue(method));
            settings.Validate();
            long device = (long)(p.GetValue(memory) * (1L << 30));
            if (device <= 0) throw new ArgumentException("--device-memory must be positive");
            var plan = GtaTrainer.PlanMemory(config, settings);
            var parameters = new ParameterLayout(config).ParameterCount;
            AnsiConsole.MarkupLineInterpolated($"[grey]model:[/] {config.Describe(parameters)}");
            AnsiConsole.MarkupLineInterpolated($"[grey]run:[/] {Describe(settings)}");
            if (p.GetValue(markdown)) AnsiConsole.Profile.Out.Writer.Write(plan.Table());
            else
            {
                var table = new Table().AddColumns("item", "size", "what");
                table.Columns[1].RightAligned();
                foreach (var item in plan.Items) table.AddRow(Markup.Escape(item.Name), MemoryPlan.Format(item.Bytes), Markup.Escape(item.Detail));
                table.AddRow("[bold]total[/]", $"[bold]{MemoryPlan.Format(plan.TotalBytes)}[/]", "");
                AnsiConsole.Write(table);
            }
            if (plan.TotalBytes <= device)
            {
                AnsiConsole.MarkupLineInterpolated($"fits in {MemoryPlan.Format(device)}: {MemoryPlan.Format(device - plan.TotalBytes)} to spare");
                return 0;
            }
            var fit = GtaTrainer.SuggestFit(config, settings, device);
            string advice = fit is { } f ? $"{f.Flags} would ({MemoryPlan.Format(f.Plan.TotalBytes)})" : "nothing this trainer offers fits; shorten the window";
            AnsiConsole.MarkupLineInterpolated($"[red]does not fit[/] in {MemoryPlan.Format(device)}: {advice}");
            return 3;
        });
        return command;
    }

    private static ModelConfig Shape(string? name, DirectoryInfo? folder)
    {
        if ((name is null) == (folder is null)) throw new ArgumentException("give the model's shape with --shape NAME or --model DIR (its config.json), one of them");
        if (name is not null) return KnownShapes.Get(name);
        string config = Path.Combine(folder!.FullName, ModelCheckpoint.ConfigFile);
        if (!File.Exists(config)) throw new FileNotFoundException($"--model: no {ModelCheckpoint.ConfigFile} in {folder.FullName}", config);
        return ModelCheckpoint.ReadConfig(config);
    }

    private static string Describe(GtaSettings s) => string.Create(CultureInfo.InvariantCulture,
        $"{s.Method.ToString().ToLowerInvariant()}, {s.PromptsPerStep} prompts × {s.Generations} completions, SFT batch {Math.Max(s.PromptsPerStep, s.SftPrompts)}, " +
        $"{(s.LoraRank > 0 ? $"LoRA r = {s.LoraRank} on {s.LoraTargets}" : "full fine-tuning")}, base {s.BaseDtype.ToString().ToLowerInvariant()}" +
        $"{(s.Recompute ? ", recompute" : "")}, β = {s.Beta}");
}
