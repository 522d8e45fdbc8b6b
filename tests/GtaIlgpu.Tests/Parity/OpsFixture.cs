using GtaIlgpu.Backends;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// One implementation of IOps under test, created once per test collection (an ILGPU context and its
/// kernels take seconds to build). Each implementation has its own file: the fixture, its collection
/// and one thin class per op-family suite (ILGPU's own pattern: suites written once against an
/// abstract context, one small test project per accelerator).
/// </summary>
public abstract class OpsFixture : IDisposable
{
    private readonly IBackend? _backend;

    /// <param name="name">What the test output calls this implementation.</param>
    /// <param name="backend">Null where the device is absent; the discoverer then reports every test as skipped.</param>
    /// <param name="isEmulator">ILGPU's CPU emulator: a barrier costs milliseconds, so GPU-sized cases shrink.</param>
    protected OpsFixture(string name, IBackend? backend, bool isEmulator)
    {
        Name = name;
        _backend = backend;
        IsEmulator = isEmulator;
    }

    public string Name { get; }

    public bool IsEmulator { get; }

    public IBackend Backend => _backend ?? throw new InvalidOperationException($"{Name}: no device on this machine (its tests should have been reported as skipped)");

    /// <summary>A size for a GPU-sized case: full on CpuOps and on a GPU, the emulator's affordable size on the emulators.</summary>
    public int Size(int full, int onEmulator) => IsEmulator ? onEmulator : full;

    public override string ToString() => Name;

    public void Dispose() => _backend?.Dispose();
}
