using System.CommandLine;
using System.Globalization;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using Spectre.Console;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// `gta export ADAPTER_DIR --out DIR [--base BASE_DIR] [--merge]`: a PEFT LoRA adapter folder (adapter_config.json +
/// adapter_model.safetensors) checked against its base and written again, pointing at that base, or with --merge
/// folded into the base's weights as a full model folder that gta and transformers load. Everything happens on the
/// host (no device model is allocated), a merge one tensor at a time; the output is built in a temporary folder and
/// renamed into place.
/// </summary>
public static class ExportCommand
{
    /// <summary>Files besides the tokenizer's that travel along as they are: the prompt format, and transformers' special-token and generation settings.</summary>
    private static readonly string[] SideFiles = [PromptFormat.OptionsFile, "special_tokens_map.json", "generation_config.json"];

    public static Command Build()
    {
        var adapter = new Argument<DirectoryInfo>("ADAPTER_DIR") { Description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)" };
        var output = new Option<DirectoryInfo>("--out") { Description = "folder to write (a new or empty folder, or an earlier export, which is replaced)", Required = true };
        var baseModel = new Option<DirectoryInfo?>("--base") { Description = "the base model folder (default: adapter_config.json's base_model_name_or_path)" };
        var merge = new Option<bool>("--merge") { Description = "write a full model with the adapters merged into the base weights (W += alpha/r · B·A)" };
        var command = new Command("export", "check a LoRA adapter against its base and write it in PEFT's layout, or merged into a full model");
        command.Arguments.Add(adapter);
        foreach (var option in new Option[] { output, baseModel, merge }) command.Options.Add(option);
        command.SetAction(p => Run(p.GetValue(adapter)!.FullName, p.GetValue(output)!.FullName, p.GetValue(baseModel)?.FullName, p.GetValue(merge)));
        return command;
    }

    private static int Run(string adapterDir, string outDir, string? baseDir, bool merge)
    {
        adapterDir = Full(adapterDir);
        outDir = Full(outDir);
        if (!Directory.Exists(adapterDir)) throw new DirectoryNotFoundException($"adapter folder not found: {adapterDir}");
        if (!PeftAdapter.ExistsIn(adapterDir)) throw new FileNotFoundException($"{adapterDir}: no {PeftAdapter.ConfigFile} (not a PEFT adapter folder)");
        string basePath = PeftAdapter.ResolveBase(adapterDir, baseDir);
        string modelFolder = !HuggingFaceWeights.ExistIn(basePath) && TrainingCheckpoint.Latest(basePath) is { } latest ? Full(latest) : basePath;
        string configPath = Path.Combine(modelFolder, ModelCheckpoint.ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{modelFolder}: no {ModelCheckpoint.ConfigFile} (not a model folder)", configPath);
        var config = ModelCheckpoint.ReadConfig(configPath);
        CheckOutput(outDir, adapterDir, basePath, modelFolder);

        var adapter = PeftAdapter.Load(adapterDir, config);
        var lora = adapter.Lora;
        var layout = adapter.Layout;
        AnsiConsole.MarkupLineInterpolated($"[grey]base:[/] {modelFolder} — {config.Describe(new ParameterLayout(config).ParameterCount)}");
        AnsiConsole.MarkupLineInterpolated(
            $"[grey]adapter:[/] r = {lora.Rank}, alpha = {Number(lora.Alpha)} (scale {Number(lora.Scale)}), targets {string.Join(",", layout.ResolvedTargets)} in {config.Layers} layers: {layout.Modules.Count} modules, {layout.ParameterCount:N0} parameters");

        // The adapter folder's tokenizer and side files when it has them; a merged model falls back on the base's.
        string[] sources = merge ? [adapterDir, modelFolder] : [adapterDir];
        string? tokenizerFolder = sources.FirstOrDefault(ModelCheckpoint.HasTokenizerFiles);
        var tokenizer = tokenizerFolder is null ? null : ModelCheckpoint.LoadTokenizer(tokenizerFolder);
        if (tokenizer is not null && tokenizer.VocabularySize > config.VocabSize)
            throw new InvalidDataException($"{tokenizerFolder}: the tokenizer has {tokenizer.VocabularySize} tokens but the base's vocab_size is {config.VocabSize}");

        var written = new List<string>();
        WriteFolder(outDir, temporary =>
        {
            if (merge)
            {
                // Tensor by tensor: each base tensor is read, merged and written before the next (a 3–4B base fits no array).
                var parameters = new ParameterLayout(config);
                using var reader = HuggingFaceWeights.Open(modelFolder);
                var merged = PeftAdapter.Merged(parameters, ModelCheckpoint.ModelTensors(reader, parameters), layout, adapter.Adapters);
                ModelCheckpoint.Save(temporary, config, merged, tokenizer, new Dictionary<string, string> { ["format"] = "pt" });
                written.Add($"{parameters.Tensors.Count} tensors, {parameters.ParameterCount:N0} parameters, {layout.Modules.Count} modules merged with scale {Number(lora.Scale)}");
            }
            else
            {
                PeftAdapter.Save(temporary, layout, adapter.Adapters, basePath);
                written.Add($"{2 * layout.Modules.Count} tensors, {layout.ParameterCount:N0} adapter parameters; base_model_name_or_path {basePath}");
            }
            tokenizer?.Save(temporary);
            foreach (string file in SideFiles)
                if (sources.Select(s => Path.Combine(s, file)).FirstOrDefault(File.Exists) is { } from)
                    File.Copy(from, Path.Combine(temporary, file));
        });
        AnsiConsole.MarkupLineInterpolated($"{(merge ? "merged model" : "adapter")} written to {outDir}: {written[0]}");
        var files = Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(outDir, f)).Order(StringComparer.Ordinal);
        AnsiConsole.MarkupLineInterpolated($"[grey]files:[/] {string.Join(", ", files)}");
        return 0;
    }

