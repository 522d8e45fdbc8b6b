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
            var source = model.DownloadBaseWeights();
            var target = new float[grown.Layout.TotalLength];
            foreach (var tensor in oldLayout.Tensors)
                Array.Copy(source, tensor.Offset, target, grown.Layout[tensor.Name].Offset, tensor.Length);

            int V = model.Config.VocabSize, C = model.Config.Channels;
            // Every tensor with a row per token: the embedding, and an untied head.
            foreach (var tensor in grown.Layout.Tensors.Where(t => t.Role is TensorRole.TokenEmbedding or TensorRole.LmHead))
            {
                long start = tensor.Offset;
                var mean = new double[C];
                for (int row = 0; row < V; row++)
                    for (int c = 0; c < C; c++) mean[c] += target[start + (long)row * C + c];
                for (int row = V; row < V + newRows; row++)
                    for (int c = 0; c < C; c++) target[start + (long)row * C + c] = (float)(mean[c] / V);
            }
            grown.UploadBaseWeights(target);
            return grown;
        }
        catch
        {
            grown.Dispose();
            throw;
        }
    }
}
