namespace GtaIlgpu.Backends;

/// <summary>
/// The op contract every backend implements (the llm.c pattern: one set of semantics, a scalar
/// reference in the tests, a SIMD CPU implementation and ILGPU kernels checked against it).
///
/// Conventions, shared by every implementation:
/// <list type="bullet">
/// <item>Row-major layouts. B = batch, T = sequence, C = channels, NH = heads, hs = C/NH, V = vocabulary,
/// N = number of rows (usually B·T), OC = output channels.</item>
/// <item>Forward ops OVERWRITE their outputs. Backward ops ACCUMULATE (+=) into every gradient they
/// write, so the caller zeroes gradient buffers once per step and shared tensors (the tied embedding,
/// the residual stream) simply add up.</item>
/// <item>Views may be longer than an op needs; only the leading elements are used. Shapes are checked
/// on the host before any work is queued (see <see cref="GtaIlgpu.Kernels.OpShapes"/>): a bad index
/// inside an ILGPU kernel would abort the process.</item>
/// <item>An empty view (<c>default</c>) marks an optional argument as absent.</item>
/// </list>
/// </summary>
public interface IOps
{
    // ---- memory-level helpers -------------------------------------------------------------
    /// <summary>x[i] = value.</summary>
    void Fill(BufferView<float> x, float value);

    /// <summary>destination[i] = source[i] for i &lt; source.Length.</summary>
    void Copy(BufferView<float> destination, BufferView<float> source);

    /// <summary>destination[i] += source[i] for i &lt; source.Length (residual backward, gradient sums).</summary>
    void Accumulate(BufferView<float> destination, BufferView<float> source);

    /// <summary>x[i] *= scale.</summary>
    void Scale(BufferView<float> x, float scale);

    /// <summary>destination[i] = a·x[i] + b·y[i] (the gradient constraint's combination). destination may alias x or y.</summary>
    void LinearCombination(BufferView<float> destination, float a, BufferView<float> x, float b, BufferView<float> y);

    // ---- encoder ------------------------------------------------------------------------------
    /// <summary>output[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]. output (B,T,C), tokens (B,T), wte (V,C), wpe (maxT,C); an empty wpe (rotary families) adds nothing.</summary>
    void EncoderForward(BufferView<float> output, BufferView<int> tokens, BufferView<float> wte, BufferView<float> wpe, int B, int T, int C);

    /// <summary>dwte[tokens[b,t],:] += doutput[b,t,:]; dwpe[t,:] += doutput[b,t,:] (skipped when dwpe is empty).</summary>
    void EncoderBackward(BufferView<float> dwte, BufferView<float> dwpe, BufferView<float> doutput, BufferView<int> tokens, int B, int T, int C);

    /// <summary>Decode step: output[b,:] = wte[tokens[b],:] + wpe[positions[b],:] (no wpe term when wpe is empty). output (B,C).</summary>
    void EncoderDecodeForward(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<float> wte, BufferView<float> wpe, int B, int C);

    // ---- layernorm ------------------------------------------------------------------------------
    /// <summary>
    /// output[n,:] = (input[n,:] − mean[n])·rstd[n]·weight + bias, with biased variance and eps = 1e-5.
    /// mean and rstd (N) are saved for the backward pass. input and output are (N,C).
    /// </summary>
    void LayerNormForward(BufferView<float> output, BufferView<float> mean, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C);

