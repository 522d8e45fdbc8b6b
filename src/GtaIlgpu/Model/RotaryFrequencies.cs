namespace GtaIlgpu.Model;

/// <summary>
/// The rotary embedding's inverse frequencies (hs/2 values), computed in float32 in the order transformers'
/// modeling_rope_utils computes them, so the angles the kernels form (position·invFreq[i]) match:
/// invFreq[i] = 1 / θ^(2i/hs) ("default"), then Llama 3's "llama3" scaling when the config has one.
/// </summary>
public static class RotaryFrequencies
{
    public static float[] Compute(ModelConfig config)
    {
        int hs = config.HeadSize;
        var inv = new float[hs / 2];
        float theta = (float)config.RopeTheta;
        for (int i = 0; i < inv.Length; i++)
        {
            // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all float32.
            float exponent = (2 * i) / (float)hs;
            inv[i] = 1f / MathF.Pow(theta, exponent);
        }
        if (config.RopeScaling is { } s) ApplyLlama3(inv, s);
        return inv;
    }

    /// <summary>
    /// _compute_llama3_parameters: wavelengths longer than original/low_freq_factor are divided by factor,
    /// shorter than original/high_freq_factor kept, and the band between blended with
    /// smooth = (original/wavelength − low)/(high − low).
    /// </summary>
    private static void ApplyLlama3(float[] inv, RopeScaling s)
    {
        float factor = (float)s.Factor, low = (float)s.LowFreqFactor, high = (float)s.HighFreqFactor, old = s.OriginalMaxPositions;
        float lowWavelength = old / low, highWavelength = old / high;
        for (int i = 0; i < inv.Length; i++)
        {
            float wavelength = 2f * MathF.PI / inv[i];
            float scaled = wavelength > lowWavelength ? inv[i] / factor : inv[i];
            bool medium = !(wavelength < highWavelength) && !(wavelength > lowWavelength);
            if (medium)
            {
                float smooth = (old / wavelength - low) / (high - low);
                scaled = (1 - smooth) * scaled / factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
    }
}
