using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Data;
using GtaIlgpu.Model;
using GtaIlgpu.Text;
using GtaIlgpu.Training;
using GtaIlgpu.Rewards;

namespace GtaIlgpu.Gta;

public sealed record BaseSettings
{
    /// <summary>The from-scratch base's architecture (see <see cref="ModelConfig.FromScratch"/>): gpt2 or llama.</summary>
    public string Arch { get; init; } = "gpt2";

    /// <summary>A downloaded Llama-family model's prompts: its chat template (on), the plain prompt (off), or on when its folder has one (auto).</summary>
    public ChatMode Chat { get; init; } = ChatMode.Auto;
    public int Layers { get; init; } = 4;
    public int Channels { get; init; } = 128;
    public int Heads { get; init; } = 4;
    public int MaxSequence { get; init; } = 96;
    public int PretrainSteps { get; init; } = 800;
    public int PrimeSteps { get; init; } = 150;
    public int Batch { get; init; } = 16;
    public float LearningRate { get; init; } = 1e-3f;
    public ulong Seed { get; init; } = 7;
    /// <summary>The completion length the window must leave room for: the run's --max-completion.</summary>
    public int MaxCompletionTokens { get; init; } = new GtaSettings().MaxCompletionTokens;
}

/// <summary>
/// Builds the shared base checkpoint every method starts from, as DESIGN §4 prescribes for a run
/// without downloaded weights: (1) language-model pretraining on the unlabeled training texts; (2)
/// format priming on completions whose guess and answer are one uniformly random label, in every
/// template (with the guess for gta, without it for grpo, the bare answer for sft), each asked for by
/// its own instruction line. The base then follows the formats but
/// knows nothing of the task.
/// </summary>
public static class BaseModelBuilder
{
    public const string TaskNameDefault = "text classification";

    public static (Transformer Model, PromptFormat Format) Build(IBackend backend, DatasetSplits data, BaseSettings settings,
        Action<string, int, int>? progress = null, string? taskName = null)
    {
        var labels = data.Labels;
        if (labels.Count < 2) throw new ArgumentException($"dataset '{data.Name}' has {labels.Count} label(s) in its training split; classification needs at least 2");
        string task = taskName ?? TaskNameDefault;
        var vocabulary = PromptFormat.BuildVocabulary(data.Train.Select(e => e.Text), labels, task);
        var format = new PromptFormat(vocabulary, task, labels);
        settings = settings with { MaxSequence = Window(settings.MaxSequence, format, settings.MaxCompletionTokens) };
        var config = ModelConfig.FromScratch(settings.Arch, settings.Layers, settings.Channels, settings.Heads, vocabulary.Size, settings.MaxSequence);
        var model = new Transformer(backend, config);
        try
        {
            model.InitializeWeights(settings.Seed);
            Pretrain(model, vocabulary, data, settings, progress);
            Prime(model, format, data, settings, progress);
            return (model, format);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Text tokens a grown window leaves next to the instruction and a completion.</summary>
    public const int MinTextTokens = 24;

    /// <summary>
    /// The model's window: the requested one whenever the instruction line (which lists every label) and
    /// a completion of <paramref name="maxCompletionTokens"/> (the run's --max-completion) leave room for
    /// any text; otherwise the smallest multiple of 16 that
    /// leaves <see cref="MinTextTokens"/> of text. MASSIVE's 18 labels make a 75-token instruction, which
    /// with a 24-token completion overflows the default 96, so its base gets 128; a requested window that
    /// can work is never changed.
    /// </summary>
    public static int Window(int requested, PromptFormat format, int maxCompletionTokens)
    {
        if (maxCompletionTokens <= 0) throw new ArgumentOutOfRangeException(nameof(maxCompletionTokens), maxCompletionTokens, "the completion needs at least one token");
        int needed = format.LongestInstructionTokens + maxCompletionTokens;
        return needed < requested ? requested : (needed + MinTextTokens + 15) / 16 * 16;
    }

    private static void Pretrain(Transformer model, CompactVocabulary vocabulary, DatasetSplits data, BaseSettings settings, Action<string, int, int>? progress)
    {
        if (settings.PretrainSteps <= 0) return;
        var stream = TextCorpus.Tokenize(data.Train.Select(e => e.Text), vocabulary);
        int T = Math.Min(settings.MaxSequence, Math.Max(8, stream.Length - 1));
        using var trainer = new LanguageModelTrainer(model, stream, new PretrainSettings
        {
            Batch = settings.Batch, Sequence = T, Steps = settings.PretrainSteps, LearningRate = settings.LearningRate,
            WarmupSteps = Math.Min(20, settings.PretrainSteps / 10 + 1), Seed = settings.Seed,
        });
        for (int s = 0; s < settings.PretrainSteps; s++)
        {
            var report = trainer.Step();
            progress?.Invoke($"base: language model, loss {report.Loss:F3}", s + 1, settings.PretrainSteps);
        }
    }

    internal static void Prime(Transformer model, PromptFormat format, DatasetSplits data, BaseSettings settings, Action<string, int, int>? progress)
    {
        if (settings.PrimeSteps <= 0) return;
        var rng = new Rng(settings.Seed + 1);
        var labels = format.Labels;
        using var optimizer = new AdamWOptimizer(model, new AdamWSettings(WeightDecay: 0));
        var schedule = new LearningRateSchedule(settings.LearningRate, Math.Min(10, settings.PrimeSteps / 10 + 1), settings.PrimeSteps);
        using var pool = new WorkspacePool(model.Backend, model.Config, options: model.ActivationOptions);
        for (int s = 0; s < settings.PrimeSteps; s++)
        {
            var prompts = new int[settings.Batch][];
            var completions = new int[settings.Batch][];
            for (int b = 0; b < settings.Batch; b++)
            {
                var example = data.Train[rng.NextInt(data.Train.Count)];
                string label = labels[rng.NextInt(labels.Count)];
                var template = (CompletionTemplate)rng.NextInt(3); // all three templates, each on its own instruction
                var completion = format.Completion(template, label, PromptFormat.PrimingThought(example.Text));
                prompts[b] = format.Prompt(example.Text, template, settings.MaxSequence - completion.Length);
                completions[b] = completion;
            }
            int longest = prompts.Zip(completions, (p, c) => p.Length + c.Length).Max();
            var w = pool.Get(settings.Batch, longest - 1);
            w.Pack(prompts, completions, (_, _) => true, format.EndOfText);
            model.Backend.Upload(w.Inputs.View, w.HostInputs);
            w.Loss.SetTargets(w.HostTargets);
            model.Forward(w.Acts, w.Inputs.View);
            float loss = w.Loss.Compute(w.Acts, withGradient: true);
            if (!float.IsFinite(loss)) throw new NonFiniteException($"format-priming loss is {loss} at step {s + 1}");
            model.ZeroGradients();
            model.Backward(w.Acts, w.Inputs.View);
            optimizer.Step(schedule.At(s));
            progress?.Invoke($"base: format priming, loss {loss:F3}", s + 1, settings.PrimeSteps);
        }
    }
}
