using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Berth.Networking.Dns;

/// <summary>
/// Sends a query the zone does not answer to upstream servers, in order, over the protocol the client used,
/// from sockets in the daemon's own network namespace (so a host resolver on 127.0.0.53 works). Each upstream
/// gets a fresh socket (a random source port) and the query a random id, put back before the reply is returned.
/// Like Docker: SERVFAIL/REFUSED and non-authoritative NXDOMAIN move on to the next server; a timeout or
/// connection error too; when none answers well the last reply is returned, and null when there was none.
/// The query array is the caller's to give away: its id is rewritten in place for each upstream.
/// </summary>
internal sealed class DnsForwarder(TimeSpan timeout, TimeProvider time)
{
    public async ValueTask<byte[]?> ForwardAsync(byte[] query, bool tcp, IReadOnlyList<IPEndPoint> upstreams, CancellationToken ct)
    {
        var clientId = BinaryPrimitives.ReadUInt16BigEndian(query);
        byte[]? last = null;
        foreach (var upstream in upstreams)
        {
            var id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
            BinaryPrimitives.WriteUInt16BigEndian(query, id);
            byte[]? reply;
            using var timer = new CancellationTokenSource(timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
            try
            {
                reply = tcp ? await TcpAsync(upstream, query, id, linked.Token) : await UdpAsync(upstream, query, id, linked.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                continue;
            }
            catch (SocketException)
            {
                continue;
            }
            if (reply is null)
            {
                continue;
            }
            BinaryPrimitives.WriteUInt16BigEndian(reply, clientId);
            last = reply;
            var rcode = DnsWire.Rcode(reply);
            if (rcode == DnsRcode.NoError || (rcode == DnsRcode.NxDomain && DnsWire.IsAuthoritative(reply)))
            {
                return reply;
            }
        }
        return last;
    }

    private static async ValueTask<byte[]?> UdpAsync(IPEndPoint upstream, byte[] query, ushort id, CancellationToken ct)
    {
        using var socket = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(upstream, ct);
        await socket.SendAsync(query, SocketFlags.None, ct);
        // Room for the largest datagram, borrowed for the exchange: only the reply itself is copied out.
        var buffer = ArrayPool<byte>.Shared.Rent(DnsWire.MaxMessageSize);
        try
        {
            while (true)
            {
                // The socket is connected, so only the upstream's datagrams arrive; stray ids (late replies) are skipped.
                var n = await socket.ReceiveAsync(buffer.AsMemory(0, DnsWire.MaxMessageSize), SocketFlags.None, ct);
                if (IsReplyTo(buffer.AsSpan(0, n), id))
                {
                    return buffer.AsSpan(0, n).ToArray();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async ValueTask<byte[]?> TcpAsync(IPEndPoint upstream, byte[] query, ushort id, CancellationToken ct)
    {
        using var socket = new Socket(upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(upstream, ct);
        await DnsTcp.WriteMessageAsync(socket, query, ct);
        var reply = await DnsTcp.ReadMessageAsync(socket, ct);
        return reply is not null && IsReplyTo(reply, id) ? reply : null;
    }

    private static bool IsReplyTo(ReadOnlySpan<byte> reply, ushort id) =>
        reply.Length >= DnsWire.HeaderSize && DnsWire.ReadU16(reply, 0) == id && (DnsWire.ReadU16(reply, 2) & DnsWire.QR) != 0;
}

/// <summary>DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message after a two-byte length.</summary>
internal static class DnsTcp
{
    /// <summary>One message, or null at a clean end of stream before its length.</summary>
    public static async ValueTask<byte[]?> ReadMessageAsync(Socket socket, CancellationToken ct)
    {
        var prefix = new byte[2];
        if (!await ReadExactlyAsync(socket, prefix, ct))
        {
            return null;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        var message = new byte[length];
        return await ReadExactlyAsync(socket, message, ct) ? message : throw new SocketException((int)SocketError.ConnectionReset);
    }

    public static async ValueTask WriteMessageAsync(Socket socket, byte[] message, CancellationToken ct)
    {
        var framed = new byte[message.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed, 2);
        var sent = 0;
        while (sent < framed.Length)
        {
            sent += await socket.SendAsync(framed.AsMemory(sent), SocketFlags.None, ct);
        }
    }

    private static async ValueTask<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer[read..], SocketFlags.None, ct);
            if (n == 0)
            {
                return read == 0 ? false : throw new SocketException((int)SocketError.ConnectionReset);
            }
            read += n;
        }
        return true;
    }
}
