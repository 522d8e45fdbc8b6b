using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Data;
using GtaIlgpu.Gta;
using GtaIlgpu.Model;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Tests.Gta;

/// <summary>
/// The loss masks, checked where they matter: in the gradient the fused kernel writes into the logits.
/// Guess tokens get no RL gradient; think and answer tokens get no SFT gradient.
/// </summary>
public class TokenMaskTests
{
    private static (PromptFormat Format, Transformer Model, CpuBackend Backend) Setup()
    {
        var data = GtaEndToEndTests.SyntheticSentiment(20, 4, 1);
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text), data.Labels, "sentiment");
        var format = new PromptFormat(vocabulary, "sentiment", data.Labels);
        var backend = new CpuBackend();
        var model = new Transformer(backend, new ModelConfig(1, 16, 2, vocabulary.Size, 80));
        model.InitializeWeights(3);
        return (format, model, backend);
    }

    private static float RowNorm(float[] logits, int row, int V)
    {
        double s = 0;
        for (int v = 0; v < V; v++) s += Math.Abs(logits[row * V + v]);
        return (float)s;
    }

    [Fact]
    public void Guess_tokens_receive_no_rl_gradient_and_think_and_answer_tokens_do()
    {
        var (format, model, backend) = Setup();
        using (backend) using (model)
        {
            var prompt = format.Prompt("the food was great", CompletionTemplate.GuessThinkAnswer);
            var completion = format.Completion(CompletionTemplate.GuessThinkAnswer, "positive", " it says the food ");
            var span = format.GuessSpan(completion);
            Assert.Equal(0, span.Start);
            Assert.True(span.End >= 3 && completion[span.End - 1] == format.GuessCloseId);
            using var w = new BatchWorkspace(backend, model.Config, 1, prompt.Length + completion.Length - 1);
            w.Pack([prompt], [completion], (_, j) => GtaTrainer.CountsForRl(j, span), format.EndOfText);
            backend.Upload(w.Inputs.View, w.HostInputs);
            w.Loss.SetTargets(w.HostTargets);
            model.Forward(w.Acts, w.Inputs.View);
            w.Loss.ComputeLogProbs(w.Acts, w.LogProbs);
            GrpoLoss.Coefficients(1, w.Sequence, w.Counted, w.LogProbs, w.LogProbs, w.LogProbs, [1.5f], new GrpoObjective(0.2f, 0.2f, 0.01f, GrpoLossType.Dapo, 0), w.Coefficients);
            w.Loss.SetCoefficients(w.Coefficients);
            w.Loss.Compute(w.Acts, withGradient: true);
            var dlogits = backend.ToArray(w.Acts.Logits);
            int V = model.Config.VocabSize;
            for (int j = 0; j < completion.Length; j++)
            {
                float norm = RowNorm(dlogits, prompt.Length + j - 1, V);
                if (j < span.End) Assert.True(norm == 0, $"guess token {j} received an RL gradient");
                else Assert.True(norm > 0, $"completion token {j} (think/answer) received no RL gradient");
            }
            for (int t = 0; t < prompt.Length - 1; t++) Assert.Equal(0f, RowNorm(dlogits, t, V));
        }
    }

    [Fact]
    public void Only_the_guess_receives_the_sft_gradient()
    {
        var (format, model, backend) = Setup();
        using (backend) using (model)
        {
            var prompt = format.Prompt("the food was great", CompletionTemplate.GuessThinkAnswer);
            var guess = format.Guess("positive");
            var full = format.Completion(CompletionTemplate.GuessThinkAnswer, "positive", " it says the food ");
            // The SFT sequence is prompt + guess; lay it into a window as long as the full completion's so
            // the positions of think and answer exist and can be checked for zero gradient.
            using var w = new BatchWorkspace(backend, model.Config, 1, prompt.Length + full.Length - 1);
            w.Pack([prompt], [guess], (_, _) => true, format.EndOfText);
            backend.Upload(w.Inputs.View, w.HostInputs);
            w.Loss.SetTargets(w.HostTargets);
            model.Forward(w.Acts, w.Inputs.View);
            w.Loss.Compute(w.Acts, withGradient: true);
            var dlogits = backend.ToArray(w.Acts.Logits);
            int V = model.Config.VocabSize;
            for (int t = 0; t < w.Sequence; t++)
            {
                bool inGuess = t >= prompt.Length - 1 && t < prompt.Length - 1 + guess.Length;
                float norm = RowNorm(dlogits, t, V);
                if (inGuess) Assert.True(norm > 0, $"guess position {t} received no SFT gradient");
                else Assert.True(norm == 0, $"position {t} outside the guess received an SFT gradient");
            }
        }
    }

    [Fact]
    public void Tags_are_single_special_tokens_and_text_round_trips()
    {
        var (format, model, backend) = Setup();
        using (backend) using (model)
        {
            var ids = format.Completion(CompletionTemplate.GuessThinkAnswer, "negative", " it says the room ");
            Assert.Equal(format.GuessOpenId, ids[0]);
            Assert.Equal(format.EndOfText, ids[^1]);
            Assert.Equal(7, ids.Count(id => id < ((GtaIlgpu.Text.CompactVocabulary)format.Tokenizer).Specials.Count)); // six tags + end-of-text
            Assert.Equal("<guess>negative</guess><think> it says the room </think><answer>negative</answer>", format.DecodeCompletion(ids));
        }
    }

    [Fact]
    public void An_unclosed_guess_runs_to_the_end_of_the_completion()
    {
        var (format, model, backend) = Setup();
        using (backend) using (model)
        {
            var label = format.Encode("positive");
            int think = format.Encode("<think>").Single(), answer = format.Encode("<answer>").Single();
            // <guess>positive<think> it says</think><answer>positive</answer><eot>: no </guess>, so every
            // token after <guess> is guess (the SFT target teaches the close); RL trains none of them.
            int[] unclosed = [format.GuessOpenId, .. label, .. format.Encode("<think> it says </think><answer>positive</answer>"), format.EndOfText];
            Assert.Equal((0, unclosed.Length), format.GuessSpan(unclosed));
            Assert.All(Enumerable.Range(0, unclosed.Length), j => Assert.False(GtaTrainer.CountsForRl(j, format.GuessSpan(unclosed))));
            // Ended by end-of-text, or cut at the token limit inside the guess: the same.
            int[] stopped = [format.GuessOpenId, .. label, format.EndOfText];
            Assert.Equal((0, stopped.Length), format.GuessSpan(stopped));
            int[] cut = [format.GuessOpenId, .. label];
            Assert.Equal((0, cut.Length), format.GuessSpan(cut));
            // A closed guess includes its closing tag; a later <answer> does not matter.
            int[] closed = [format.GuessOpenId, .. label, format.GuessCloseId, answer];
            Assert.Equal((0, label.Length + 2), format.GuessSpan(closed));
            // Text before the guess is not guess; no guess at all: an empty span.
            int[] late = [.. label, format.GuessOpenId, .. label, format.GuessCloseId];
            Assert.Equal((label.Length, 2 * label.Length + 2), format.GuessSpan(late));
            Assert.Equal((0, 0), format.GuessSpan([think, .. label]));
        }
    }
}
