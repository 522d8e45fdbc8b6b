namespace GtaIlgpu.Model;

/// <summary>
/// The shapes of the models the paper fine-tunes (and Qwen2.5-0.5B, the one a CPU can train), as their
/// published config.json files give them, for memory plans (`gta plan --shape`) and benchmarks with random
/// weights. No weights come with them. Windows are the configs' max_position_embeddings; a plan or a run
/// lowers them to what it needs.
/// </summary>
public static class KnownShapes
{
    private static ModelConfig Qwen2(int layers, int hidden, int heads, int kvHeads, int intermediate) => new(layers, hidden, heads, 151936, 32768)
    {
        Family = ModelFamily.Llama, ModelType = "qwen2", KvHeads = kvHeads, Intermediate = intermediate, AttentionBias = true,
        RopeTheta = 1e6, NormEps = 1e-6f, TiedEmbeddings = true,
    };

    public static readonly IReadOnlyDictionary<string, ModelConfig> All = new Dictionary<string, ModelConfig>
    {
        // Qwen/Qwen2.5-0.5B: 494,032,768 parameters.
        ["qwen2.5-0.5b"] = Qwen2(24, 896, 14, 2, 4864),
        // Qwen/Qwen2.5-3B: 3.09B parameters (hidden 2048, 16 heads over 2 KV heads of 128, SwiGLU 11008, tied).
        ["qwen2.5-3b"] = Qwen2(36, 2048, 16, 2, 11008),
        // Qwen/Qwen3-4B: 4.02B (hidden 2560, 32 heads over 8 KV heads of head_dim 128 ≠ 2560/32, q/k norm, SwiGLU 9728, tied).
        ["qwen3-4b"] = new ModelConfig(36, 2560, 32, 151936, 40960)
        {
            Family = ModelFamily.Llama, ModelType = "qwen3", KvHeads = 8, HeadDim = 128, Intermediate = 9728, QkNorm = true,
            RopeTheta = 1e6, NormEps = 1e-6f, TiedEmbeddings = true,
        },
        // meta-llama/Llama-3.2-3B: 3.21B (hidden 3072, 24 heads over 8 KV heads of 128, SwiGLU 8192, llama3 rope scaling ×32, tied).
        ["llama-3.2-3b"] = new ModelConfig(28, 3072, 24, 128256, 131072)
        {
            Family = ModelFamily.Llama, ModelType = "llama", KvHeads = 8, Intermediate = 8192, RopeTheta = 500000, NormEps = 1e-5f,
            RopeScaling = new RopeScaling(32, 1, 4, 8192), TiedEmbeddings = true,
        },
    };

    public static ModelConfig Get(string name) => All.TryGetValue(name, out var shape) ? shape
        : throw new ArgumentException($"--shape {name}: expected one of {string.Join(", ", All.Keys)}");
}