    /// <summary>--base, else the adapter's base_model_name_or_path when that is a folder here.</summary>
    /// <summary>
    /// The output must not be (or contain) the adapter or the base: replacing it would destroy them. An existing
    /// folder is replaced only when it is empty or an earlier export (a model or adapter folder).
    /// </summary>
    private static void CheckOutput(string outDir, params string[] inputs)
    {
        foreach (string input in inputs)
        {
            if (Same(outDir, input) || IsInside(input, outDir))
                throw new ArgumentException($"--out {outDir} is {(Same(outDir, input) ? "" : "a parent of ")}an input folder ({input}); write the export elsewhere");
        }
        if (File.Exists(outDir)) throw new ArgumentException($"--out {outDir} is a file");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any()
            && !File.Exists(Path.Combine(outDir, ModelCheckpoint.ConfigFile)) && !PeftAdapter.ExistsIn(outDir))
            throw new ArgumentException($"--out {outDir} exists and holds something other than an earlier export; choose a new folder");
    }

    /// <summary>Builds the folder under a temporary name beside it, then renames it into place (an earlier one is removed only after).</summary>
    private static void WriteFolder(string outDir, Action<string> write)
    {
        string parent = Path.GetDirectoryName(outDir) ?? throw new ArgumentException($"--out {outDir} has no parent folder");
        string name = Path.GetFileName(outDir);
        Directory.CreateDirectory(parent);
        string temporary = Path.Combine(parent, $".{name}.{Guid.NewGuid():N}.tmp");
        string? previous = null;
        Directory.CreateDirectory(temporary);
        try
        {
            write(temporary);
            if (Directory.Exists(outDir))
            {
                previous = Path.Combine(parent, $".{name}.{Guid.NewGuid():N}.old");
                Directory.Move(outDir, previous);
            }
            Directory.Move(temporary, outDir);
        }
        catch
        {
            try { if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true); } catch (IOException) { }
            if (previous is not null && !Directory.Exists(outDir)) Directory.Move(previous, outDir);
            throw;
        }
        if (previous is not null)
        {
            try { Directory.Delete(previous, recursive: true); } catch (IOException) { } // best effort: the new export is in place
        }
    }

    private static string Full(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    private static bool Same(string a, string b) => string.Equals(Full(a), Full(b), StringComparison.Ordinal);

    private static bool IsInside(string path, string folder) =>
        Full(path).StartsWith(Full(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    private static string Number(float value) => value.ToString("G7", CultureInfo.InvariantCulture);
}
