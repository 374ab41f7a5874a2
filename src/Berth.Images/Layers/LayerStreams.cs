using System.IO.Compression;
using System.Security.Cryptography;
using Berth.Core;
using Berth.Oci.Image;

namespace Berth.Images.Layers;

/// <summary>Decompression by magic number and digesting wrappers for layer streams.</summary>
public static class LayerStreams
{
    private static readonly byte[] GzipMagic = [0x1f, 0x8b];
    private static readonly byte[] ZstdMagic = [0x28, 0xb5, 0x2f, 0xfd];

    /// <summary>Detects gzip/zstd from the first bytes (not from the media type, which is sometimes wrong) and decompresses.</summary>
    public static Stream OpenDecompressed(Stream layer, out LayerCompression compression)
    {
        var head = new byte[4];
        var n = 0;
        while (n < head.Length)
        {
            var read = layer.Read(head, n, head.Length - n);
            if (read == 0)
            {
                break;
            }
            n += read;
        }
        var prefixed = new PrefixedStream(head.AsMemory(0, n), layer);
        if (n >= 2 && head.AsSpan(0, 2).SequenceEqual(GzipMagic))
        {
            compression = LayerCompression.Gzip;
            return new GZipStream(prefixed, CompressionMode.Decompress);
        }
        if (n >= 4 && head.AsSpan(0, 4).SequenceEqual(ZstdMagic))
        {
            compression = LayerCompression.Zstd;
            return new ZstdSharp.DecompressionStream(prefixed);
        }
        compression = LayerCompression.None;
        return prefixed;
    }

    public static Stream Compress(Stream output, LayerCompression compression, bool leaveOpen = true) => compression switch
    {
        LayerCompression.Gzip => new GZipStream(output, CompressionLevel.Fastest, leaveOpen),
        LayerCompression.Zstd => new ZstdSharp.CompressionStream(output, 3, leaveOpen: leaveOpen),
        _ => new NonClosingStream(output, leaveOpen),
    };

    /// <summary>The chain ID of a stack of layers (OCI image spec: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))).</summary>
    public static Digest ChainId(IEnumerable<Digest> diffIds)
    {
        Digest? chain = null;
        foreach (var diffId in diffIds)
        {
            chain = chain is null ? diffId : Digest.Compute(System.Text.Encoding.UTF8.GetBytes(chain + " " + diffId));
        }
        return chain ?? throw BerthException.InvalidArgument("a chain ID needs at least one layer");
    }

    /// <summary>The chain IDs of every prefix of the stack: element i identifies layers 0..i.</summary>
    public static IReadOnlyList<Digest> ChainIds(IReadOnlyList<Digest> diffIds)
    {
        var result = new List<Digest>(diffIds.Count);
        for (var i = 0; i < diffIds.Count; i++)
        {
            result.Add(i == 0 ? diffIds[0] : Digest.Compute(System.Text.Encoding.UTF8.GetBytes(result[i - 1] + " " + diffIds[i])));
        }
        return result;
    }
}

/// <summary>Hashes and counts everything read through it.</summary>
public sealed class DigestingReadStream(Stream inner, string algorithm = Digest.Sha256) : ForwardReadStream
{
    private readonly IncrementalHash _hash = Digest.CreateHash(algorithm);

    public long BytesRead { get; private set; }

    public Digest GetDigest() => Core.Digest.FromHash(algorithm, _hash.GetCurrentHash());

    /// <summary>Reads the rest of the stream (e.g. tar padding after the end marker) so the digest covers it.</summary>
    public void Drain()
    {
        var buffer = new byte[1 << 16];
        while (Read(buffer, 0, buffer.Length) > 0)
        {
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        _hash.AppendData(buffer[..n]);
        BytesRead += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        _hash.AppendData(buffer.Span[..n]);
        BytesRead += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    protected override long ReadPosition => BytesRead;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Hashes and counts everything written through it.</summary>
public sealed class DigestingWriteStream(Stream inner, bool leaveOpen = true) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public long BytesWritten { get; private set; }

    public Digest GetDigest() => Core.Digest.FromHash(Core.Digest.Sha256, _hash.GetCurrentHash());

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _hash.AppendData(buffer);
        BytesWritten += buffer.Length;
        inner.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _hash.AppendData(buffer.Span);
        BytesWritten += buffer.Length;
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!leaveOpen)
            {
                inner.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}

internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream inner) : ForwardReadStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (!_prefix.IsEmpty)
        {
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }
        return inner.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_prefix.IsEmpty)
        {
            return ValueTask.FromResult(Read(buffer.Span));
        }
        return inner.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

internal sealed class NonClosingStream(Stream inner, bool leaveOpen) : Stream
{
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !leaveOpen)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
