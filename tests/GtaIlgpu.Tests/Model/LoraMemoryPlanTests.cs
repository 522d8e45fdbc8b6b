using GtaIlgpu.Gta;
using GtaIlgpu.Model;

namespace GtaIlgpu.Tests.Model;

/// <summary>
/// The paper's 3–4B models on one 80 GB GPU: their shapes as published, and the memory plans the README quotes
/// (LoRA r = 16 on q, k, v, o, a bf16 base, 4 prompts × 16 completions, a 1,024-token window, recomputation and
/// micro-batches of 4 rows) fitting where full fp32 fine-tuning does not.
/// </summary>
public class LoraMemoryPlanTests
{
    private const long Gpu80 = 80L << 30;

    [Theory]
    [InlineData("qwen2.5-0.5b", 494_032_768L, 0.0)]
    [InlineData("qwen2.5-3b", 3_090_000_000L, 0.005)]
    [InlineData("qwen3-4b", 4_020_000_000L, 0.005)]
    [InlineData("llama-3.2-3b", 3_210_000_000L, 0.005)]
    public void Known_shapes_count_their_published_parameters(string name, long published, double tolerance)
    {
        long count = new ParameterLayout(KnownShapes.Get(name)).ParameterCount;
        Assert.True(Math.Abs(count - published) <= tolerance * published, $"{name}: {count:N0} parameters, published {published:N0}");
    }

    /// <summary>The README's setting: what one step of `gta train` on these shapes holds.</summary>
    public static GtaSettings PaperSettings => new()
    {
        PromptsPerStep = 4, Generations = 16, SftPrompts = 32, MaxCompletionTokens = 256, Beta = 0.04f,
        LoraRank = 16, LoraAlpha = 32, BaseDtype = WeightDtype.Bf16, Recompute = true, MicroBatch = 4,
    };

    public static TheoryData<string> PaperShapes => ["qwen2.5-3b", "qwen3-4b", "llama-3.2-3b"];

    [Theory]
    [MemberData(nameof(PaperShapes))]
    public void Lora_r16_on_a_bf16_base_with_16_completions_fits_80_gb_where_full_fine_tuning_does_not(string name)
    {
        var config = KnownShapes.Get(name) with { MaxSequence = 1024 };
        var plan = GtaTrainer.PlanMemory(config, PaperSettings);
        Assert.True(plan.TotalBytes < Gpu80, $"{name}: {MemoryPlan.Format(plan.TotalBytes)}\n{plan.Table()}");
        // No KL reference copy, no gradient or moments of the base.
        Assert.DoesNotContain(plan.Items, i => i.Name == "KL reference");
        var weights = plan.Items.Single(i => i.Name == "weights").Bytes;
        long parameters = new ParameterLayout(config).ParameterCount;
        Assert.True(weights < 2.1 * parameters, $"{name}: the bf16 base takes {weights} bytes for {parameters} parameters");
        Assert.True(plan.Items.Single(i => i.Name == "AdamW moments").Bytes < parameters / 20);

        var full = PaperSettings with { LoraRank = 0, BaseDtype = WeightDtype.F32, Recompute = false, MicroBatch = 0 };
        var fullPlan = GtaTrainer.PlanMemory(config, full);
        Assert.True(fullPlan.TotalBytes > Gpu80, $"{name}: full fine-tuning plans {MemoryPlan.Format(fullPlan.TotalBytes)}");
        var fit = GtaTrainer.SuggestFit(config, full, Gpu80);
        Assert.NotNull(fit);
        Assert.StartsWith("--lora-rank 16", fit!.Value.Flags);
        Assert.True(fit.Value.Plan.TotalBytes <= Gpu80);
    }

    [Fact]
    public void Each_option_shrinks_the_plan()
    {
        var config = KnownShapes.Get("qwen2.5-0.5b") with { MaxSequence = 512 };
        var full = new GtaSettings { PromptsPerStep = 2, Generations = 8, SftPrompts = 8 };
        long Total(GtaSettings s) => GtaTrainer.PlanMemory(config, s).TotalBytes;
        var lora = full with { LoraRank = 16 };
        var bf16 = lora with { BaseDtype = WeightDtype.Bf16 };
        var recompute = bf16 with { Recompute = true };
        var micro = recompute with { MicroBatch = 2 };
        Assert.True(Total(lora) < Total(full));
        Assert.True(Total(bf16) < Total(lora));
        Assert.True(Total(recompute) < Total(bf16));
        Assert.True(Total(micro) < Total(recompute));
    }
}
