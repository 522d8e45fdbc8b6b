namespace GtaIlgpu.Model;

/// <summary>
/// What a tensor is for in the block seam (norm → attention → residual → norm → MLP → residual).
/// Several tensors with one role in one layer are stored back to back and used as one fused view:
/// Llama's q_proj, k_proj and v_proj are the rows of one [q | k | v] matmul, gate_proj and up_proj of one
/// [gate | up] matmul.
/// </summary>
public enum TensorRole
{
    TokenEmbedding, PositionEmbedding, FinalNormWeight, FinalNormBias, LmHead,
    AttentionNormWeight, AttentionNormBias, QkvWeight, QkvBias, QueryNorm, KeyNorm, OutputWeight, OutputBias,
    MlpNormWeight, MlpNormBias, UpWeight, UpBias, DownWeight, DownBias,
}

/// <summary>
/// One tensor of a family: its Hugging Face name (the checkpoint name and the flat buffer's key), shape
/// as stored ([out, in] for a Linear), initialisation, whether AdamW decays it, whether it trains, and its
/// role in layer Layer (−1 outside the blocks).
/// </summary>
public sealed record TensorSpec(string Name, int[] Shape, TensorRole Role, int Layer, bool Decay, float InitStd, float InitConstant, bool Trainable = true);

/// <summary>
/// The families' tensor lists, written once: the flat buffer (<see cref="ParameterLayout"/>), the model's
/// views (<see cref="Transformer"/>) and the checkpoint names all derive from these. Within each list the
/// decayed tensors come first so AdamW is two flat launches.
/// </summary>
public static class ModelFamilies
{
    public static IReadOnlyList<TensorSpec> Tensors(ModelConfig config) => config.IsGpt2 ? Gpt2(config) : Llama(config);

    /// <summary>GPT-2's names as its checkpoints store the body (without the "transformer." prefix).</summary>
    private static List<TensorSpec> Gpt2(ModelConfig config)
    {
        int C = config.Channels, V = config.VocabSize, L = config.Layers;
        const float std = 0.02f;
        // Residual projections are scaled by 1/√(2·layers) so the residual stream's variance does not grow with depth.
        float residualStd = (float)(0.02 / Math.Sqrt(2.0 * L));
        var specs = new List<TensorSpec>
        {
            new("wte.weight", [V, C], TensorRole.TokenEmbedding, -1, true, std, 0),
            new("wpe.weight", [config.MaxSequence, C], TensorRole.PositionEmbedding, -1, true, std, 0),
        };
        for (int l = 0; l < L; l++)
        {
            string p = $"h.{l}.";
            specs.Add(new(p + "attn.c_attn.weight", [3 * C, C], TensorRole.QkvWeight, l, true, std, 0));
            specs.Add(new(p + "attn.c_proj.weight", [C, C], TensorRole.OutputWeight, l, true, residualStd, 0));
            specs.Add(new(p + "mlp.c_fc.weight", [4 * C, C], TensorRole.UpWeight, l, true, std, 0));
            specs.Add(new(p + "mlp.c_proj.weight", [C, 4 * C], TensorRole.DownWeight, l, true, residualStd, 0));
        }
        for (int l = 0; l < L; l++)
        {
            string p = $"h.{l}.";
            specs.Add(new(p + "ln_1.weight", [C], TensorRole.AttentionNormWeight, l, false, 0, 1));
            specs.Add(new(p + "ln_1.bias", [C], TensorRole.AttentionNormBias, l, false, 0, 0));
            specs.Add(new(p + "attn.c_attn.bias", [3 * C], TensorRole.QkvBias, l, false, 0, 0));
            specs.Add(new(p + "attn.c_proj.bias", [C], TensorRole.OutputBias, l, false, 0, 0));
            specs.Add(new(p + "ln_2.weight", [C], TensorRole.MlpNormWeight, l, false, 0, 1));
            specs.Add(new(p + "ln_2.bias", [C], TensorRole.MlpNormBias, l, false, 0, 0));
            specs.Add(new(p + "mlp.c_fc.bias", [4 * C], TensorRole.UpBias, l, false, 0, 0));
            specs.Add(new(p + "mlp.c_proj.bias", [C], TensorRole.DownBias, l, false, 0, 0));
        }
        specs.Add(new("ln_f.weight", [C], TensorRole.FinalNormWeight, -1, false, 0, 1));
        specs.Add(new("ln_f.bias", [C], TensorRole.FinalNormBias, -1, false, 0, 0));
        return specs;
    }

