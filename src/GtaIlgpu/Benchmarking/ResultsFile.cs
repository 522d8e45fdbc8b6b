using System.Text.Json;
using System.Text.Json.Serialization;
using GtaIlgpu.Common;

namespace GtaIlgpu.Benchmarking;

/// <summary>
/// A results file is a JSON twin for tools (`gta bench compare`) and a Markdown twin for people,
/// written atomically side by side; reading one turns every kind of damage into an
/// <see cref="InvalidDataException"/> that names the file.
/// </summary>
internal static class ResultsFile
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes NAME.json and NAME.md into the folder; returns the JSON path.</summary>
    public static string Save<T>(T value, string folder, string name, string markdown)
    {
        Directory.CreateDirectory(folder);
        string json = Path.Combine(folder, name + ".json");
        AtomicFile.WriteText(json, JsonSerializer.Serialize(value, Json) + "\n");
        AtomicFile.WriteText(Path.Combine(folder, name + ".md"), markdown);
        return json;
    }

    /// <summary>Deserializes the file; <paramref name="what"/> names the kind in messages ("benchmark results file").</summary>
    public static T Read<T>(string path, string what) where T : class
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{what} {path} does not exist", path);
        T? value;
        try
        {
            value = JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a {what}: {e.Message}");
        }
        return value ?? throw new InvalidDataException($"{path} is not a {what}: it holds null");
    }
}
