using System.Security.Cryptography;

namespace GtaIlgpu.Tests.Checkpoints;

/// <summary>Passes writes through until a byte budget is spent, then fails like a process killed mid-write.</summary>
internal sealed class DyingStream(Stream inner, long budget) : Stream
{
    private long _left = budget;
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int n = (int)Math.Min(_left, buffer.Length);
        inner.Write(buffer[..n]);
        _left -= n;
        if (n < buffer.Length) throw new IOException("simulated kill during the checkpoint write");
    }
    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>SHA-256 of every file under a folder, by relative path: equal before and after means nothing changed and nothing was left behind.</summary>
    public static Dictionary<string, string> Hashes(string folder) => Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
        .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));
}
