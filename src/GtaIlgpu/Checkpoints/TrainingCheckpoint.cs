using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Text;
using GtaIlgpu.Training;

namespace GtaIlgpu.Checkpoints;

/// <summary>
/// Where a training loop stands: steps taken, AdamW's step count, the random generator's state and a
/// data position with the data order it indexes (for loops that walk a shuffled order; the pretraining
/// loop draws its windows from the generator and leaves them 0 and null), plus whatever the command
/// needs to rebuild the run (Run).
/// </summary>
public sealed record TrainingState(int Step, int OptimizerStep, ulong[] RngState, long DataPosition, JsonObject Run, int[]? DataOrder = null);

/// <summary>A further file of a training checkpoint (a loop's own state), written like the others.</summary>
public sealed record CheckpointFile(string Name, Action<Stream> Write)
{
    public static CheckpointFile Text(string name, string text) => new(name, s => TrainingCheckpoint.WriteText(s, text));
}

/// <summary>
/// Training checkpoints of a run folder, for exact resume:
/// <code>
/// RUN/checkpoint.json                 names the latest complete checkpoint; written last, atomically
/// RUN/checkpoints/step-000120/        a complete model folder (config.json, model.safetensors, tokenizer), or for a
///                                     LoRA run the adapters in PEFT's layout (adapter_config.json naming ../../base,
///                                     adapter_model.safetensors): the frozen base is RUN/base/, written once
///     optimizer.safetensors           AdamW moments exp_avg.NAME / exp_avg_sq.NAME of what trains, shaped like it
///     trainer_state.json              step, optimizer step, RNG state, data position and order, the run's settings
///     metrics.jsonl                   the metrics up to this step
///     …                               the loop's further files (CheckpointFile), e.g. GTA's frozen reference
/// </code>
/// A checkpoint is written into a temporary folder that is renamed into place once complete, and only
/// then does checkpoint.json move to it; older checkpoints are deleted after that. A write killed at
/// any point therefore leaves checkpoint.json naming the previous, untouched checkpoint.
/// </summary>
public static class TrainingCheckpoint
{
    public const string PointerFile = "checkpoint.json";
    public const string FolderName = "checkpoints";
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "trainer_state.json";
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>A LoRA run's frozen base, written once into the run folder; its checkpoints hold only adapters.</summary>
    public const string BaseFolder = "base";
    private const string StateFormat = "gta-training-state-v1";
    private const string MomentPrefix = "exp_avg.";
    private const string SquarePrefix = "exp_avg_sq.";

