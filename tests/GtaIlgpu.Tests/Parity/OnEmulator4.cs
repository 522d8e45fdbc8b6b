using GtaIlgpu.Backends.Ilgpu;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// IlgpuOps on ILGPU's CPU emulator as the ilgpu-cpu device builds it: 4-lane warps, groups up to 256
/// threads, 2 multiprocessors. Small warps keep barriers cheap, but a warp reduction that stops after
/// two shuffle rounds passes here; <see cref="Emulator32Fixture"/> catches that.
/// </summary>
public sealed class Emulator4Fixture() : OpsFixture("IlgpuOps on the CPU emulator, 4-lane warps", IlgpuBackend.Create(IlgpuDeviceKind.Cpu), isEmulator: true);

[CollectionDefinition(Name)]
public sealed class Emulator4Collection : ICollectionFixture<Emulator4Fixture>
{
    public const string Name = "parity on the emulator, 4-lane warps";
}

[Collection(Emulator4Collection.Name)] public sealed class Emulator4ElementwiseParity(Emulator4Fixture implementation) : ElementwiseParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4EncoderParity(Emulator4Fixture implementation) : EncoderParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4LayerNormParity(Emulator4Fixture implementation) : LayerNormParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4RmsNormParity(Emulator4Fixture implementation) : RmsNormParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4RotaryParity(Emulator4Fixture implementation) : RotaryParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4SwiGluParity(Emulator4Fixture implementation) : SwiGluParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4MatmulParity(Emulator4Fixture implementation) : MatmulParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4Bf16Parity(Emulator4Fixture implementation) : Bf16Parity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4ColumnsParity(Emulator4Fixture implementation) : ColumnsParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4RowGatherParity(Emulator4Fixture implementation) : RowGatherParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4AttentionParity(Emulator4Fixture implementation) : AttentionParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4TokenLogLikelihoodParity(Emulator4Fixture implementation) : TokenLogLikelihoodParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4SamplingParity(Emulator4Fixture implementation) : SamplingParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4AdamWParity(Emulator4Fixture implementation) : AdamWParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4ReductionParity(Emulator4Fixture implementation) : ReductionParity(implementation);
[Collection(Emulator4Collection.Name)] public sealed class Emulator4IlgpuOpsGuards(Emulator4Fixture implementation) : IlgpuOpsGuards(implementation);
