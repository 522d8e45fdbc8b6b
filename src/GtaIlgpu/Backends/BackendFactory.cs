using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Backends.Ilgpu;

namespace GtaIlgpu.Backends;

/// <summary>Turns the --device choice into a backend: auto takes a CUDA GPU when ILGPU finds one, else the CPU backend.</summary>
public static class BackendFactory
{
    public static readonly string[] Choices = ["auto", "cpu", "cuda", "opencl", "ilgpu-cpu"];

    public static IBackend Create(string device)
    {
        switch (device.Trim().ToLowerInvariant())
        {
            case "auto":
                return IlgpuBackend.CudaAvailable() ? IlgpuBackend.Create(IlgpuDeviceKind.Cuda) : new CpuBackend();
            case "cpu":
                return new CpuBackend();
            case "cuda":
                if (!IlgpuBackend.CudaAvailable()) throw new InvalidOperationException("--device cuda: ILGPU finds no CUDA device on this machine (try --device auto or cpu)");
                return IlgpuBackend.Create(IlgpuDeviceKind.Cuda);
            case "opencl":
                return IlgpuBackend.Create(IlgpuDeviceKind.OpenCL);
            case "ilgpu-cpu":
                return IlgpuBackend.Create(IlgpuDeviceKind.Cpu);
            default:
                throw new ArgumentException($"unknown device '{device}': choose one of {string.Join(", ", Choices)}");
        }
    }
}