    /// <summary>Accumulates dinput (N,C), dweight (C) and dbias (C).</summary>
    void LayerNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> mean, BufferView<float> rstd, int N, int C);

    // ---- matmul ---------------------------------------------------------------------------------
    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC, optional).</summary>
    void MatmulForward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, BufferView<float> bias, int N, int C, int OC);

    /// <summary>
    /// dinput (N,C) += doutput·weight; dweight (OC,C) += doutputᵀ·input; dbias (OC) += Σ_n doutput[n,:].
    /// Each is skipped when its view is empty: dinput for first-layer inputs that need none, dweight for
    /// the LM head's input gradient over selected rows (its weight gradient runs over all rows apart).
    /// </summary>
    void MatmulBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> dbias, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC);

    // ---- frozen bf16 weights: widened exactly to fp32 as they are loaded ---------------------------
    //      (LoRA on a frozen base kept in bfloat16: ushort bit patterns, the top 16 bits of a float32.
    //      Each op computes exactly what its fp32 twin computes with the widened weights.)
    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ + bias (OC fp32, optional); weight holds bfloat16 bit patterns.</summary>
    void MatmulForwardBf16(BufferView<float> output, BufferView<float> input, BufferView<ushort> weight, BufferView<float> bias, int N, int C, int OC);

    /// <summary>dinput (N,C) += doutput (N,OC) · weight (OC,C). A frozen weight has no gradient, so there is no dweight/dbias.</summary>
    void MatmulBackwardInputBf16(BufferView<float> dinput, BufferView<float> doutput, BufferView<ushort> weight, int N, int C, int OC);

    /// <summary>As <see cref="EncoderForward"/> with bf16 wte (V,C) and wpe (maxT,C; empty for rotary families).</summary>
    void EncoderForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int T, int C);

    /// <summary>As <see cref="EncoderDecodeForward"/> with bf16 wte and wpe (wpe empty for rotary families).</summary>
    void EncoderDecodeForwardBf16(BufferView<float> output, BufferView<int> tokens, BufferView<int> positions, BufferView<ushort> wte, BufferView<ushort> wpe, int B, int C);

    // ---- column blocks: LoRA on one module (q, k, v, gate, up) of a fused matmul ------------------
    /// <summary>output[n, column + j] += scale·source[n, j] for n &lt; N, j &lt; width; output rows are outputWidth wide, source rows width wide.</summary>
    void AddColumns(BufferView<float> output, int outputWidth, int column, BufferView<float> source, int width, int N, float scale);

    /// <summary>destination[n, j] = scale·source[n, column + j] (overwrites); source rows are sourceWidth wide.</summary>
    void TakeColumns(BufferView<float> destination, BufferView<float> source, int sourceWidth, int column, int width, int N, float scale);

    // ---- row gather / scatter (the LM head over selected positions) -------------------------------
    /// <summary>destination (R,width) row r = source row rows[r]. rows: R strictly ascending indices.</summary>
    void GatherRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width);

    /// <summary>destination row rows[r] = source (R,width) row r; the other destination rows are left as they are.</summary>
    void ScatterRows(BufferView<float> destination, BufferView<float> source, BufferView<int> rows, int R, int width);

    // ---- attention: grouped-query (the Llama family); GPT-2 is the case NKV = NH, hs = C/NH, whose
    //      (C, NH) signatures live in AttentionOpsExtensions ------------------------------------------
    /// <summary>
    /// Causal self-attention with NH query heads over NKV key/value heads (NH a multiple of NKV) of size hs.
    /// qkv (B,T,(NH+2·NKV)·hs) holds [q (NH·hs) | k (NKV·hs) | v (NKV·hs)] per position; query head h reads
    /// key/value head h / (NH/NKV), as Hugging Face's repeat_kv lays the groups out. att (B,NH,T,T) receives
    /// the softmax probabilities (scale 1/√hs, zero above the diagonal); output (B,T,NH·hs).
    /// </summary>
    void AttentionForward(BufferView<float> output, BufferView<float> att, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs);

    /// <summary>Accumulates dqkv (B,T,(NH+2·NKV)·hs); a key/value head's gradient sums over its query heads. scratch (B,NH,T,T) is overwritten freely.</summary>
    void AttentionBackward(BufferView<float> dqkv, BufferView<float> scratch, BufferView<float> doutput, BufferView<float> qkv, BufferView<float> att, int B, int T, int NH, int NKV, int hs);

    /// <summary>Prefill: copies the k and v parts of qkv for positions t &lt; T into kvCache (B,maxT,2·NKV·hs), row (b,t) = [k | v].</summary>
    void KvCacheStore(BufferView<float> kvCache, BufferView<float> qkv, int B, int T, int NH, int NKV, int hs, int maxT);

    /// <summary>
    /// Decode step, one new token per sequence: stores its k and v (qkv is (B,(NH+2·NKV)·hs)) at cache row
    /// (b, positions[b]), then output[b,:] (B,NH·hs) = causal attention of its q over cache rows 0..positions[b].
    /// </summary>
    void AttentionDecode(BufferView<float> output, BufferView<float> kvCache, BufferView<float> qkv, BufferView<int> positions, int B, int NH, int NKV, int hs, int maxT);

    // ---- RMSNorm (Llama, Qwen) --------------------------------------------------------------------
    /// <summary>
    /// output[n,:] = (input[n,:]·rstd[n])·weight with rstd[n] = 1/√(mean(input[n,:]²) + eps), in that
    /// order, as Hugging Face's LlamaRMSNorm computes it in float32. rstd (N) is saved for backward. (N,C).
    /// </summary>
    void RmsNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> input, BufferView<float> weight, int N, int C, float eps);

    /// <summary>Accumulates dinput (N,C) and dweight (C).</summary>
    void RmsNormBackward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, BufferView<float> rstd, int N, int C);

    /// <summary>
    /// Qwen3's per-head RMSNorm of queries and keys (before the rotary): over qkv rows (N,(NH+2·NKV)·hs),
    /// every q head (weight qWeight, hs) and every k head (weight kWeight, hs) is RMS-normalised over its hs
    /// values into the same place of output; the v part is copied unchanged. rstd (N, NH+NKV), q heads first.
    /// </summary>
    void QkNormForward(BufferView<float> output, BufferView<float> rstd, BufferView<float> qkv, BufferView<float> qWeight, BufferView<float> kWeight, int N, int NH, int NKV, int hs, float eps);

    /// <summary>Accumulates dqkv (the v part receives doutput's v part as it is), dqWeight and dkWeight (hs each).</summary>
    void QkNormBackward(BufferView<float> dqkv, BufferView<float> dqWeight, BufferView<float> dkWeight, BufferView<float> doutput, BufferView<float> qkv,
        BufferView<float> qWeight, BufferView<float> kWeight, BufferView<float> rstd, int N, int NH, int NKV, int hs);

    // ---- rotary position embedding -------------------------------------------------------------------
    /// <summary>
    /// Rotates, IN PLACE, the q heads (NH) and k heads (NKV) at the start of each row of qkv (N,(NH+2·NKV)·hs)
    /// with Hugging Face's rotate-half pairing: in each head, element i and element i + hs/2 (i &lt; hs/2)
    /// turn by angle θ = (float)positions[n]·invFreq[i]: x'_i = x_i·cos θ − x_{i+hs/2}·sin θ,
    /// x'_{i+hs/2} = x_{i+hs/2}·cos θ + x_i·sin θ. invFreq (hs/2) already holds rope_theta and any scaling;
    /// positions (N) hold each row's absolute position (decode offsets included). The v part is untouched.
    /// </summary>
    void RotaryForward(BufferView<float> qkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs);

    /// <summary>The backward of a rotation is the rotation by −θ: turns the q and k parts of dqkv back IN PLACE (the one exception to accumulation: it is a change of variables, not a sum).</summary>
    void RotaryBackward(BufferView<float> dqkv, BufferView<int> positions, BufferView<float> invFreq, int N, int NH, int NKV, int hs);

    // ---- SwiGLU MLP -----------------------------------------------------------------------------------
    /// <summary>output[n,i] = silu(gateUp[n,i])·gateUp[n,I+i] with silu(g) = g/(1 + e^−g); gateUp (N,2I) = [gate | up] (the fused gate_proj/up_proj matmul), output (N,I).</summary>
    void SwiGluForward(BufferView<float> output, BufferView<float> gateUp, int N, int I);

    /// <summary>Accumulates dgateUp (N,2I).</summary>
    void SwiGluBackward(BufferView<float> dgateUp, BufferView<float> doutput, BufferView<float> gateUp, int N, int I);

    // ---- activations ------------------------------------------------------------------------------
    /// <summary>output = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), elementwise over n values.</summary>
    void GeluForward(BufferView<float> output, BufferView<float> input, int n);

    /// <summary>dinput += gelu'(input)·doutput.</summary>
    void GeluBackward(BufferView<float> dinput, BufferView<float> input, BufferView<float> doutput, int n);

    /// <summary>output = a + b, elementwise over n values (the residual connection).</summary>
    void Add(BufferView<float> output, BufferView<float> a, BufferView<float> b, int n);

    // ---- token log-likelihood (the fused loss kernel) -----------------------------------------------
    /// <summary>
    /// For each row n of logits (N,V): logprobs[n] = log softmax(logits[n,:])[targets[n]].
    /// A negative target marks an ignored row: logprobs[n] = 0.
    /// When gradCoefficients (N) is given, logits[n,:] is OVERWRITTEN in place by the gradient of
    /// −Σ_n c[n]·logprobs[n], i.e. c[n]·(softmax(logits[n,:]) − onehot(targets[n])) (0 for ignored rows),
    /// so no second N×V buffer exists. One kernel serves the masked SFT cross-entropy (c = mask/count)
    /// and the GRPO surrogate (c from advantage, ratio, clip and KL).
    /// </summary>
    void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> logits, BufferView<int> targets, BufferView<float> gradCoefficients, int N, int V);

    /// <summary>
    /// The same at a sampling temperature τ &gt; 0, with the policy's entropy: with z = logits[n,:]/τ,
    /// logprobs[n] = log softmax(z)[targets[n]]; when entropies (N) is given, entropies[n] = −Σ p·log p of
    /// p = softmax(z) (0 for ignored rows), found in the same pass as the normaliser. With gradCoefficients
    /// the logits are overwritten by the gradient with respect to the RAW logits of −Σ c[n]·logprobs[n],
    /// (c[n]/τ)·(softmax(z) − onehot), the chain rule through the 1/τ scaling. τ = 1 gives the plain op's
    /// results bit for bit.
    /// </summary>
    void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> entropies, BufferView<float> logits, BufferView<int> targets,
        BufferView<float> gradCoefficients, float temperature, int N, int V);

    // ---- sampling ---------------------------------------------------------------------------------
    /// <summary>
    /// Draws one token per row of logits (B,V) with the given uniforms (B, each in [0,1)), as Hugging Face's
    /// <c>generate</c> samples with its temperature, top-k and top-p warpers in that order
    /// (min_tokens_to_keep = 1). temperature ≤ 0 means greedy argmax of the logits (lowest index on ties).
    /// Otherwise, with s = logits/temperature rounded to float (−0 counts as +0, so equal values tie):
    /// <list type="number">
    /// <item>top-k (0 &lt; topK &lt; V) keeps the tokens whose s is ≥ the topK-th largest s: every token tied
    /// with that one survives too, so more than topK may (as Hugging Face removes only s &lt; the k-th).</item>
    /// <item>q = softmax(s) over the survivors only: top-p measures mass on the renormalised remainder.</item>
    /// <item>top-p (topP &lt; 1) keeps a survivor when the q-mass of the survivors with a strictly larger s is
    /// below topP: taking tokens by decreasing s, the smallest set whose mass reaches topP, including the
    /// token that crosses it, and every token tied with that token (Hugging Face keeps whichever tied
    /// tokens its sort happens to put first; we keep them all). The largest s always survives, so
    /// topP ≤ 0 keeps exactly the tokens tied at the maximum.</item>
    /// <item>The token is the first index (in vocabulary order) where the running sum of the kept q exceeds
    /// u·(kept mass); if rounding leaves none, the last kept index of nonzero weight. A token of
    /// probability zero (filtered out, or its weight e^{s−max} underflowing in float) is never drawn.</item>
    /// </list>
    /// topK ≤ 0 or ≥ V and topP ≥ 1 switch a filter off. The logits are left untouched.
    /// </summary>
    void Sample(BufferView<int> tokens, BufferView<float> logits, BufferView<float> uniforms, float temperature, int topK, float topP, int B, int V);

    // ---- optimizer and reductions -----------------------------------------------------------------
    /// <summary>
    /// AdamW over a flat range: g = gradScale·grad; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
    /// param −= lr·( (m/(1−β1^step)) / (√(v/(1−β2^step)) + eps) + weightDecay·param ). step starts at 1.
    /// </summary>
    void AdamW(BufferView<float> param, BufferView<float> grad, BufferView<float> m, BufferView<float> v, float learningRate, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale);

    /// <summary>Σ x[i]² over the whole view (waits for the result).</summary>
    float SumOfSquares(BufferView<float> x);

    /// <summary>Σ a[i]·b[i] over the whole views, which must have equal length (waits for the result).</summary>
    float Dot(BufferView<float> a, BufferView<float> b);
}