    /// <summary>
    /// Llama / Qwen2 / Qwen3 as transformers' LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM name
    /// them. Initialisation as their _init_weights: normal(0, 0.02) for Linear and Embedding, norms at 1.
    /// </summary>
    private static List<TensorSpec> Llama(ModelConfig config)
    {
        int C = config.Channels, V = config.VocabSize, L = config.Layers, I = config.MlpWidth;
        int q = config.Heads * config.HeadSize, kv = config.KvHeadCount * config.HeadSize, hs = config.HeadSize;
        const float std = 0.02f;
        var specs = new List<TensorSpec> { new("model.embed_tokens.weight", [V, C], TensorRole.TokenEmbedding, -1, true, std, 0) };
        for (int l = 0; l < L; l++)
        {
            string p = $"model.layers.{l}.";
            specs.Add(new(p + "self_attn.q_proj.weight", [q, C], TensorRole.QkvWeight, l, true, std, 0));
            specs.Add(new(p + "self_attn.k_proj.weight", [kv, C], TensorRole.QkvWeight, l, true, std, 0));
            specs.Add(new(p + "self_attn.v_proj.weight", [kv, C], TensorRole.QkvWeight, l, true, std, 0));
            specs.Add(new(p + "self_attn.o_proj.weight", [C, q], TensorRole.OutputWeight, l, true, std, 0));
            specs.Add(new(p + "mlp.gate_proj.weight", [I, C], TensorRole.UpWeight, l, true, std, 0));
            specs.Add(new(p + "mlp.up_proj.weight", [I, C], TensorRole.UpWeight, l, true, std, 0));
            specs.Add(new(p + "mlp.down_proj.weight", [C, I], TensorRole.DownWeight, l, true, std, 0));
        }
        if (!config.TiedEmbeddings) specs.Add(new("lm_head.weight", [V, C], TensorRole.LmHead, -1, true, std, 0));
        for (int l = 0; l < L; l++)
        {
            string p = $"model.layers.{l}.";
            specs.Add(new(p + "input_layernorm.weight", [C], TensorRole.AttentionNormWeight, l, false, 0, 1));
            if (config.AttentionBias)
            {
                specs.Add(new(p + "self_attn.q_proj.bias", [q], TensorRole.QkvBias, l, false, 0, 0));
                specs.Add(new(p + "self_attn.k_proj.bias", [kv], TensorRole.QkvBias, l, false, 0, 0));
                specs.Add(new(p + "self_attn.v_proj.bias", [kv], TensorRole.QkvBias, l, false, 0, 0));
            }
            if (config.OutputBias) specs.Add(new(p + "self_attn.o_proj.bias", [C], TensorRole.OutputBias, l, false, 0, 0));
            if (config.QkNorm)
            {
                specs.Add(new(p + "self_attn.q_norm.weight", [hs], TensorRole.QueryNorm, l, false, 0, 1));
                specs.Add(new(p + "self_attn.k_norm.weight", [hs], TensorRole.KeyNorm, l, false, 0, 1));
            }
            specs.Add(new(p + "post_attention_layernorm.weight", [C], TensorRole.MlpNormWeight, l, false, 0, 1));
            if (config.MlpBias)
            {
                specs.Add(new(p + "mlp.gate_proj.bias", [I], TensorRole.UpBias, l, false, 0, 0));
                specs.Add(new(p + "mlp.up_proj.bias", [I], TensorRole.UpBias, l, false, 0, 0));
                specs.Add(new(p + "mlp.down_proj.bias", [C], TensorRole.DownBias, l, false, 0, 0));
            }
        }
        specs.Add(new("model.norm.weight", [C], TensorRole.FinalNormWeight, -1, false, 0, 1));
        return specs;
    }
}
