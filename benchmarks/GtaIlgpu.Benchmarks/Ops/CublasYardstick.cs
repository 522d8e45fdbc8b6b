using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Ilgpu;
using ILGPU.Runtime.Cuda;

namespace GtaIlgpu.Benchmarks.Ops;

/// <summary>
/// cuBLAS SGEMM through ILGPU.Algorithms, computing exactly what our matmul computes, as the yardstick
/// for the matmul rows on CUDA. cuBLAS is column-major: a row-major (R×S) matrix is its transpose, so
/// output (N,OC) = input (N,C)·weight (OC,C)ᵀ becomes outputᵀ (OC×N) = weightᵀᵀ·inputᵀ with m=OC, n=N, k=C.
/// Only created where libcublas loads (<see cref="TryCreate"/>).
/// </summary>
public sealed class CublasYardstick : IDisposable
{
    private readonly CuBlas _blas;

    private CublasYardstick(CuBlas blas) => _blas = blas;

    /// <summary>A cuBLAS handle on the backend's CUDA accelerator, or null (with the reason) where there is none.</summary>
    public static CublasYardstick? TryCreate(IBackend backend, out string? reason)
    {
        reason = null;
        if (backend is not IlgpuBackend { Accelerator: CudaAccelerator cuda })
        {
            reason = "not a CUDA backend";
            return null;
        }
        try
        {
            var blas = new CuBlas(cuda) { PointerMode = CuBlasPointerMode.Host };
            return new CublasYardstick(blas);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or CuBlasException or TypeInitializationException or NotSupportedException)
        {
            reason = $"libcublas did not load: {e.GetType().Name}: {e.Message}";
            return null;
        }
    }

    /// <summary>output (N,OC) = input (N,C) · weight (OC,C)ᵀ (no bias: the bias add is negligible work).</summary>
    public void Forward(BufferView<float> output, BufferView<float> input, BufferView<float> weight, int N, int C, int OC) =>
        _blas.Gemm(CuBlasOperation.Transpose, CuBlasOperation.NonTranspose, OC, N, C,
            1f, weight.Device(), C, input.Device(), C, 0f, output.Device(), OC);

    /// <summary>dinput (N,C) += doutput·weight and dweight (OC,C) += doutputᵀ·input: two GEMMs with β = 1.</summary>
    public void Backward(BufferView<float> dinput, BufferView<float> dweight, BufferView<float> doutput, BufferView<float> input, BufferView<float> weight, int N, int C, int OC)
    {
        // dinputᵀ (C×N) = weightᵀ (C×OC, i.e. the row-major weight as is) · doutputᵀ (OC×N).
        _blas.Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, C, N, OC,
            1f, weight.Device(), C, doutput.Device(), OC, 1f, dinput.Device(), C);
        // dweightᵀ (C×OC) = inputᵀ (C×N) · doutput (N×OC, i.e. doutputᵀ transposed).
        _blas.Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.Transpose, C, OC, N,
            1f, input.Device(), C, doutput.Device(), OC, 1f, dweight.Device(), C);
    }

    public void Dispose() => _blas.Dispose();
}
