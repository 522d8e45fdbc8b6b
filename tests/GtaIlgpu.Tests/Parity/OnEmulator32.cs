using GtaIlgpu.Backends.Ilgpu;
using ILGPU.Runtime.CPU;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// IlgpuOps on ILGPU's CPU emulator shaped like an NVIDIA GPU: 32-lane warps, 8 warps per
/// multiprocessor (groups up to 256 threads, so the matmul's 16×16 groups fit). The kernels' warp code
/// then runs every shuffle round that it runs on CUDA. One multiprocessor: every emulated thread is an
/// OS thread, and a second group of 128 running beside the first only makes each barrier wait longer
/// on two cores (groups running concurrently are the 4-lane emulator's part).
/// </summary>
public sealed class Emulator32Fixture() : OpsFixture("IlgpuOps on the CPU emulator, 32-lane warps",
    IlgpuBackend.CreateEmulator(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1)), isEmulator: true);

[CollectionDefinition(Name)]
public sealed class Emulator32Collection : ICollectionFixture<Emulator32Fixture>
{
    public const string Name = "parity on the emulator, 32-lane warps";
}

[Collection(Emulator32Collection.Name)] public sealed class Emulator32ElementwiseParity(Emulator32Fixture implementation) : ElementwiseParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32EncoderParity(Emulator32Fixture implementation) : EncoderParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32LayerNormParity(Emulator32Fixture implementation) : LayerNormParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32RmsNormParity(Emulator32Fixture implementation) : RmsNormParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32RotaryParity(Emulator32Fixture implementation) : RotaryParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32SwiGluParity(Emulator32Fixture implementation) : SwiGluParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32MatmulParity(Emulator32Fixture implementation) : MatmulParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32Bf16Parity(Emulator32Fixture implementation) : Bf16Parity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32ColumnsParity(Emulator32Fixture implementation) : ColumnsParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32RowGatherParity(Emulator32Fixture implementation) : RowGatherParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32AttentionParity(Emulator32Fixture implementation) : AttentionParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32TokenLogLikelihoodParity(Emulator32Fixture implementation) : TokenLogLikelihoodParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32SamplingParity(Emulator32Fixture implementation) : SamplingParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32AdamWParity(Emulator32Fixture implementation) : AdamWParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32ReductionParity(Emulator32Fixture implementation) : ReductionParity(implementation);
[Collection(Emulator32Collection.Name)] public sealed class Emulator32IlgpuOpsGuards(Emulator32Fixture implementation) : IlgpuOpsGuards(implementation);
