using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Evaluation;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Gta;

/// <summary>One evaluated example: the gold label and the parsed greedy completion.</summary>
public sealed record EvaluatedExample(string Gold, ParsedCompletion Completion);

/// <summary>Greedy decoding of a split in the method's template, batched through the KV-cache generator.</summary>
public static class GtaEvaluator
{
    /// <summary>Prompts decoded together (the validation decoder's KV cache holds this many sequences).</summary>
    public const int DefaultBatch = 64;

    /// <param name="prefillRows">Prompts prefilled at a time (0: the whole batch); a training run passes its micro-batch.</param>
    public static List<EvaluatedExample> Run(Transformer model, PromptFormat format, IReadOnlyList<LabeledExample> examples,
        CompletionTemplate template, int maxCompletionTokens, int batch = DefaultBatch, Action<int>? progress = null, int prefillRows = 0)
    {
        var results = new List<EvaluatedExample>(examples.Count);
        if (examples.Count == 0) return results;
        int rows = Math.Min(batch, examples.Count);
        using var generator = new Generator(model, rows, model.Config.MaxSequence, prefillRows);
        var rng = new Rng(0); // greedy decoding draws no numbers
        for (int start = 0; start < examples.Count; start += rows)
        {
            var chunk = examples.Skip(start).Take(rows).ToList();
            var prompts = chunk.Select(e => format.Prompt(e.Text, template, model.Config.MaxSequence - maxCompletionTokens)).ToList();
            var completions = generator.Generate(prompts, maxCompletionTokens, new SamplingSettings(Temperature: 0), rng, format.EndOfText);
            for (int i = 0; i < chunk.Count; i++)
            {
                string text = format.DecodeCompletion(completions[i]);
                results.Add(new EvaluatedExample(chunk[i].Label, CompletionParser.Parse(text, template)));
            }
            progress?.Invoke(results.Count);
        }
        return results;
    }

    /// <summary>Accuracy, F1s, format-valid rate, guess statistics and the confusion matrix of a decoded split.</summary>
    public static ClassificationMetrics Metrics(IReadOnlyList<string> labels, IEnumerable<EvaluatedExample> results) =>
        ClassificationMetrics.FromCompletions(labels, results.Select(r => (r.Gold, r.Completion)));
}
