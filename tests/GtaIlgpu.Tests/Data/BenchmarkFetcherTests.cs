using System.Net;
using System.Net.Sockets;
using System.Text;
using GtaIlgpu.Cli.Commands;
using GtaIlgpu.Data;

namespace GtaIlgpu.Tests.Data;

/// <summary>
/// `gta data fetch` without internet: the offline failure is one clear error, normalisation is checked
/// on canned answers of the dataset viewer, and the download loop on a fake viewer served on loopback.
/// </summary>
[Collection(GtaIlgpu.Tests.Fixtures.ConsoleCollection.Name)]
public class BenchmarkFetcherTests
{
    private const string Unroutable = "http://127.0.0.1:9"; // discard port on loopback: connection refused

    [Fact]
    public void Unreachable_endpoint_fails_with_one_clear_line_and_writes_nothing()
    {
        using var dir = new TempFolder();
        string output = Path.Combine(dir.Path, "out");
        var e = Assert.Throws<InvalidOperationException>(() => BenchmarkFetcher.Fetch("sst5", output, Unroutable, TimeSpan.FromSeconds(5)));
        Assert.StartsWith("cannot reach huggingface.co: ", e.Message);
        Assert.EndsWith("— the four datasets are also in ../shared/datasets", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void The_command_reports_the_failure_as_a_user_error()
    {
        using var dir = new TempFolder();
        string output = Path.Combine(dir.Path, "out");
        string? before = Environment.GetEnvironmentVariable(BenchmarkFetcher.EndpointVariable);
        Environment.SetEnvironmentVariable(BenchmarkFetcher.EndpointVariable, Unroutable);
        try
        {
            Assert.Equal(2, CliErrors.Invoke(DataCommand.Build(), ["fetch", "emotion", "--out", output]));
            Assert.False(Directory.Exists(output));
        }
        finally
        {
            Environment.SetEnvironmentVariable(BenchmarkFetcher.EndpointVariable, before);
        }
        Assert.NotEqual(0, CliErrors.Invoke(DataCommand.Build(), ["fetch", "imdb"])); // not one of the four
    }

    private const string EmotionPage = """
        {"features":[{"feature_idx":0,"name":"text","type":{"dtype":"string","_type":"Value"}},
                     {"feature_idx":1,"name":"label","type":{"names":["sadness","joy","love","anger","fear","surprise"],"_type":"ClassLabel"}}],
         "rows":[{"row_idx":0,"row":{"text":"i didnt feel humiliated","label":0},"truncated_cells":[]},
                 {"row_idx":1,"row":{"text":"caf\u00e9 \"quoted\"\nline","label":5},"truncated_cells":[]}],
         "num_rows_total":16000,"num_rows_per_page":100,"partial":false}
        """;

    [Fact]
    public void Class_label_ids_become_names()
    {
        var page = BenchmarkFetcher.NormalizeRowsPage(EmotionPage, BenchmarkFetcher.Sources["emotion"]);
        Assert.Equal(16000, page.TotalRows);
        Assert.Equal("{\"text\":\"i didnt feel humiliated\",\"label\":\"sadness\"}", page.Rows[0].JsonLine);
        Assert.Equal("{\"text\":\"café \\\"quoted\\\"\\nline\",\"label\":\"surprise\"}", page.Rows[1].JsonLine);
        Assert.False(page.Rows[1].Truncated);
        Assert.Equal("surprise", JsonlFormat.ParseLine(page.Rows[1].JsonLine, 1).Label);
    }

    [Fact]
    public void SetFit_label_text_and_massive_scenarios()
    {
        const string sst5 = """
            {"features":[{"feature_idx":0,"name":"text","type":{"dtype":"string","_type":"Value"}},{"feature_idx":1,"name":"label","type":{"dtype":"int64","_type":"Value"}},{"feature_idx":2,"name":"label_text","type":{"dtype":"string","_type":"Value"}}],
             "rows":[{"row_idx":7,"row":{"text":"a stirring , funny film","label":4,"label_text":"very positive"},"truncated_cells":["label_text"]}],
             "num_rows_total":8544,"num_rows_per_page":100,"partial":false}
            """;
        var page = BenchmarkFetcher.NormalizeRowsPage(sst5, BenchmarkFetcher.Sources["sst5"]);
        Assert.Equal("{\"text\":\"a stirring , funny film\",\"label\":\"very positive\"}", page.Rows[0].JsonLine);
        Assert.Equal(7, page.Rows[0].RowIndex);
        Assert.False(page.Rows[0].Truncated); // only a truncated text matters

        const string massive = """
            {"features":[{"feature_idx":0,"name":"id","type":{"dtype":"string","_type":"Value"}},{"feature_idx":3,"name":"scenario","type":{"names":["social","transport","calendar"],"_type":"ClassLabel"}},{"feature_idx":5,"name":"utt","type":{"dtype":"string","_type":"Value"}}],
             "rows":[{"row_idx":0,"row":{"id":"1","locale":"en-US","scenario":2,"intent":12,"utt":"wake me up at nine am on friday"},"truncated_cells":["utt"]}],
             "num_rows_total":11514,"num_rows_per_page":100,"partial":false}
            """;
        page = BenchmarkFetcher.NormalizeRowsPage(massive, BenchmarkFetcher.Sources["massive"]);
        Assert.Equal("{\"text\":\"wake me up at nine am on friday\",\"label\":\"calendar\"}", page.Rows[0].JsonLine);
        Assert.True(page.Rows[0].Truncated);

        var e = Assert.Throws<InvalidDataException>(() => BenchmarkFetcher.NormalizeRowsPage(massive.Replace("\"scenario\":2", "\"scenario\":9"), BenchmarkFetcher.Sources["massive"]));
        Assert.Contains("label 9 is outside the 3 class names", e.Message);
        Assert.Throws<InvalidDataException>(() => BenchmarkFetcher.NormalizeRowsPage("{\"error\":\"not found\"}", BenchmarkFetcher.Sources["bbc"]));
    }

    [Fact]
    public void Rows_urls_escape_the_dataset_name()
    {
        Assert.Equal("https://datasets-server.huggingface.co/rows?dataset=dair-ai%2Femotion&config=split&split=train&offset=200&length=100",
            BenchmarkFetcher.RowsUrl(BenchmarkFetcher.DefaultEndpoint, BenchmarkFetcher.Sources["emotion"], "train", 200, 100));
    }

    [Fact]
    public void Downloads_every_page_of_every_split_from_a_loopback_viewer()
    {
        // A fake viewer on loopback: the SetFit/bbc-news layout, 150 train rows (two pages) and 3 test rows,
        // where row 120's text comes back truncated in a full page and whole when asked for alone.
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; probe.Stop(); }
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        listener.Start();
        string[] names = ["business", "sport"];
        // The viewer serves on a thread of its own, not the thread pool: early in a parallel test run the pool
        // is short of threads, and a Task.Run server once went unscheduled past the client's timeout.
        var serving = new Thread(() =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try { context = listener.GetContext(); } catch (HttpListenerException) { return; } catch (ObjectDisposedException) { return; }
                var q = context.Request.QueryString;
                int total = q["split"] == "train" ? 150 : 3, offset = int.Parse(q["offset"]!), length = int.Parse(q["length"]!);
                var rows = Enumerable.Range(offset, Math.Max(0, Math.Min(length, total - offset))).Select(i =>
                {
                    bool truncated = i == 120 && length > 1;
                    string text = truncated ? "cut" : $"{q["split"]} article {i}";
                    return $"{{\"row_idx\":{i},\"row\":{{\"text\":\"{text}\",\"label\":{i % 2},\"label_text\":\"{names[i % 2]}\"}},\"truncated_cells\":[{(truncated ? "\"text\"" : "")}]}}";
                });
                byte[] body = Encoding.UTF8.GetBytes($"{{\"features\":[],\"rows\":[{string.Join(",", rows)}],\"num_rows_total\":{total},\"num_rows_per_page\":100,\"partial\":false}}");
                context.Response.ContentType = "application/json";
                // A client that gave up on a slow answer (a loaded CI machine) closes its end first; the
                // fetcher retries, so the server just moves on to the next request.
                try
                {
                    context.Response.OutputStream.Write(body);
                    context.Response.Close();
                }
                catch (HttpListenerException) { context.Response.Abort(); }
            }
        }) { IsBackground = true, Name = "loopback viewer" };
        serving.Start();
        using var dir = new TempFolder();
        try
        {
            // A generous timeout: the first request has no retry (an unreachable endpoint fails at once), and
            // how fast a loaded machine answers is not what this test checks.
            var counts = BenchmarkFetcher.Fetch("bbc", dir.Path, $"http://127.0.0.1:{port}", TimeSpan.FromSeconds(60));
            Assert.Equal(150, counts["train"]);
            Assert.Equal(3, counts["test"]);
            var splits = DatasetLoader.LoadSplits(dir.Path);
            Assert.Equal(["business", "sport"], splits.Labels);
            Assert.Equal(150, splits.Train.Count + splits.Validation.Count);
            Assert.Contains(splits.Train.Concat(splits.Validation), e => e.Text == "train article 120");
            Assert.DoesNotContain(splits.Train.Concat(splits.Validation), e => e.Text == "cut");
            Assert.False(File.Exists(Path.Combine(dir.Path, "validation.jsonl")));
        }
        finally
        {
            listener.Stop();
            serving.Join(TimeSpan.FromSeconds(5));
        }
    }
}
