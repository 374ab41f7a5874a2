using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// A connection taken over after an HTTP upgrade (docker attach / exec start): reads return what the daemon sends
/// (bytes that arrived with the response headers first), writes go to the container's stdin, and
/// <see cref="CloseWrite"/> half-closes our side so the container sees EOF on stdin.
/// </summary>
public sealed class HijackedConnection : Stream
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private byte[] _pending;
    private int _pendingOffset;

    private HijackedConnection(Socket socket, byte[] pending)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _pending = pending;
    }

    public int StatusCode { get; private init; }

    internal static async Task<HijackedConnection> OpenAsync(Socket socket, string method, string path, string? jsonBody, CancellationToken cancellationToken)
    {
        var body = jsonBody is null ? [] : Encoding.UTF8.GetBytes(jsonBody);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"{method} {path} HTTP/1.1\r\n")
            .Append("Host: docker\r\nUser-Agent: Berth-Client/1.0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n");
        if (jsonBody is not null)
        {
            head.Append("Content-Type: application/json\r\n");
        }
        head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n\r\n");
        var request = Encoding.ASCII.GetBytes(head.ToString());
        await socket.SendAsync(request.Concat(body).ToArray(), SocketFlags.None, cancellationToken).ConfigureAwait(false);

        // Read up to the end of the response headers; whatever follows belongs to the stream.
        var buffer = new byte[8192];
        var filled = 0;
        int end;
        while ((end = IndexOfHeaderEnd(buffer.AsSpan(0, filled))) < 0)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new BerthException(ErrorCode.Unavailable, $"the daemon closed the connection before answering {method} {path}");
            }
            filled += n;
        }
        var headers = Encoding.ASCII.GetString(buffer, 0, end);
        var statusLine = headers.Split("\r\n")[0].Split(' ', 3);
        var status = statusLine.Length > 1 && int.TryParse(statusLine[1], CultureInfo.InvariantCulture, out var s) ? s : 0;
        var rest = buffer.AsSpan(end + 4, filled - end - 4).ToArray();
        if (status is not (101 or 200))
        {
            // An error answer: read its body (Content-Length or until close) for the daemon's message.
            var bodyBytes = new List<byte>(rest);
            var length = ContentLength(headers);
            var chunk = new byte[4096];
            while (length is null || bodyBytes.Count < length)
            {
                int n;
                try
                {
                    n = await socket.ReceiveAsync(chunk, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException)
                {
                    break;
                }
                if (n == 0)
                {
                    break;
                }
                bodyBytes.AddRange(chunk.AsSpan(0, n));
            }
            var text = Encoding.UTF8.GetString([.. bodyBytes]);
            if (headers.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase))
            {
                text = Dechunk(text);
            }
            socket.Dispose();
            throw new DockerApiException((System.Net.HttpStatusCode)status, DockerApiClient.ErrorMessage(text, (System.Net.HttpStatusCode)status));
        }
        return new HijackedConnection(socket, rest) { StatusCode = status };
    }

    private static int IndexOfHeaderEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    private static int? ContentLength(string headers)
    {
        foreach (var line in headers.Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase) &&
                int.TryParse(line["Content-Length:".Length..].Trim(), CultureInfo.InvariantCulture, out var n))
            {
                return n;
            }
        }
        return null;
    }

    private static string Dechunk(string text)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var nl = text.IndexOf("\r\n", i, StringComparison.Ordinal);
            if (nl < 0 || !int.TryParse(text.AsSpan(i, nl - i), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size) || size == 0)
            {
                break;
            }
            sb.Append(text.AsSpan(nl + 2, Math.Min(size, text.Length - nl - 2)));
            i = nl + 2 + size + 2;
        }
        return sb.ToString();
    }

    /// <summary>Half-closes our direction: the container's stdin sees EOF, output keeps flowing.</summary>
    public void CloseWrite()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => _stream.Flush();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (TakePending(buffer) is var n and > 0)
        {
            return n;
        }
        return _stream.Read(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (TakePending(buffer.Span) is var n and > 0)
        {
            return n;
        }
        try
        {
            return await _stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e.InnerException is SocketException)
        {
            return 0; // the daemon reset the connection: end of stream
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int TakePending(Span<byte> buffer)
    {
        var available = _pending.Length - _pendingOffset;
        if (available <= 0 || buffer.Length == 0)
        {
            return 0;
        }
        var n = Math.Min(available, buffer.Length);
        _pending.AsSpan(_pendingOffset, n).CopyTo(buffer);
        _pendingOffset += n;
        if (_pendingOffset == _pending.Length)
        {
            _pending = [];
            _pendingOffset = 0;
        }
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => _stream.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _stream.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _stream.WriteAsync(buffer, offset, count, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stream.Dispose();
        }
        base.Dispose(disposing);
    }
}
