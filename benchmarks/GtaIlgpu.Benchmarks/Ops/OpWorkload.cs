using GtaIlgpu.Backends;
using GtaIlgpu.Backends.Cpu;
using GtaIlgpu.Backends.Ilgpu;

namespace GtaIlgpu.Benchmarks.Ops;

/// <summary>
/// The buffers one <see cref="OpCase"/> needs on a backend, filled with plausible values, and the call
/// that runs it once. Backward ops accumulate, so repeated calls grow the gradients: harmless for
/// timing (values stay finite over a benchmark's few thousand calls at these magnitudes).
/// </summary>
public sealed class OpWorkload : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly IBackend _backend;
    private readonly Random _rng = new(1234);

    public OpWorkload(IBackend backend, OpCase @case, CublasYardstick? cublas)
    {
        _backend = backend;
        Run = Prepare(backend.Ops, @case, cublas);
    }

    /// <summary>Runs the op once (queues it, on a GPU: the caller synchronizes).</summary>
    public Action Run { get; }

    private BufferView<float> Random(long length, float scale = 1f)
    {
        var host = new float[length];
        for (long i = 0; i < length; i++) host[i] = (float)(_rng.NextDouble() * 2 - 1) * scale;
        var buffer = _backend.Allocate<float>(length);
        _owned.Add(buffer);
        _backend.Upload(buffer.View, host);
        return buffer.View;
    }

    private BufferView<float> Positive(long length, float low, float high)
    {
        var host = new float[length];
        for (long i = 0; i < length; i++) host[i] = low + (float)_rng.NextDouble() * (high - low);
        var buffer = _backend.Allocate<float>(length);
        _owned.Add(buffer);
        _backend.Upload(buffer.View, host);
        return buffer.View;
    }

    private BufferView<int> Ints(long length, Func<long, int> value)
    {
        var host = new int[length];
        for (long i = 0; i < length; i++) host[i] = value(i);
        var buffer = _backend.Allocate<int>(length);
        _owned.Add(buffer);
        _backend.Upload(buffer.View, host);
        return buffer.View;
    }

    private Action Prepare(IOps ops, OpCase k, CublasYardstick? cublas)
    {
        var s = k.Shape;
        int B = s.B, T = s.T, C = s.C, NH = s.NH, V = s.V, N = s.N;
        switch (k.Op)
        {
            case OpKind.Copy:
            {
                var source = Random(k.Length);
                var destination = Random(k.Length);
                if (_backend is HostBackendBase)
                {
                    var (src, srcOffset) = source.Raw();
                    var (dst, dstOffset) = destination.Raw();
                    var body = new SpanCopyBody { Source = src, Destination = dst, SourceOffset = srcOffset, DestinationOffset = dstOffset, Length = (int)k.Length };
                    return () => CpuParallel.For(body.Chunks, body);
                }
                return () => ops.Copy(destination, source);
            }
            case OpKind.EncoderForward:
            {
                var output = Random((long)N * C); var wte = Random((long)V * C); var wpe = Random((long)T * C);
                var tokens = Ints(N, _ => _rng.Next(V));
                return () => ops.EncoderForward(output, tokens, wte, wpe, B, T, C);
            }
            case OpKind.EncoderBackward:
            {
                var dwte = Random((long)V * C, 0.01f); var dwpe = Random((long)T * C, 0.01f); var dout = Random((long)N * C, 1e-4f);
                var tokens = Ints(N, _ => _rng.Next(V));
                return () => ops.EncoderBackward(dwte, dwpe, dout, tokens, B, T, C);
            }
            case OpKind.LayerNormForward:
            {
                var output = Random((long)N * C); var mean = Random(N); var rstd = Random(N);
                var input = Random((long)N * C); var weight = Random(C); var bias = Random(C);
                return () => ops.LayerNormForward(output, mean, rstd, input, weight, bias, N, C);
            }
            case OpKind.LayerNormBackward:
            {
                var dinput = Random((long)N * C, 0.01f); var dweight = Random(C, 0.01f); var dbias = Random(C, 0.01f);
                var dout = Random((long)N * C, 1e-4f); var input = Random((long)N * C); var weight = Random(C);
                var mean = Random(N, 0.1f); var rstd = Positive(N, 0.5f, 2f);
                return () => ops.LayerNormBackward(dinput, dweight, dbias, dout, input, weight, mean, rstd, N, C);
            }
            case OpKind.MatmulForward:
            {
                var output = Random((long)k.M * k.OC); var input = Random((long)k.M * k.K); var weight = Random((long)k.OC * k.K, 0.05f); var bias = Random(k.OC);
                return () => ops.MatmulForward(output, input, weight, bias, k.M, k.K, k.OC);
            }
            case OpKind.MatmulBackward:
            {
                var dinput = Random((long)k.M * k.K, 0.01f); var dweight = Random((long)k.OC * k.K, 0.01f); var dbias = Random(k.OC, 0.01f);
                var dout = Random((long)k.M * k.OC, 1e-4f); var input = Random((long)k.M * k.K); var weight = Random((long)k.OC * k.K, 0.05f);
                return () => ops.MatmulBackward(dinput, dweight, dbias, dout, input, weight, k.M, k.K, k.OC);
            }
            case OpKind.CublasForward:
            case OpKind.CublasBackward:
            {
                if (cublas is null) throw new InvalidOperationException("cuBLAS rows need a CUDA backend with libcublas");
                var output = Random((long)k.M * k.OC); var input = Random((long)k.M * k.K); var weight = Random((long)k.OC * k.K, 0.05f);
                var dinput = Random((long)k.M * k.K, 0.01f); var dweight = Random((long)k.OC * k.K, 0.01f);
                if (k.Op == OpKind.CublasForward) return () => cublas.Forward(output, input, weight, k.M, k.K, k.OC);
                return () => cublas.Backward(dinput, dweight, output, input, weight, k.M, k.K, k.OC);
            }
            case OpKind.AttentionForward:
            {
                var output = Random((long)N * C); var att = Random((long)B * NH * T * T); var qkv = Random((long)N * 3 * C);
                return () => ops.AttentionForward(output, att, qkv, B, T, C, NH);
            }
            case OpKind.AttentionBackward:
            {
                var dqkv = Random((long)N * 3 * C, 0.01f); var scratch = Random((long)B * NH * T * T); var dout = Random((long)N * C, 1e-4f);
                var qkv = Random((long)N * 3 * C); var att = Positive((long)B * NH * T * T, 0f, 1f / T);
                return () => ops.AttentionBackward(dqkv, scratch, dout, qkv, att, B, T, C, NH);
            }
            case OpKind.KvCacheStore:
            {
                var cache = Random((long)B * T * 2 * C); var qkv = Random((long)N * 3 * C);
                return () => ops.KvCacheStore(cache, qkv, B, T, C, T);
            }
            case OpKind.AttentionDecode:
            {
                var output = Random((long)B * C); var cache = Random((long)B * T * 2 * C); var qkv = Random((long)B * 3 * C);
                var positions = Ints(B, _ => T - 1);
                return () => ops.AttentionDecode(output, cache, qkv, positions, B, C, NH, T);
            }
            case OpKind.GeluForward:
            {
                var output = Random(k.Length); var input = Random(k.Length, 3f);
                return () => ops.GeluForward(output, input, (int)k.Length);
            }
            case OpKind.GeluBackward:
            {
                var dinput = Random(k.Length, 0.01f); var input = Random(k.Length, 3f); var dout = Random(k.Length, 1e-4f);
                return () => ops.GeluBackward(dinput, input, dout, (int)k.Length);
            }
            case OpKind.Add:
            {
                var output = Random(k.Length); var a = Random(k.Length); var b = Random(k.Length);
                return () => ops.Add(output, a, b, (int)k.Length);
            }
            case OpKind.Accumulate:
            {
                var destination = Random(k.Length); var source = Random(k.Length, 1e-4f);
                return () => ops.Accumulate(destination, source);
            }
            case OpKind.TokenLogLikelihood:
            case OpKind.TokenLogLikelihoodWithGradient:
            {
                // With a gradient the logits are overwritten in place; the values stay small and finite, and
                // the kernel's work does not depend on them.
                var logprobs = Random(N); var logits = Random((long)N * V, 4f); var targets = Ints(N, _ => _rng.Next(V));
                var coefficients = k.Op == OpKind.TokenLogLikelihoodWithGradient ? Positive(N, 1f / N, 1f / N) : default;
                return () => ops.TokenLogLikelihood(logprobs, logits, targets, coefficients, N, V);
            }
            case OpKind.SampleGreedy:
            case OpKind.SampleTopKTopP:
            {
                var tokens = Ints(B, _ => 0); var logits = Random((long)B * V, 4f); var uniforms = Positive(B, 0f, 1f);
                if (k.Op == OpKind.SampleGreedy) return () => ops.Sample(tokens, logits, uniforms, 0f, 0, 1f, B, V);
                return () => ops.Sample(tokens, logits, uniforms, 1f, 50, 0.9f, B, V);
            }
            case OpKind.AdamW:
            {
                var param = Random(k.Length, 0.02f); var grad = Random(k.Length, 1e-3f); var m = Random(k.Length, 1e-4f); var v = Positive(k.Length, 0f, 1e-6f);
                return () => ops.AdamW(param, grad, m, v, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 10, 1f);
            }
            case OpKind.SumOfSquares:
            {
                var x = Random(k.Length);
                return () => ops.SumOfSquares(x);
            }
            case OpKind.Dot:
            {
                var a = Random(k.Length); var b = Random(k.Length);
                return () => ops.Dot(a, b);
            }
            case OpKind.LinearCombination:
            {
                var destination = Random(k.Length); var x = Random(k.Length); var y = Random(k.Length);
                return () => ops.LinearCombination(destination, 0.5f, x, 0.5f, y);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(k), k.Op, "no workload for this op");
        }
    }

    /// <summary>The CPU memory yardstick: a plain Span copy, split in 64 KiB chunks across the same worker threads the ops use.</summary>
    private struct SpanCopyBody : IParallelBody
    {
        private const int Chunk = 16 * 1024;
        public float[] Source, Destination;
        public int SourceOffset, DestinationOffset, Length;
        public readonly int Chunks => (Length + Chunk - 1) / Chunk;

        public readonly void Run(int index)
        {
            int start = index * Chunk, count = Math.Min(Chunk, Length - start);
            Source.AsSpan(SourceOffset + start, count).CopyTo(Destination.AsSpan(DestinationOffset + start, count));
        }
    }

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _owned.Clear();
    }
}
