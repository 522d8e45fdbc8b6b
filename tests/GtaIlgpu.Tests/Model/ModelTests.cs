using GtaIlgpu.Backends;
using GtaIlgpu.Common;
using GtaIlgpu.Model;
using GtaIlgpu.Tests.Reference;
using GtaIlgpu.Training;

namespace GtaIlgpu.Tests.Model;

/// <summary>Helpers for the whole-model tests (which run per family in <see cref="LlamaFamilyModelTests"/>) and GPT-2's layout.</summary>
public class ModelTests
{

    internal static int[] RandomTokens(int count, int vocab, ulong seed)
    {
        var rng = new Rng(seed);
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = rng.NextInt(vocab);
        return tokens;
    }

    /// <summary>Mean next-token loss of the model on (inputs, targets); optionally leaves gradients in model.Gradients.</summary>
    internal static float Loss(Transformer model, Activations acts, TokenLoss loss, DeviceBuffer<int> inputs, bool backward)
    {
        model.Forward(acts, inputs.View);
        float value = loss.Compute(acts, withGradient: backward);
        if (backward)
        {
            model.ZeroGradients();
            model.Backward(acts, inputs.View);
        }
        return value;
    }

    [Fact]
    public void Layout_is_aligned_and_puts_decayed_tensors_first()
    {
        var layout = new ParameterLayout(new ModelConfig(3, 24, 4, 50, 16));
        long previousEnd = 0;
        foreach (var t in layout.Tensors)
        {
            Assert.Equal(0, t.Offset % ParameterLayout.AlignmentFloats);
            Assert.True(t.Offset >= previousEnd, $"{t.Name} overlaps the tensor before it");
            previousEnd = t.Offset + t.Length;
            Assert.Equal(t.Decay, t.Offset < layout.DecayLength);
        }
        Assert.Equal(24L * 50 + 24 * 16 + 3 * (12L * 24 * 24 + 13 * 24) + 2 * 24, layout.ParameterCount);
    }
}
