using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// IlgpuOps on the GPU that GTA_TEST_DEVICE names (cuda, or opencl), at full size. Without it every
/// test of these classes is reported as skipped (see <see cref="ParityFactAttribute"/>); with it and no
/// such device, the fixture fails and so does every test.
/// </summary>
public sealed class GpuFixture() : OpsFixture("IlgpuOps on the GPU", Create(), isEmulator: false)
{
    private static IlgpuDeviceKind? Requested =>
        Environment.GetEnvironmentVariable("GTA_TEST_DEVICE")?.Trim().ToLowerInvariant() switch
        {
            "cuda" => IlgpuDeviceKind.Cuda,
            "opencl" => IlgpuDeviceKind.OpenCL,
            _ => null,
        };

    /// <summary>Why these tests are skipped here, or null when a GPU was asked for.</summary>
    public static string? AbsentReason => Requested is null ? "GPU parity: set GTA_TEST_DEVICE=cuda on a GPU machine" : null;

    private static IBackend? Create() => Requested is { } kind ? IlgpuBackend.Create(kind) : null;
}

[CollectionDefinition(Name)]
public sealed class GpuCollection : ICollectionFixture<GpuFixture>
{
    public const string Name = "parity on the GPU";
}

[Collection(GpuCollection.Name)] public sealed class GpuElementwiseParity(GpuFixture implementation) : ElementwiseParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuEncoderParity(GpuFixture implementation) : EncoderParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuLayerNormParity(GpuFixture implementation) : LayerNormParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuRmsNormParity(GpuFixture implementation) : RmsNormParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuRotaryParity(GpuFixture implementation) : RotaryParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuSwiGluParity(GpuFixture implementation) : SwiGluParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuMatmulParity(GpuFixture implementation) : MatmulParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuBf16Parity(GpuFixture implementation) : Bf16Parity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuColumnsParity(GpuFixture implementation) : ColumnsParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuRowGatherParity(GpuFixture implementation) : RowGatherParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuAttentionParity(GpuFixture implementation) : AttentionParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuTokenLogLikelihoodParity(GpuFixture implementation) : TokenLogLikelihoodParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuSamplingParity(GpuFixture implementation) : SamplingParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuAdamWParity(GpuFixture implementation) : AdamWParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuReductionParity(GpuFixture implementation) : ReductionParity(implementation);
[Collection(GpuCollection.Name)] public sealed class GpuIlgpuOpsGuards(GpuFixture implementation) : IlgpuOpsGuards(implementation);
