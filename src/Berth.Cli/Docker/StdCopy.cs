using System.Buffers.Binary;
using System.Text;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// Docker's multiplexed stream (attach, logs and exec of a container without a tty): frames of an 8-byte header
/// — stream type (0 stdin, 1 stdout, 2 stderr, 3 systemerr), three zero bytes, a big-endian uint32 size — then the
/// payload. <see cref="DemultiplexAsync"/> writes each frame to its destination, like the docker CLI's stdcopy.
/// </summary>
public static class StdCopy
{
    public const byte Stdin = 0;
    public const byte Stdout = 1;
    public const byte Stderr = 2;
    public const byte SystemErr = 3;

    /// <summary>Copies until the end of <paramref name="source"/>; returns the bytes written to each destination.</summary>
    public static async Task<(long Stdout, long Stderr)> DemultiplexAsync(Stream source, Stream stdout, Stream stderr, CancellationToken cancellationToken)
    {
        var header = new byte[8];
        var payload = new byte[32 * 1024];
        long outBytes = 0, errBytes = 0;
        while (true)
        {
            var got = await ReadFullyAsync(source, header, cancellationToken).ConfigureAwait(false);
            if (got == 0)
            {
                return (outBytes, errBytes);
            }
            if (got < header.Length)
            {
                throw new BerthException(ErrorCode.Internal, $"stream ended inside a frame header ({got} of 8 bytes)");
            }
            var kind = header[0];
            if (kind > SystemErr || header[1] != 0 || header[2] != 0 || header[3] != 0)
            {
                throw new BerthException(ErrorCode.Internal, $"unrecognized stream frame header {Convert.ToHexString(header)}: is the container using a tty?");
            }
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            if (size > payload.Length)
            {
                payload = new byte[size];
            }
            var n = await ReadFullyAsync(source, payload.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
            if (n < size)
            {
                throw new BerthException(ErrorCode.Internal, $"stream ended inside a frame ({n} of {size} bytes)");
            }
            switch (kind)
            {
                case SystemErr:
                    throw new BerthException(ErrorCode.Internal, "error from daemon in stream: " + Encoding.UTF8.GetString(payload, 0, size));
                case Stderr:
                    await stderr.WriteAsync(payload.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
                    await stderr.FlushAsync(cancellationToken).ConfigureAwait(false);
                    errBytes += size;
                    break;
                default:
                    await stdout.WriteAsync(payload.AsMemory(0, size), cancellationToken).ConfigureAwait(false);
                    await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
                    outBytes += size;
                    break;
            }
        }
    }

    /// <summary>One frame as the daemon writes it (for servers and tests).</summary>
    public static byte[] Frame(byte kind, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[8 + payload.Length];
        frame[0] = kind;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)payload.Length);
        payload.CopyTo(frame.AsSpan(8));
        return frame;
    }

    private static async Task<int> ReadFullyAsync(Stream source, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await source.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }
}
