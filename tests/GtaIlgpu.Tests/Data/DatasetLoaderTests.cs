using GtaIlgpu.Data;

namespace GtaIlgpu.Tests.Data;

/// <summary>The four file formats, row validation with file and line, skipping, folders and the validation carve.</summary>
public class DatasetLoaderTests
{
    private static InvalidDataException LoadFails(string path, DatasetLoadOptions? options = null) =>
        Assert.Throws<InvalidDataException>(() => DatasetLoader.Load(path, options));

    [Fact]
    public void Jsonl_reads_string_and_integer_labels_and_skips_blank_lines()
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.jsonl", "{\"text\": \"good film\", \"label\": \"pos\", \"id\": 7}\n\n{\"label\": 3, \"text\": \"meh\"}\n   \n{\"text\":\"ok\",\"label\":\" neg \"}\n");
        var rows = DatasetLoader.Load(path);
        Assert.Equal(["good film", "meh", "ok"], rows.Select(r => r.Text));
        Assert.Equal(["pos", "3", "neg"], rows.Select(r => r.Label)); // labels are trimmed
        Assert.Equal($"{path}:3", rows[1].Source);
        Assert.Equal($"{path}:5", rows[2].Source);
    }

    [Theory]
    [InlineData("{\"text\": \"x\", \"label\": \"a\"", "malformed JSON")]
    [InlineData("[1, 2]", "expected a JSON object, found an array")]
    [InlineData("{\"label\": \"a\"}", "missing field \"text\"")]
    [InlineData("{\"text\": \"x\"}", "missing field \"label\"")]
    [InlineData("{\"text\": 5, \"label\": \"a\"}", "field \"text\" must be a string, found a number")]
    [InlineData("{\"text\": \"x\", \"label\": 1.5}", "field \"label\" must be a string or an integer, found the number 1.5")]
    [InlineData("{\"text\": \"x\", \"label\": true}", "found a boolean")]
    [InlineData("{\"text\": \"x\", \"label\": null}", "found null")]
    [InlineData("{\"text\": \"x\", \"label\": \"  \"}", "empty label")]
    [InlineData("{\"text\": \"  \\t \", \"label\": \"a\"}", "empty text")]
    [InlineData("{\"text\": \"\", \"label\": \"a\"}", "empty text")]
    public void Jsonl_bad_rows_name_file_and_line(string badLine, string expected)
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.jsonl", "{\"text\": \"fine\", \"label\": \"a\"}\n\n" + badLine + "\n");
        var e = LoadFails(path);
        Assert.StartsWith($"{path}:3: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Over_long_text_is_a_bad_row()
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.jsonl", "{\"text\": \"short\", \"label\": \"a\"}\n{\"text\": \"" + new string('x', 11) + "\", \"label\": \"a\"}\n");
        var e = LoadFails(path, new DatasetLoadOptions { MaxTextChars = 10 });
        Assert.Equal($"{path}:2: text of 11 characters is longer than the maximum 10", e.Message);
        Assert.Equal(2, DatasetLoader.Load(path, new DatasetLoadOptions { MaxTextChars = 11 }).Count);
    }

    [Fact]
    public void Csv_handles_rfc4180_quoting_and_reports_the_line_where_a_record_starts()
    {
        using var dir = new TempFolder();
        string csv =
            "ID, Text ,LABEL\r\n" +
            "1,plain text,pos\r\n" +
            "2,\"with, comma and \"\"quotes\"\"\",neg\r\n" +
            "3,\"two\nlines\",pos\r\n" +
            "4,\"\",neg\r\n";
        string path = dir.Write("a.csv", csv);
        var e = LoadFails(path);
        Assert.Equal($"{path}:6: empty text", e.Message); // the record after the two-line one starts on line 6

        path = dir.Write("b.csv", csv.Replace("4,\"\",neg", "4,a \"quote\" inside,neg"));
        var rows = DatasetLoader.Load(path);
        Assert.Equal(["plain text", "with, comma and \"quotes\"", "two\nlines", "a \"quote\" inside"], rows.Select(r => r.Text));
        Assert.Equal(["pos", "neg", "pos", "neg"], rows.Select(r => r.Label));
        Assert.Equal($"{path}:6", rows[3].Source);
    }

    [Theory]
    [InlineData("text,label\nok,a\nx,y,z\n", 3, "expected 2 columns as in the header, found 3")]
    [InlineData("text,label\nok,a\nlonely\n", 3, "expected 2 columns as in the header, found 1")]
    [InlineData("text,label\nok,a\n\"closed\"junk,a\n", 3, "after a closing quote")]
    [InlineData("text,label\nok,a\n\"never closed,a\nmore\n", 3, "unterminated quoted field")]
    public void Csv_malformed_records(string csv, int line, string expected)
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.csv", csv);
        var e = LoadFails(path);
        Assert.StartsWith($"{path}:{line}: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Csv_and_tsv_headers_must_name_text_and_label()
    {
        using var dir = new TempFolder();
        var e = LoadFails(dir.Write("a.csv", "sentence,label\nhi,a\n"));
        Assert.Contains("a.csv:1: the CSV header must name the columns \"text\" and \"label\"", e.Message);
        e = LoadFails(dir.Write("b.tsv", "text\ttext\tlabel\nhi\tho\ta\n"));
        Assert.Contains("b.tsv:1: the header names the column \"text\" twice", e.Message);
        e = LoadFails(dir.Write("c.csv", ""));
        Assert.Contains("empty CSV file", e.Message);
    }

    [Fact]
    public void Tsv_splits_on_tabs_without_quoting()
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.tsv", "label\ttext\npos\t\"quoted\" as is, with comma\n\nneg\tsecond\n");
        var rows = DatasetLoader.Load(path);
        Assert.Equal(["\"quoted\" as is, with comma", "second"], rows.Select(r => r.Text));
        Assert.Equal(["pos", "neg"], rows.Select(r => r.Label));
        Assert.Equal($"{path}:4", rows[1].Source);

        path = dir.Write("b.tsv", "label\ttext\npos\tone\textra\n");
        Assert.Equal($"{path}:2: expected 2 columns as in the header, found 3", LoadFails(path).Message);
    }

    [Fact]
    public void FastText_reads_one_label_per_line()
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.txt", "__label__pos great movie\n\n  __label__very_negative   awful , truly  \n");
        var rows = DatasetLoader.Load(path);
        Assert.Equal(["great movie", "awful , truly"], rows.Select(r => r.Text));
        Assert.Equal(["pos", "very_negative"], rows.Select(r => r.Label));
    }

    [Theory]
    [InlineData("__label__a __label__b text", "more than one label (__label__a and __label__b)")]
    [InlineData("__label__a text and __label__b", "more than one label")]
    [InlineData("text __label__a", "expected the line to start with __label__LABEL")]
    [InlineData("__label__ text", "empty label after __label__")]
    [InlineData("__label__a", "empty text")]
    public void FastText_bad_lines(string line, string expected)
    {
        using var dir = new TempFolder();
        string path = dir.Write("a.ft", "__label__a fine\n" + line + "\n");
        var e = LoadFails(path);
        Assert.StartsWith($"{path}:2: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Missing_files_and_unknown_formats_are_clear_errors()
    {
        using var dir = new TempFolder();
        string missing = Path.Combine(dir.Path, "nope.jsonl");
        var e = Assert.Throws<FileNotFoundException>(() => DatasetLoader.Load(missing));
        Assert.Equal($"dataset file not found: {missing}", e.Message);
        var a = Assert.Throws<ArgumentException>(() => DatasetLoader.Load(dir.Write("a.parquet", "x")));
        Assert.Contains("unsupported dataset format '.parquet'", a.Message);
        Assert.Contains("contains no examples", LoadFails(dir.Write("e.jsonl", "\n\n")).Message);
        var d = Assert.Throws<DirectoryNotFoundException>(() => DatasetLoader.LoadSplits(Path.Combine(dir.Path, "absent")));
        Assert.Contains("dataset folder not found", d.Message);
    }

    private static string Jsonl(params (string Text, string Label)[] rows) =>
        string.Concat(rows.Select(r => $"{{\"text\": \"{r.Text}\", \"label\": \"{r.Label}\"}}\n"));

    [Fact]
    public void A_folder_gives_three_splits_and_rejects_labels_not_in_train()
    {
        using var dir = new TempFolder();
        dir.Write("train.jsonl", Jsonl(("t1", "b"), ("t2", "a"), ("t3", "b"), ("t4", "c")));
        dir.Write("validation.csv", "text,label\nv1,a\n");
        string test = dir.Write("test.tsv", "text\tlabel\nx1\tc\nx2\tB\nx3\ta\n");
        var e = Assert.Throws<InvalidDataException>(() => DatasetLoader.LoadSplits(dir.Path));
        Assert.Equal($"{test}:3: label \"B\" does not occur in the training split", e.Message);

        var splits = DatasetLoader.LoadSplits(dir.Path, new DatasetLoadOptions { SkipBadRows = true }, out var report);
        Assert.Equal(["b", "a", "c"], splits.Labels);
        Assert.Equal(4, splits.Train.Count);
        Assert.Single(splits.Validation);
        Assert.Equal(["x1", "x3"], splits.Test.Select(x => x.Text));
        Assert.Equal(1, report.SkippedByReason[BadRowReason.UnknownLabel]);
        Assert.Equal("skipped 1 bad row (unknown label 1)", report.Summary());
        Assert.Equal(0, report.CarvedValidationRows);
        Assert.Equal(new DirectoryInfo(dir.Path).Name, splits.Name);
    }

    [Fact]
    public void Skip_bad_rows_counts_each_reason()
    {
        using var dir = new TempFolder();
        dir.Write("train.jsonl",
            "{\"text\": \"ok\", \"label\": \"a\"}\n" +
            "not json\n" +
            "{\"text\": \" \", \"label\": \"a\"}\n" +
            "{\"text\": \"this one is far too long\", \"label\": \"b\"}\n" +
            "{\"text\": \"fine\", \"label\": \"b\"}\n" +
            "{\"text\": \"fine\"}\n");
        dir.Write("validation.jsonl", Jsonl(("v", "a"), ("v", "zzz")));
        dir.Write("test.jsonl", Jsonl(("t", "b"), ("", "b")));
        var options = new DatasetLoadOptions { SkipBadRows = true, MaxTextChars = 10 };
        var splits = DatasetLoader.LoadSplits(dir.Path, options, out var report);
        Assert.Equal(["a", "b"], splits.Labels);
        Assert.Equal((2, 1, 1), (splits.Train.Count, splits.Validation.Count, splits.Test.Count));
        Assert.Equal(2, report.SkippedByReason[BadRowReason.Malformed]);
        Assert.Equal(2, report.SkippedByReason[BadRowReason.EmptyText]);
        Assert.Equal(1, report.SkippedByReason[BadRowReason.TooLong]);
        Assert.Equal(1, report.SkippedByReason[BadRowReason.UnknownLabel]);
        Assert.Equal(6, report.SkippedCount);
        Assert.Equal("skipped 6 bad rows (malformed 2, empty text 2, unknown label 1, too long 1)", report.Summary());
        Assert.Contains(report.Skipped, b => b.Line == 2 && b.Path.EndsWith("train.jsonl") && b.Reason == BadRowReason.Malformed);
        Assert.Equal(2, report.RowsRead.Single(kv => kv.Key.EndsWith("train.jsonl")).Value);
    }

    [Fact]
    public void Folder_errors_missing_test_and_ambiguous_files()
    {
        using var dir = new TempFolder();
        dir.Write("train.jsonl", Jsonl(("t", "a")));
        var e = Assert.Throws<FileNotFoundException>(() => DatasetLoader.LoadSplits(dir.Path));
        Assert.Contains("no test file (expected test.jsonl|", e.Message);
        dir.Write("test.jsonl", Jsonl(("t", "a")));
        dir.Write("test.csv", "text,label\nt,a\n");
        Assert.Contains("more than one test file", Assert.Throws<InvalidDataException>(() => DatasetLoader.LoadSplits(dir.Path)).Message);
    }

    [Fact]
    public void Without_a_validation_file_ten_percent_of_train_is_carved_stratified_and_seeded()
    {
        var train = new List<LabeledExample>();
        for (int i = 0; i < 300; i++) train.Add(new LabeledExample($"x{i}", i % 3 == 0 ? "z" : i % 3 == 1 ? "y" : "x", $"f:{i}"));
        for (int i = 0; i < 7; i++) train.Add(new LabeledExample($"rare{i}", "rare", $"r:{i}"));
        train.Add(new LabeledExample("single", "one", "s:1"));

        var (kept, carved) = DatasetLoader.CarveValidation(train, 0.1, seed: 5);
        Assert.Equal(10, carved.Count(e => e.Label == "z"));
        Assert.Equal(10, carved.Count(e => e.Label == "y"));
        Assert.Equal(10, carved.Count(e => e.Label == "x"));
        Assert.Equal(1, carved.Count(e => e.Label == "rare")); // round(0.7) = 1
        Assert.Equal(0, carved.Count(e => e.Label == "one")); // a lone example stays in train
        Assert.Equal(train.Count, kept.Count + carved.Count);
        Assert.Empty(kept.Intersect(carved));
        // Label order is unchanged, both lists keep the original order, and the same seed gives the same carve.
        Assert.Equal(train.Select(e => e.Label).Distinct(), kept.Select(e => e.Label).Distinct());
        Assert.Equal(kept.OrderBy(e => train.IndexOf(e)), kept);
        Assert.Equal(carved.OrderBy(e => train.IndexOf(e)), carved);
        Assert.Equal(carved, DatasetLoader.CarveValidation(train, 0.1, seed: 5).Validation);
        Assert.NotEqual(carved, DatasetLoader.CarveValidation(train, 0.1, seed: 6).Validation);
    }

    [Fact]
    public void Validation_sample_is_a_seeded_draw_over_the_whole_split_not_its_first_rows()
    {
        // A validation file grouped by label, as SST-5's is: the first 60 rows hold only "a".
        var validation = Enumerable.Range(0, 120).Select(i => new LabeledExample($"v{i}", i < 60 ? "a" : "b", $"v:{i}")).ToList();
        var splits = new DatasetSplits("grouped", validation, validation, validation);

        var sample = splits.ValidationSample(40);
        Assert.Equal(40, sample.Count);
        Assert.InRange(sample.Count(e => e.Label == "b"), 12, 28); // the first 40 rows would give 0
        Assert.Equal(sample.Distinct().Count(), sample.Count);
        Assert.Equal(sample.OrderBy(e => validation.IndexOf(e)), sample); // kept in file order
        Assert.Equal(sample, splits.ValidationSample(40)); // the same subset for every run
        Assert.Same(validation, splits.ValidationSample(120));
        Assert.Same(validation, splits.ValidationSample(500));
    }

    [Fact]
    public void Benchmark_names_resolve_through_the_environment_variable_first()
    {
        using var dir = new TempFolder();
        dir.Write("sst5/train.jsonl", Jsonl(("t", "a")));
        var candidates = DatasetLoader.BenchmarkCandidates("sst5", dir.Path);
        Assert.Equal(Path.Combine(dir.Path, "sst5"), candidates[0]);
        Assert.Contains(candidates, c => c.EndsWith(Path.Combine("shared", "datasets", "sst5")));
        Assert.Equal(DatasetLoader.FetchedFolder("sst5"), candidates[^1]);
        Assert.Equal(Path.Combine(dir.Path, "sst5"), DatasetLoader.ResolveBenchmark("sst5", dir.Path));
        Assert.NotNull(DatasetLoader.FindRepositoryRoot());
        Assert.True(DatasetLoader.IsBenchmarkName("MASSIVE"));
        Assert.False(DatasetLoader.IsBenchmarkName("imdb"));
    }
}