    /// <summary>
    /// Writes a checkpoint and makes it the latest; returns its folder. <paramref name="wrapWrite"/>
    /// lets tests interpose on each file's stream (to simulate a write killed midway).
    /// </summary>
    public static string Save(string runDir, Transformer model, AdamWOptimizer optimizer, ITextTokenizer? tokenizer, TrainingState state,
        string metrics, IReadOnlyList<CheckpointFile>? extraFiles = null, Func<string, Stream, Stream>? wrapWrite = null)
    {
        string parent = Path.Combine(runDir, FolderName);
        string name = $"step-{state.Step:D6}";
        string final = Path.Combine(parent, name);
        if (Latest(runDir) is { } latest && Path.GetFullPath(latest) == Path.GetFullPath(final))
            return final; // this step is already the latest checkpoint (training is deterministic, so it is the same state)
        Directory.CreateDirectory(parent);
        string temporary = Path.Combine(parent, $".{name}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temporary);
        try
        {
            void Write(string file, Action<Stream> write) =>
                AtomicFile.Write(Path.Combine(temporary, file), s => write(wrapWrite?.Invoke(file, s) ?? s));

            if (model.AdapterLayout is { } adapters)
            {
                // A LoRA run's checkpoint holds its adapters in PEFT's layout; the frozen base is the run's base/ folder.
                PeftAdapter.Save(temporary, adapters, model.DownloadAdapters(), Path.Combine("..", "..", BaseFolder));
            }
            else
            {
                var weights = ModelCheckpoint.ExportTensors(model.Layout, model.DownloadBaseTensor);
                Write(ModelCheckpoint.ModelFile, s => SafeTensorsWriter.Write(s, weights, new Dictionary<string, string> { ["format"] = "pt" }));
                Write(ModelCheckpoint.ConfigFile, s => WriteText(s, ModelCheckpoint.ConfigJson(model.Config, tokenizer)));
            }
            tokenizer?.Save(temporary);
            var moments = ExportTrainable(model, optimizer.M.View, MomentPrefix);
            moments.AddRange(ExportTrainable(model, optimizer.V.View, SquarePrefix));
            Write(OptimizerFile, s => SafeTensorsWriter.Write(s, moments, new Dictionary<string, string> { ["optimizer"] = "adamw" }));
            Write(StateFile, s => WriteText(s, StateJson(state)));
            Write(MetricsFile, s => WriteText(s, metrics));
            foreach (var file in extraFiles ?? [])
            {
                if (Path.GetFileName(file.Name) != file.Name || File.Exists(Path.Combine(temporary, file.Name)))
                    throw new ArgumentException($"checkpoint file '{file.Name}' is not a plain file name or is written twice");
                Write(file.Name, file.Write);
            }

            if (Directory.Exists(final)) Directory.Delete(final, recursive: true); // a leftover that no pointer names
            Directory.Move(temporary, final);
        }
        catch
        {
            try { Directory.Delete(temporary, recursive: true); } catch (IOException) { }
            throw;
        }
        var pointer = new JsonObject { ["latest"] = $"{FolderName}/{name}", ["step"] = state.Step };
        AtomicFile.WriteText(Path.Combine(runDir, PointerFile), pointer.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        foreach (var old in Directory.EnumerateDirectories(parent).Where(d => Path.GetFileName(d) != name).ToList())
        {
            try { Directory.Delete(old, recursive: true); } catch (IOException) { } // best effort: the pointer already moved on
        }
        return final;
    }

    /// <summary>The folder of the run's latest complete checkpoint, or null when it has none.</summary>
    public static string? Latest(string runDir)
    {
        string path = Path.Combine(runDir, PointerFile);
        if (!File.Exists(path)) return null;
        string? latest;
        try { latest = JsonNode.Parse(File.ReadAllText(path))?["latest"]?.GetValue<string>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a checkpoint pointer ({e.Message})");
        }
        if (latest is null) throw new InvalidDataException($"{path}: missing \"latest\"");
        string folder = Path.Combine(runDir, latest);
        if (!Directory.Exists(folder)) throw new InvalidDataException($"{path}: names {latest}, which does not exist");
        return folder;
    }

    /// <summary>The latest checkpoint of a run folder and its state, for --resume; a clear error when there is none.</summary>
    public static (string Checkpoint, TrainingState State) ForResume(string runDir)
    {
        if (!Directory.Exists(runDir)) throw new DirectoryNotFoundException($"run folder not found: {runDir}");
        string checkpoint = Latest(runDir)
            ?? throw new InvalidDataException($"{runDir}: no training checkpoint to resume from (was the run started with --checkpoint-every or --stop-after?)");
        return (checkpoint, ReadState(checkpoint));
    }

    public static TrainingState ReadState(string checkpoint)
    {
        string path = Path.Combine(checkpoint, StateFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"training state not found: {path}", path);
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException("expected a JSON object");
            if (json["format"]?.GetValue<string>() != StateFormat) throw new InvalidDataException($"not a {StateFormat} file");
            var rng = (json["rng"] as JsonArray ?? throw new InvalidDataException("missing \"rng\""))
                .Select(w => ulong.Parse(w!.GetValue<string>(), NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
            if (rng.Length != 4) throw new InvalidDataException("\"rng\" must hold four words");
            int[]? order = json["data_order"] is JsonArray ids ? ids.Select(i => i!.GetValue<int>()).ToArray() : null;
            return new TrainingState(json["step"]!.GetValue<int>(), json["optimizer_step"]!.GetValue<int>(), rng,
                json["data_position"]!.GetValue<long>(), (json["run"] as JsonObject)?.DeepClone().AsObject() ?? [], order);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: {e.Message}");
        }
    }

    /// <summary>Loads a checkpoint's weights and AdamW moments and step count into an existing model and optimizer.</summary>
    public static TrainingState Restore(string checkpoint, Transformer model, AdamWOptimizer optimizer)
    {
        var state = ReadState(checkpoint);
        if (model.AdapterLayout is { } adapters)
        {
            var saved = PeftAdapter.Load(checkpoint, model.Config);
            if (saved.Lora.Rank != adapters.Lora.Rank || saved.Lora.Alpha != adapters.Lora.Alpha || !saved.Layout.ResolvedTargets.SequenceEqual(adapters.ResolvedTargets))
                throw new InvalidDataException($"{checkpoint}: the checkpoint's adapters (r = {saved.Lora.Rank}, alpha {saved.Lora.Alpha}, {string.Join(",", saved.Layout.ResolvedTargets)}) differ from the run's (r = {adapters.Lora.Rank}, alpha {adapters.Lora.Alpha}, {string.Join(",", adapters.ResolvedTargets)})");
            model.UploadAdapters(saved.Adapters);
        }
        else
        {
            var config = ModelCheckpoint.ReadConfig(Path.Combine(checkpoint, ModelCheckpoint.ConfigFile));
            if (config != model.Config) throw new InvalidDataException($"{checkpoint}: the checkpoint's model {config} differs from the run's {model.Config}");
            using var reader = SafeTensorsReader.Open(Path.Combine(checkpoint, ModelCheckpoint.ModelFile));
            ModelCheckpoint.ReadModelTensors(reader, model.Layout, model.UploadBaseTensor);
        }
        using (var reader = SafeTensorsReader.Open(Path.Combine(checkpoint, OptimizerFile)))
        {
            ImportTrainable(reader, model, MomentPrefix, optimizer.M.View);
            ImportTrainable(reader, model, SquarePrefix, optimizer.V.View);
        }
        optimizer.StepCount = state.OptimizerStep;
        return state;
    }

    /// <summary>
    /// Optimizer-state tensors of the trainable region: the model's own (GPT-2's Conv1D transposed, as its weights),
    /// downloaded one tensor at a time as the writer reaches it (a full model's moments are as large as the model), or
    /// the adapters' (small).
    /// </summary>
    private static List<SafeTensorsWriter.Tensor> ExportTrainable(Transformer model, BufferView<float> state, string prefix)
    {
        var backend = model.Backend;
        if (!model.HasAdapters)
            return ModelCheckpoint.ExportTensors(model.Layout, (t, destination) => backend.Download(state.Slice(t.Offset, t.Length), destination), prefix);
        var flat = backend.ToArray(state);
        return model.TrainableTensors.Select(t => new SafeTensorsWriter.Tensor(prefix + t.Name, t.Shape,
            flat.AsSpan((int)t.Offset, t.Shape.Aggregate(1, (a, b) => a * b)).ToArray())).ToList();
    }

    private static void ImportTrainable(ITensorSource reader, Transformer model, string prefix, BufferView<float> state)
    {
        var backend = model.Backend;
        if (!model.HasAdapters)
        {
            var source = ModelCheckpoint.ImportTensors(reader, model.Layout, prefix);
            ModelCheckpoint.Copy(model.Layout, source, (t, values) => backend.Upload(state.Slice(t.Offset, t.Length), values));
            return;
        }
        var flat = new float[model.TrainableLength];
        foreach (var (name, shape, offset) in model.TrainableTensors)
        {
            if (!reader.Contains(prefix + name)) throw new InvalidDataException($"{reader.Path}: missing tensor '{prefix + name}'");
            var entry = reader[prefix + name];
            if (!entry.Shape.SequenceEqual(shape.Select(d => (long)d)))
                throw new InvalidDataException($"{reader.Path}: tensor '{prefix + name}' has shape [{string.Join(", ", entry.Shape)}], expected [{string.Join(", ", shape)}]");
            reader.ReadFloat32(prefix + name).CopyTo(flat.AsSpan((int)offset));
        }
        backend.Upload(state, flat);
    }

    public static string ReadMetrics(string checkpoint) => ReadText(checkpoint, MetricsFile);

    /// <summary>A text file of the checkpoint, or "" when it has none.</summary>
    public static string ReadText(string checkpoint, string file)
    {
        string path = Path.Combine(checkpoint, file);
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    private static string StateJson(TrainingState state)
    {
        var json = new JsonObject
        {
            ["format"] = StateFormat,
            ["step"] = state.Step,
            ["optimizer_step"] = state.OptimizerStep,
            // Hex strings: 64-bit words do not survive JSON readers that use doubles.
            ["rng"] = new JsonArray(state.RngState.Select(w => (JsonNode)w.ToString("x16", CultureInfo.InvariantCulture)).ToArray()),
            ["data_position"] = state.DataPosition,
            ["run"] = state.Run.DeepClone(),
        };
        if (state.DataOrder is not null) json["data_order"] = new JsonArray(state.DataOrder.Select(i => (JsonNode)i).ToArray());
        return json.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    internal static void WriteText(Stream stream, string text)
    {
        using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), leaveOpen: true);
        writer.Write(text);
    }
}
