using System.Text.Json;
using System.Text.Json.Nodes;
using GtaIlgpu.Gta;

namespace GtaIlgpu.Cli.Commands;

/// <summary>
/// Everything `gta train --resume` needs to rebuild a run besides what the checkpoint holds (weights,
/// tokenizer, trainer state): the settings, where the data came from and its fingerprint, the prompt's
/// task and labels, what the base was, and the checkpoint interval. Saved in every training checkpoint.
/// </summary>
public sealed record GtaRunSpec(GtaSettings Settings, string? Data, string DataFingerprint, string Task, IReadOnlyList<string> Labels,
    JsonNode? Base, int CheckpointEvery)
{
    public JsonObject ToJson() => new()
    {
        ["settings"] = JsonSerializer.SerializeToNode(Settings, GtaRunner.Json),
        ["data"] = Data,
        ["data_fingerprint"] = DataFingerprint,
        ["task"] = Task,
        ["labels"] = new JsonArray(Labels.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray()),
        ["base"] = Base?.DeepClone(),
        ["checkpoint_every"] = CheckpointEvery,
    };

    public static GtaRunSpec FromJson(JsonObject json, string source)
    {
        try
        {
            JsonNode Get(string key) => json[key] ?? throw new InvalidDataException($"missing \"{key}\"");
            var stored = Get("settings") as JsonObject ?? throw new InvalidDataException("\"settings\" is not an object");
            var settings = GtaSettingsMigration.Upgrade(stored).Deserialize<GtaSettings>(GtaRunner.Json) ?? throw new InvalidDataException("\"settings\" is null");
            var labels = Get("labels").AsArray().Select(l => l?.GetValue<string>() ?? throw new InvalidDataException("a null label")).ToList();
            return new GtaRunSpec(settings, json["data"]?.GetValue<string>(), Get("data_fingerprint").GetValue<string>(), Get("task").GetValue<string>(),
                labels, json["base"]?.DeepClone(), Get("checkpoint_every").GetValue<int>());
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{source}: the run settings are incomplete ({e.Message}); not a checkpoint of gta train?");
        }
    }
}
