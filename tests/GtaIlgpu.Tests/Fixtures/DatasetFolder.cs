using System.Text.Json;
using GtaIlgpu.Data;
using GtaIlgpu.Tests.Gta;

namespace GtaIlgpu.Tests.Fixtures;

/// <summary>Dataset folders (train/validation/test JSONL) for the command tests.</summary>
public static class DatasetFolder
{
    public static string Write(string folder, IEnumerable<LabeledExample> train, IEnumerable<LabeledExample> validation, IEnumerable<LabeledExample> test)
    {
        Directory.CreateDirectory(folder);
        void WriteSplit(string name, IEnumerable<LabeledExample> rows) =>
            File.WriteAllLines(Path.Combine(folder, name), rows.Select(r => JsonSerializer.Serialize(new { text = r.Text, label = r.Label })));
        WriteSplit("train.jsonl", train);
        WriteSplit("validation.jsonl", validation);
        WriteSplit("test.jsonl", test);
        return folder;
    }

    /// <summary>The synthetic sentiment fixture: 40 train, 6 validation, 6 test.</summary>
    public static string WriteSynthetic(string folder, ulong seed = 7)
    {
        var data = GtaEndToEndTests.SyntheticSentiment(40, 6, seed);
        return Write(folder, data.Train, data.Validation, data.Test);
    }
}
