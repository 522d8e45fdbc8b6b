using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GtaIlgpu.Common;

namespace GtaIlgpu.Checkpoints;

/// <summary>Named tensors read as float32: one safetensors file, or the shards an index lists.</summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The file named in errors: the safetensors file, or the index of a sharded set.</summary>
    string Path { get; }
    IReadOnlyCollection<string> Names { get; }
    bool Contains(string name);
    SafeTensorsEntry this[string name] { get; }
    float[] ReadFloat32(string name);

    /// <summary>Values [start, start + destination.Length) of a tensor (row-major), so a large one can be read in bounded pieces.</summary>
    void ReadFloat32(string name, long start, Span<float> destination);
}

/// <summary>
/// A model's weights in a folder as transformers' save_pretrained lays them out: model.safetensors, or above
/// max_shard_size the shards model-00001-of-0000N.safetensors with model.safetensors.index.json mapping each
/// tensor name to its shard ({"metadata": {"total_size": bytes}, "weight_map": {name: file}}).
/// </summary>
public static partial class HuggingFaceWeights
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>
    /// transformers v4's save_pretrained default max_shard_size "5GB" (decimal, 5·10⁹ bytes), also huggingface_hub's
    /// MAX_SHARD_SIZE in serialization/_base.py. (transformers v5 raised its default to "50GB".)
    /// </summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardName();

    /// <summary>The shard file name huggingface_hub's split_state_dict_into_shards_factory gives shard index (0-based) of count.</summary>
    public static string ShardFile(int index, int count) => $"model-{index + 1:D5}-of-{count:D5}.safetensors";

    public static bool ExistIn(string folder) =>
        File.Exists(System.IO.Path.Combine(folder, SingleFile)) || File.Exists(System.IO.Path.Combine(folder, IndexFile));

    /// <summary>
    /// Opens the folder's weights. As transformers' from_pretrained, model.safetensors is preferred when both it
    /// and an index are present (our own save never leaves both).
    /// </summary>
    public static ITensorSource Open(string folder)
    {
        string single = System.IO.Path.Combine(folder, SingleFile);
        string index = System.IO.Path.Combine(folder, IndexFile);
        if (File.Exists(single) || !File.Exists(index)) return SafeTensorsReader.Open(single);
        return ShardedSafeTensors.Open(index);
    }

    /// <summary>
    /// Packs tensors into shards in order as huggingface_hub does: a tensor larger than the limit gets a shard of its
    /// own; otherwise a new shard starts when the tensor would tip the current one over the limit.
    /// </summary>
    public static List<List<SafeTensorsWriter.Tensor>> Shard(IReadOnlyList<SafeTensorsWriter.Tensor> tensors, long maxShardBytes)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "the shard size limit must be positive");
        var shards = new List<List<SafeTensorsWriter.Tensor>>();
        var current = new List<SafeTensorsWriter.Tensor>();
        long currentBytes = 0;
        foreach (var t in tensors)
        {
            long bytes = t.Bytes;
            if (bytes > maxShardBytes)
            {
                shards.Add([t]);
                continue;
            }
            if (currentBytes + bytes > maxShardBytes)
            {
                shards.Add(current);
                current = [];
                currentBytes = 0;
            }
            current.Add(t);
            currentBytes += bytes;
        }
        if (current.Count > 0) shards.Add(current);
        return shards;
    }

    /// <summary>
    /// Writes the tensors (F32) as model.safetensors, or sharded with an index above maxShardBytes. Shards are packed
    /// from names and shapes alone; each tensor's values are produced as its file is written and dropped after, so a
    /// lazy tensor list (<see cref="SafeTensorsWriter.Tensor"/>) passes through memory one tensor at a time. Every file is
    /// written atomically; the index is written after its shards, and only then are the weights of an earlier save
    /// that this one does not replace removed (model.safetensors when sharding; the index and every
    /// model-NNNNN-of-NNNNN.safetensors not written now otherwise).
    /// </summary>
    public static void Write(string folder, IReadOnlyList<SafeTensorsWriter.Tensor> tensors, IReadOnlyDictionary<string, string>? metadata, long maxShardBytes = DefaultMaxShardBytes)
    {
        Directory.CreateDirectory(folder);
        var shards = Shard(tensors, maxShardBytes);
        var written = new HashSet<string>(StringComparer.Ordinal);
        if (shards.Count <= 1)
        {
            AtomicFile.Write(System.IO.Path.Combine(folder, SingleFile), s => SafeTensorsWriter.Write(s, tensors, metadata));
            written.Add(SingleFile);
        }
        else
        {
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < shards.Count; i++)
            {
                string file = ShardFile(i, shards.Count);
                var shard = shards[i];
                AtomicFile.Write(System.IO.Path.Combine(folder, file), s => SafeTensorsWriter.Write(s, shard, metadata));
                foreach (var t in shard) weightMap[t.Name] = file;
                written.Add(file);
            }
            var map = new JsonObject();
            foreach (var (name, file) in weightMap) map[name] = file;
            var index = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.Bytes) },
                ["weight_map"] = map,
            };
            AtomicFile.WriteText(System.IO.Path.Combine(folder, IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            written.Add(IndexFile);
        }
        foreach (string path in Directory.EnumerateFiles(folder))
        {
            string name = System.IO.Path.GetFileName(path);
            bool weights = name == SingleFile || name == IndexFile || ShardName().IsMatch(name);
            if (weights && !written.Contains(name)) File.Delete(path);
        }
    }
}

