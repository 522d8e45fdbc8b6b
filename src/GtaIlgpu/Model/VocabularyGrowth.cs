using GtaIlgpu.Backends;

namespace GtaIlgpu.Model;

/// <summary>
/// A model with more token rows: the token embedding (and with it the tied LM head, or the separate one) grows by new rows
/// at the end; every existing row and every other tensor is copied unchanged. A new row starts at the
/// mean of the existing rows, so under the tied head a new token's logit starts near the average
/// logit: it neither dominates sampling nor is unreachable before training has seen it (random rows
/// would do either, depending on their norm).
/// </summary>
public static class VocabularyGrowth
{
    /// <summary>A new model with <paramref name="newRows"/> more token rows (0: a plain copy); the input model is left as it was.</summary>
    public static Transformer Grow(Transformer model, int newRows)
    {
        if (newRows < 0) throw new ArgumentOutOfRangeException(nameof(newRows), $"a vocabulary cannot shrink, asked for {newRows} rows");
        var oldLayout = model.Layout;
        var grown = new Transformer(model.Backend, model.Config with { VocabSize = model.Config.VocabSize + newRows });
        try
        {
            // Tensor by tensor, so a 3–4B model needs no whole-model host array.
            int V = model.Config.VocabSize, C = model.Config.Channels;
            foreach (var tensor in oldLayout.Tensors)
            {
                var target = grown.Layout[tensor.Name];
                var values = Common.HostArrays.Allocate<float>(target.Length, $"tensor '{tensor.Name}'");
                model.DownloadBaseTensor(tensor, values.AsSpan(0, (int)tensor.Length));
                // Every tensor with a row per token: the embedding, and an untied head. Its new rows start at the mean row.
                if (target.Role is TensorRole.TokenEmbedding or TensorRole.LmHead)
                {
                    var mean = new double[C];
                    for (int row = 0; row < V; row++)
                        for (int c = 0; c < C; c++) mean[c] += values[(long)row * C + c];
                    for (int row = V; row < V + newRows; row++)
                        for (int c = 0; c < C; c++) values[(long)row * C + c] = (float)(mean[c] / V);
                }
                grown.UploadBaseTensor(target, values);
            }
            return grown;
        }
        catch
        {
            grown.Dispose();
            throw;
        }
    }
}
