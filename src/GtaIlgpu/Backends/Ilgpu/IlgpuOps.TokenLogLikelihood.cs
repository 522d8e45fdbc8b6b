using GtaIlgpu.Kernels;

namespace GtaIlgpu.Backends.Ilgpu;

internal sealed partial class IlgpuOps
{
    private TokenLogLikelihoodLauncher? _tokenLogLikelihood;
    private TokenLogLikelihoodLauncher TokenLogLikelihoodKernel => _tokenLogLikelihood ??= new TokenLogLikelihoodLauncher(_accelerator);

    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> logits, BufferView<int> targets, BufferView<float> gradCoefficients, int N, int V) =>
        TokenLogLikelihoodKernel.Run(logprobs.Device(), logits.Device(), targets.Device(), gradCoefficients.Device(), N, V);

    public void TokenLogLikelihood(BufferView<float> logprobs, BufferView<float> entropies, BufferView<float> logits, BufferView<int> targets,
        BufferView<float> gradCoefficients, float temperature, int N, int V) =>
        TokenLogLikelihoodKernel.Run(logprobs.Device(), entropies.Device(), logits.Device(), targets.Device(), gradCoefficients.Device(), temperature, N, V);
}
