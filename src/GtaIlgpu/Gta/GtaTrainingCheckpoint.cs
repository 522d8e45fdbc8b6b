using GtaIlgpu.Backends;
using System.Text.Json.Nodes;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Text;

namespace GtaIlgpu.Gta;

/// <summary>
/// Training checkpoints of a GTA / SFT / GRPO stage, for exact resume. On top of what
/// <see cref="TrainingCheckpoint"/> writes (policy weights, AdamW moments, step, RNG state, metrics) the
/// loop's own state: the shuffled data order and cursor (in trainer_state.json), the validation lines so
/// far, and the frozen KL reference's weights when β ≠ 0. The reference is saved rather than rebuilt
/// because resuming needs nothing but the run folder: the base it was copied from may be gone, or was
/// built in memory by the run itself.
/// </summary>
public static class GtaTrainingCheckpoint
{
    public const string ReferenceFile = "reference.safetensors";
    public const string ValidationFile = "validation.jsonl";
    /// <summary>The loop's cumulative counters (num_tokens); checkpoints written before it lack the file.</summary>
    public const string ProgressFile = "gta_progress.json";

    public static string Save(string runDir, GtaTrainer trainer, PromptFormat format, JsonObject run, string metrics, string validation,
        Func<string, Stream, Stream>? wrapWrite = null)
    {
        var state = new TrainingState(trainer.StepsDone, trainer.Optimizer.StepCount, trainer.RngState, trainer.DataCursor, run, trainer.DataOrder);
        var progress = new JsonObject { ["num_tokens"] = trainer.NumTokens };
        var files = new List<CheckpointFile> { CheckpointFile.Text(ValidationFile, validation), CheckpointFile.Text(ProgressFile, progress.ToJsonString()) };
        if (format.OptionsJson() is { } options) files.Add(CheckpointFile.Text(PromptFormat.OptionsFile, options));
        if (trainer.Reference is { } reference)
        {
            var weights = ModelCheckpoint.ExportTensors(reference.Layout, reference.DownloadBaseTensor); // read as written, one tensor at a time
            files.Add(new CheckpointFile(ReferenceFile, s => SafeTensorsWriter.Write(s, weights, new Dictionary<string, string> { ["format"] = "pt", ["role"] = "kl-reference" })));
        }
        return TrainingCheckpoint.Save(runDir, trainer.Policy, trainer.Optimizer, format.Tokenizer, state, metrics, files, wrapWrite);
    }

    /// <summary>Puts a trainer (built with the run's settings on a model of the run's shape) where the checkpoint left off.</summary>
    public static TrainingState Restore(string checkpoint, GtaTrainer trainer)
    {
        var state = TrainingCheckpoint.Restore(checkpoint, trainer.Policy, trainer.Optimizer);
        string statePath = Path.Combine(checkpoint, TrainingCheckpoint.StateFile);
        if (state.DataOrder is null) throw new InvalidDataException($"{statePath}: no data order; not a checkpoint of gta train");
        if (trainer.Reference is { } reference)
        {
            string path = Path.Combine(checkpoint, ReferenceFile);
            if (!File.Exists(path)) throw new FileNotFoundException($"{checkpoint}: no {ReferenceFile}, but the run's β = {trainer.Settings.Beta} needs its frozen KL reference", path);
            using var reader = SafeTensorsReader.Open(path);
            ModelCheckpoint.ReadModelTensors(reader, reference.Layout, reference.UploadBaseTensor);
        }
        try { trainer.RestoreProgress(state.Step, state.RngState, state.DataOrder, checked((int)state.DataPosition)); }
        catch (Exception e) when (e is InvalidDataException or OverflowException) { throw new InvalidDataException($"{statePath}: {e.Message}"); }
        string progressPath = Path.Combine(checkpoint, ProgressFile);
        if (File.Exists(progressPath))
        {
            try { trainer.NumTokens = JsonNode.Parse(File.ReadAllText(progressPath))?["num_tokens"]?.GetValue<double>() ?? throw new InvalidDataException("no num_tokens"); }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException) { throw new InvalidDataException($"{progressPath}: {e.Message}"); }
        }
        return state;
    }

    public static string ReadValidation(string checkpoint) => TrainingCheckpoint.ReadText(checkpoint, ValidationFile);
}
