using System.Net.Sockets;
using System.Text.Json;
using Berth.Core;

namespace Berth.Shim.Protocol;

/// <summary>The client end of one connection to a shim: a request, its response, then (attach, exec) frames both ways.</summary>
internal sealed class ShimConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _header = new byte[Wire.HeaderSize];
    private readonly string _what;

    private ShimConnection(Socket socket, string what)
    {
        _socket = socket;
        _what = what;
    }

    public static async Task<ShimConnection> OpenAsync(string stateDir, CancellationToken ct)
    {
        var path = Path.Combine(stateDir, Wire.SocketName);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
            return new ShimConnection(socket, "shim at " + stateDir);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new BerthException(ErrorCode.Unavailable,
                $"the shim at {stateDir} is not running ({path}: {e.SocketErrorCode}); the container's state is in {Path.Combine(stateDir, Wire.ExitName)} if it exited", e);
        }
    }

    /// <summary>Sends <paramref name="request"/> and returns the response, throwing the shim's error as a <see cref="BerthException"/>.</summary>
    public async Task<ShimResponse> CallAsync(ShimRequest request, CancellationToken ct)
    {
        await SendAsync(Wire.Request, JsonSerializer.SerializeToUtf8Bytes(request, ShimJsonContext.Default.ShimRequest), ct).ConfigureAwait(false);
        var frame = await ReadFrameAsync(ct).ConfigureAwait(false)
            ?? throw new BerthException(ErrorCode.Unavailable, $"the {_what} closed the connection before answering \"{request.Op}\" (did the shim exit?)");
        if (frame.Kind != Wire.Response)
        {
            throw new BerthException(ErrorCode.Internal, $"the {_what} answered \"{request.Op}\" with a frame of kind {frame.Kind}");
        }
        var response = JsonSerializer.Deserialize(frame.Payload, ShimJsonContext.Default.ShimResponse)
            ?? throw new BerthException(ErrorCode.Internal, $"the {_what} sent an empty response to \"{request.Op}\"");
        if (!response.Ok)
        {
            var code = Enum.TryParse<ErrorCode>(response.Code, out var c) ? c : ErrorCode.Internal;
            throw new BerthException(code, response.Error ?? $"the {_what} refused \"{request.Op}\"");
        }
        return response;
    }

    public async ValueTask SendAsync(byte kind, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            Wire.WriteHeader(_header, kind, payload.Length);
            await _socket.SendAsync(_header, SocketFlags.None, ct).ConfigureAwait(false);
            var sent = 0;
            while (sent < payload.Length)
            {
                sent += await _socket.SendAsync(payload[sent..], SocketFlags.None, ct).ConfigureAwait(false);
            }
        }
        catch (SocketException e)
        {
            throw new BerthException(ErrorCode.Unavailable, $"the {_what} closed the connection: {e.SocketErrorCode}", e);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The next frame, or null when the shim closed the connection.</summary>
    public async ValueTask<(byte Kind, byte[] Payload)?> ReadFrameAsync(CancellationToken ct)
    {
        var header = new byte[Wire.HeaderSize];
        if (!await ReadExactlyAsync(header, ct).ConfigureAwait(false))
        {
            return null;
        }
        var length = Wire.ReadLength(header);
        if (length is < 0 or > Wire.MaxPayload)
        {
            throw new BerthException(ErrorCode.Internal, $"the {_what} sent a frame of {length} bytes");
        }
        var payload = new byte[length];
        return await ReadExactlyAsync(payload, ct).ConfigureAwait(false)
            ? (header[0], payload)
            : throw new BerthException(ErrorCode.Unavailable, $"the {_what} closed the connection in the middle of a frame");
    }

    private async ValueTask<bool> ReadExactlyAsync(Memory<byte> buffer, CancellationToken ct)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buffer[read..], SocketFlags.None, ct).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
            {
                n = 0;
            }
            if (n == 0)
            {
                return read == 0 ? false : throw new BerthException(ErrorCode.Unavailable, $"the {_what} closed the connection in the middle of a frame");
            }
            read += n;
        }
        return true;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _writeLock.Dispose();
        return ValueTask.CompletedTask;
    }
}
