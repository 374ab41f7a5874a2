using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Berth.Cli.Docker;

/// <summary>
/// A small HTTP/1.1 client for one request per unix-socket connection. The CLI makes a handful of requests per
/// run, and HttpClient's handler pipeline costs about a quarter of a second of JIT at every start; this writes the
/// request itself (Content-Length or chunked body), parses the head and hands the body back as a stream
/// (Content-Length, chunked or until close) inside an ordinary <see cref="HttpResponseMessage"/>.
/// </summary>
internal static class UnixHttp
{
    public static async Task<HttpResponseMessage> SendAsync(string socketPath, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var head = new StringBuilder()
                .Append(CultureInfo.InvariantCulture, $"{request.Method.Method} {request.RequestUri!.OriginalString} HTTP/1.1\r\n")
                .Append("Host: docker\r\nUser-Agent: Berth-Client/1.0\r\nConnection: close\r\n");
            foreach (var (name, values) in request.Headers)
            {
                head.Append(CultureInfo.InvariantCulture, $"{name}: {string.Join(",", values)}\r\n");
            }
            long? length = null;
            if (request.Content is { } content)
            {
                foreach (var (name, values) in content.Headers)
                {
                    if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        head.Append(CultureInfo.InvariantCulture, $"{name}: {string.Join(",", values)}\r\n");
                    }
                }
                length = content is StringContent or ByteArrayContent ? (await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false)).Length : null;
                head.Append(length is { } n ? $"Content-Length: {n}\r\n" : "Transfer-Encoding: chunked\r\n");
            }
            else if (request.Method != HttpMethod.Get && request.Method != HttpMethod.Head)
            {
                head.Append("Content-Length: 0\r\n");
            }
            head.Append("\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), cancellationToken).ConfigureAwait(false);
            if (request.Content is { } body)
            {
                if (length is not null)
                {
                    await body.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var chunked = new ChunkedWriteStream(stream);
                    await body.CopyToAsync(chunked, cancellationToken).ConfigureAwait(false);
                    await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
                }
            }
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            return await ReadResponseAsync(stream, request.Method == HttpMethod.Head, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<HttpResponseMessage> ReadResponseAsync(NetworkStream stream, bool isHead, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var filled = 0;
        int end;
        while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            var n = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new HttpRequestException("the daemon closed the connection before answering");
            }
            filled += n;
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, end).Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !int.TryParse(status[1], CultureInfo.InvariantCulture, out var code))
        {
            throw new HttpRequestException("malformed status line from the daemon: " + lines[0]);
        }
        var headers = new List<(string Name, string Value)>();
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers.Add((line[..colon].Trim(), line[(colon + 1)..].Trim()));
            }
        }
        var early = buffer.AsMemory(end + 4, filled - end - 4).ToArray();
        Stream raw = new PrefixedStream(early, stream);
        Stream body;
        var contentLength = headers.FirstOrDefault(h => h.Name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)).Value;
        if (isHead || code is 204 or 304)
        {
            body = new LengthStream(raw, 0);
        }
        else if (headers.Any(h => h.Name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Value.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            body = new ChunkedReadStream(raw);
        }
        else if (long.TryParse(contentLength, CultureInfo.InvariantCulture, out var length))
        {
            body = new LengthStream(raw, length);
        }
        else
        {
            body = raw;
        }
        var response = new HttpResponseMessage((HttpStatusCode)code) { Content = new StreamContent(body) };
        foreach (var (name, value) in headers)
        {
            if (!response.Headers.TryAddWithoutValidation(name, value))
            {
                response.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }
        return response;
    }

    /// <summary>Bytes already read with the head, then the socket.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream inner) : ReadStream
    {
        private int _offset;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                var n = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsMemory(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }
            return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class LengthStream(Stream inner, long length) : ReadStream
    {
        private long _left = length;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_left <= 0 || buffer.Length == 0)
            {
                return 0;
            }
            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
            _left -= n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class ChunkedReadStream(Stream inner) : ReadStream
    {
        private long _left;
        private bool _done;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_done || buffer.Length == 0)
            {
                return 0;
            }
            if (_left == 0)
            {
                var line = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                if (line.Length == 0)
                {
                    line = await ReadLineAsync(cancellationToken).ConfigureAwait(false); // the CRLF after the previous chunk
                }
                var semi = line.IndexOf(';', StringComparison.Ordinal);
                if (!long.TryParse(semi >= 0 ? line[..semi] : line, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _left))
                {
                    throw new IOException("malformed chunk size from the daemon: " + line);
                }
                if (_left == 0)
                {
                    _done = true;
                    return 0;
                }
            }
            var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _left)], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException("the daemon closed the connection inside a chunk");
            }
            _left -= n;
            return n;
        }

        private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            var sb = new StringBuilder();
            var one = new byte[1];
            while (true)
            {
                if (await inner.ReadAsync(one, cancellationToken).ConfigureAwait(false) == 0)
                {
                    if (sb.Length == 0)
                    {
                        _done = true;
                        return "0";
                    }
                    throw new IOException("the daemon closed the connection inside a chunk header");
                }
                if (one[0] == '\n')
                {
                    return sb.ToString().TrimEnd('\r');
                }
                sb.Append((char)one[0]);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }

    private sealed class ChunkedWriteStream(Stream inner) : Stream
    {
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

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.Length == 0)
            {
                return;
            }
            await inner.WriteAsync(Encoding.ASCII.GetBytes(buffer.Length.ToString("x", CultureInfo.InvariantCulture) + "\r\n"), cancellationToken).ConfigureAwait(false);
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await inner.WriteAsync("\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A read-only stream whose synchronous reads go through the async one.</summary>
    private abstract class ReadStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
