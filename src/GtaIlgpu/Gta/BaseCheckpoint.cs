using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Backends;
using GtaIlgpu.Checkpoints;
using GtaIlgpu.Common;
using GtaIlgpu.Model;

namespace GtaIlgpu.Gta;

/// <summary>
/// A base model saved for later stages: the model folder (Hugging Face layout, with its tokenizer: the
/// compact vocabulary, or a GPT-2 vocabulary with the tags added) plus
/// `gta_base.json` with the prompt's task line and the label set in the order the prompts list them, so
/// that every method trained from it later sees exactly the prompts the base was primed on.
/// </summary>
public static class BaseCheckpoint
{
    public const string InfoFile = "gta_base.json";

    public static void Save(string folder, Transformer model, PromptFormat format, JsonObject? extra = null)
    {
        ModelCheckpoint.Save(folder, model, format.Tokenizer,
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "gta base" });
        format.SaveOptions(folder);
        var info = new JsonObject
        {
            ["task"] = format.TaskName,
            ["labels"] = new JsonArray(format.Labels.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
        };
        if (extra is not null)
            foreach (var (key, value) in extra) info[key] = value?.DeepClone();
        AtomicFile.WriteText(Path.Combine(folder, InfoFile), info.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    public static bool IsBase(string folder) => File.Exists(Path.Combine(folder, InfoFile));

    /// <summary>Loads a saved base and checks that its label set is the dataset's (any order).</summary>
    public static (Transformer Model, PromptFormat Format) Load(string folder, IBackend backend, IReadOnlyList<string> datasetLabels)
    {
        string infoPath = Path.Combine(folder, InfoFile);
        if (!File.Exists(infoPath)) throw new FileNotFoundException($"{folder} is not a base folder of gta base (no {InfoFile})", infoPath);
        JsonNode info;
        try { info = JsonNode.Parse(File.ReadAllText(infoPath)) ?? throw new InvalidDataException($"{infoPath}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{infoPath}: not valid JSON ({e.Message})"); }
        string task = info["task"]?.GetValue<string>() ?? throw new InvalidDataException($"{infoPath}: no \"task\"");
        var labels = info["labels"]?.AsArray().Select(l => l?.GetValue<string>() ?? throw new InvalidDataException($"{infoPath}: a null label")).ToList()
            ?? throw new InvalidDataException($"{infoPath}: no \"labels\"");
        var missing = datasetLabels.Except(labels, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new InvalidDataException($"{folder}: the base was primed on the labels {string.Join(", ", labels)}, but the dataset also has {string.Join(", ", missing)}");
        var loaded = ModelCheckpoint.Load(folder, backend);
        try
        {
            return (loaded.Model, FormatOf(loaded, task, labels));
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The prompt format over a loaded model's tokenizer, with the options its folder recorded
    /// (<see cref="PromptFormat.OptionsFile"/>: tags as text, the end token, the chat template); without
    /// them the tokenizer must hold the tags as single tokens.
    /// </summary>
    public static PromptFormat FormatOf(LoadedModel loaded, string task, IReadOnlyList<string> labels)
    {
        try { return new PromptFormat(loaded.RequireTokenizer(), task, labels, PromptFormat.LoadOptions(loaded.Folder)); }
        catch (ArgumentException e) { throw new InvalidDataException($"{loaded.Folder}: {e.Message}"); }
    }
}
