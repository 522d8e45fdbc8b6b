using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private SamplingLauncher? _sampling;
    private SamplingLauncher Sampling => _sampling ??= new SamplingLauncher(_accelerator);

    public void Sample(BufferView<int> tokens, BufferView<float> logits, BufferView<float> uniforms, float temperature, int topK, float topP, int B, int V) =>
        Sampling.Sample(tokens.Device(), logits.Device(), uniforms.Device(), temperature, topK, topP, B, V);
}
