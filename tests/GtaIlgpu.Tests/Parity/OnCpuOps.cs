using GtaIlgpu.Backends.Cpu;

namespace GtaIlgpu.Tests.Parity;

/// <summary>CpuOps: the managed, multi-threaded SIMD backend.</summary>
public sealed class CpuOpsFixture() : OpsFixture("CpuOps", new CpuBackend(), isEmulator: false);

[CollectionDefinition(Name)]
public sealed class CpuOpsCollection : ICollectionFixture<CpuOpsFixture>
{
    public const string Name = "parity on CpuOps";
}

[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsElementwiseParity(CpuOpsFixture implementation) : ElementwiseParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsEncoderParity(CpuOpsFixture implementation) : EncoderParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsLayerNormParity(CpuOpsFixture implementation) : LayerNormParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsRmsNormParity(CpuOpsFixture implementation) : RmsNormParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsRotaryParity(CpuOpsFixture implementation) : RotaryParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsSwiGluParity(CpuOpsFixture implementation) : SwiGluParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsMatmulParity(CpuOpsFixture implementation) : MatmulParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsBf16Parity(CpuOpsFixture implementation) : Bf16Parity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsColumnsParity(CpuOpsFixture implementation) : ColumnsParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsRowGatherParity(CpuOpsFixture implementation) : RowGatherParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsAttentionParity(CpuOpsFixture implementation) : AttentionParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsTokenLogLikelihoodParity(CpuOpsFixture implementation) : TokenLogLikelihoodParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsSamplingParity(CpuOpsFixture implementation) : SamplingParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsAdamWParity(CpuOpsFixture implementation) : AdamWParity(implementation);
[Collection(CpuOpsCollection.Name)] public sealed class CpuOpsReductionParity(CpuOpsFixture implementation) : ReductionParity(implementation);
