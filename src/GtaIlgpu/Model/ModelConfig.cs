namespace GtaIlgpu.Model;

/// <summary>Shape of a GPT-2-style model (names follow GPT-2's config.json).</summary>
public sealed record ModelConfig(int Layers, int Channels, int Heads, int VocabSize, int MaxSequence)
{
    public int HeadSize => Channels / Heads;

    public void Validate()
    {
        if (Layers <= 0) throw new ArgumentException($"model layers must be positive, got {Layers}");
        if (Channels <= 0) throw new ArgumentException($"model channels must be positive, got {Channels}");
        if (Heads <= 0 || Channels % Heads != 0)
            throw new ArgumentException($"model channels ({Channels}) must be a positive multiple of heads ({Heads})");
        if (VocabSize <= 1) throw new ArgumentException($"vocabulary size must be at least 2, got {VocabSize}");
        if (MaxSequence <= 0) throw new ArgumentException($"maximum sequence must be positive, got {MaxSequence}");
    }

    /// <summary>Parameters that a forward token touches in matmuls, for FLOP estimates (6·N per trained token).</summary>
    public long MatmulParameters => (long)Layers * 12 * Channels * Channels + (long)VocabSize * Channels;

    public static ModelConfig Tiny(int vocab, int maxSequence = 128) => new(4, 256, 4, vocab, maxSequence);
}
