using Xunit.Abstractions;
using Xunit.Sdk;

namespace GtaIlgpu.Tests.Parity;

/// <summary>
/// A fact of a parity suite. It runs once per implementation class; where that implementation's device
/// is absent (the GPU classes without GTA_TEST_DEVICE=cuda) it is reported as skipped, never passed.
/// xunit 2 reads a skip from the attribute alone, which is shared by every implementation, hence a discoverer.
/// </summary>
[XunitTestCaseDiscoverer("GtaIlgpu.Tests.Parity.ParityFactDiscoverer", "GtaIlgpu.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ParityFactAttribute : FactAttribute
{
    /// <summary>See <see cref="AbsentDevice.CostlyOn32Lanes"/>.</summary>
    public bool CostlyOn32Lanes { get; set; }
}

/// <summary>A theory of a parity suite; skipped as one case where the implementation's device is absent.</summary>
[XunitTestCaseDiscoverer("GtaIlgpu.Tests.Parity.ParityTheoryDiscoverer", "GtaIlgpu.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class ParityTheoryAttribute : TheoryAttribute
{
    /// <summary>See <see cref="AbsentDevice.CostlyOn32Lanes"/>.</summary>
    public bool CostlyOn32Lanes { get; set; }
}

public sealed class ParityFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        AbsentDevice.Reason(testMethod, factAttribute) is { } reason
            ? [new AbsentDeviceTestCase(DiagnosticMessageSink, discoveryOptions, testMethod, reason)]
            : base.Discover(discoveryOptions, testMethod, factAttribute);
}

public sealed class ParityTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo theoryAttribute) =>
        AbsentDevice.Reason(testMethod, theoryAttribute) is { } reason
            ? [new AbsentDeviceTestCase(DiagnosticMessageSink, discoveryOptions, testMethod, reason)]
            : base.Discover(discoveryOptions, testMethod, theoryAttribute);
}

internal static class AbsentDevice
{
    /// <summary>
    /// A test marked CostlyOn32Lanes is skipped on the 32-lane emulator: its row groups have 128 threads
    /// there and the sampling bisections pay for 64 barriers per row, minutes for a case of 16 rows. Such
    /// a test checks the kernel's logic, which the 4-lane emulator, CpuOps and the GPU run; the suite's
    /// GPU-sized case runs the same warp code at 32 lanes.
    /// </summary>
    public const string CostlyOn32Lanes =
        "costly on the 32-lane emulator (128-thread row groups pay for every barrier): runs on the 4-lane emulator, CpuOps and the GPU; the suite's GPU-sized case runs this warp code at 32 lanes";

    /// <summary>Why this test cannot run on its class's implementation here, or null when it can.</summary>
    public static string? Reason(ITestMethod testMethod, IAttributeInfo attribute)
    {
        var type = testMethod.TestClass.Class.ToRuntimeType();
        bool Takes<TFixture>() => type.GetConstructors().Any(c => c.GetParameters().Any(p => p.ParameterType == typeof(TFixture)));
        if (Takes<GpuFixture>()) return GpuFixture.AbsentReason;
        if (Takes<Emulator32Fixture>() && attribute.GetNamedArgument<bool>(nameof(ParityFactAttribute.CostlyOn32Lanes))) return CostlyOn32Lanes;
        return null;
    }
}

/// <summary>A test case reported as skipped with the reason its device is absent.</summary>
public sealed class AbsentDeviceTestCase : XunitTestCase
{
    private string _reason = "";

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public AbsentDeviceTestCase() { }

    public AbsentDeviceTestCase(IMessageSink sink, ITestFrameworkDiscoveryOptions options, ITestMethod testMethod, string reason)
        : base(sink, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), testMethod)
    {
        _reason = reason;
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute) => _reason;

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("AbsentReason", _reason);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _reason = data.GetValue<string>("AbsentReason");
        base.Deserialize(data);
    }
}