/// <summary>
/// A sharded checkpoint: the index's weight_map is checked against the shards (every listed file present and opened
/// once, every listed tensor in its file, no tensor in a shard that the index does not list there).
/// </summary>
public sealed class ShardedSafeTensors : ITensorSource
{
    private readonly Dictionary<string, SafeTensorsReader> _byName;
    private readonly List<SafeTensorsReader> _files;

    private ShardedSafeTensors(string path, Dictionary<string, SafeTensorsReader> byName, List<SafeTensorsReader> files)
    {
        Path = path;
        _byName = byName;
        _files = files;
    }

    public string Path { get; }
    public IReadOnlyCollection<string> Names => _byName.Keys;
    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafeTensorsEntry this[string name] =>
        _byName.TryGetValue(name, out var r) ? r[name] : throw new InvalidDataException($"{Path}: no tensor named '{name}'");

    public float[] ReadFloat32(string name) => ReaderOf(name).ReadFloat32(name);

    public void ReadFloat32(string name, long start, Span<float> destination) => ReaderOf(name).ReadFloat32(name, start, destination);

    private SafeTensorsReader ReaderOf(string name) =>
        _byName.TryGetValue(name, out var r) ? r : throw new InvalidDataException($"{Path}: no tensor named '{name}'");

    public static ShardedSafeTensors Open(string indexPath)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject { } root || root["weight_map"] is not JsonObject weightMap)
            throw new InvalidDataException($"{indexPath}: expected a JSON object with a 'weight_map' object");
        string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath))!;
        var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in weightMap)
        {
            if (value is not JsonValue v || !v.TryGetValue(out string? file) || file.Length == 0)
                throw new InvalidDataException($"{indexPath}: weight_map['{name}'] must be a file name");
            if (file != System.IO.Path.GetFileName(file) || file is "." or "..")
                throw new InvalidDataException($"{indexPath}: weight_map['{name}'] names '{file}', which is not a file in the folder");
            fileOf[name] = file;
        }
        var readers = new Dictionary<string, SafeTensorsReader>(StringComparer.Ordinal);
        var byName = new Dictionary<string, SafeTensorsReader>(StringComparer.Ordinal);
        try
        {
            foreach (string file in fileOf.Values.Distinct(StringComparer.Ordinal))
            {
                string path = System.IO.Path.Combine(folder, file);
                if (!File.Exists(path)) throw new InvalidDataException($"{indexPath}: shard '{file}' listed in weight_map is missing");
                readers[file] = SafeTensorsReader.Open(path);
            }
            foreach (var (name, file) in fileOf)
            {
                var reader = readers[file];
                if (!reader.Contains(name)) throw new InvalidDataException($"{indexPath}: tensor '{name}' is listed in shard '{file}' but that file does not hold it");
                byName[name] = reader;
            }
            foreach (var (file, reader) in readers)
                foreach (string name in reader.Names)
                    if (!fileOf.TryGetValue(name, out string? listed) || listed != file)
                        throw new InvalidDataException($"{indexPath}: shard '{file}' holds tensor '{name}', which weight_map does not list for that file");
            return new ShardedSafeTensors(indexPath, byName, readers.Values.ToList());
        }
        catch
        {
            foreach (var r in readers.Values) r.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var r in _files) r.Dispose();
    }
}
