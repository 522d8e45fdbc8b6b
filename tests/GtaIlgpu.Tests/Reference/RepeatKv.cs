namespace GtaIlgpu.Tests.Reference;

/// <summary>
/// Hugging Face's repeat_kv written out on host arrays: grouped-query attention equals multi-head attention
/// in which key/value head j is repeated for query heads j·rep … j·rep + rep − 1 (rep = NH/NKV).
/// </summary>
public static class RepeatKv
{
    /// <summary>qkv (N,(NH+2·NKV)·hs) → (N,3·NH·hs) with every key/value head copied rep times in place.</summary>
    public static float[] Expand(float[] qkv, int N, int NH, int NKV, int hs)
    {
        int rep = NH / NKV, W = (NH + 2 * NKV) * hs, C = NH * hs;
        var result = new float[N * 3 * C];
        for (int n = 0; n < N; n++)
        {
            Array.Copy(qkv, n * W, result, n * 3 * C, C);
            for (int h = 0; h < NH; h++)
                for (int part = 0; part < 2; part++) // k, then v
                    Array.Copy(qkv, n * W + C + part * NKV * hs + h / rep * hs, result, n * 3 * C + (1 + part) * C + h * hs, hs);
        }
        return result;
    }

    /// <summary>The gradient of <see cref="Expand"/>: (N,3·NH·hs) → (N,(NH+2·NKV)·hs), repeated heads summed (in double).</summary>
    public static float[] Reduce(float[] dRepeated, int N, int NH, int NKV, int hs)
    {
        int rep = NH / NKV, W = (NH + 2 * NKV) * hs, C = NH * hs;
        var result = new float[N * W];
        for (int n = 0; n < N; n++)
        {
            Array.Copy(dRepeated, n * 3 * C, result, n * W, C);
            for (int part = 0; part < 2; part++)
                for (int j = 0; j < NKV; j++)
                    for (int i = 0; i < hs; i++)
                    {
                        double sum = 0;
                        for (int h = j * rep; h < (j + 1) * rep; h++) sum += dRepeated[n * 3 * C + (1 + part) * C + h * hs + i];
                        result[n * W + C + part * NKV * hs + j * hs + i] = (float)sum;
                    }
        }
        return result;
    }
}
