using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Berth.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Engine.Api;

/// <summary>
/// The Docker Engine API on a unix socket. Kestrel serves ordinary requests; attach and exec-start (the hijacked,
/// upgraded connections) are recognised in a connection middleware before Kestrel's HTTP layer sees them and are
/// served on the raw transport, because the docker CLI half-closes those connections right after the 101 and
/// Kestrel's HTTP layer would treat that FIN as an abort.
/// </summary>
public sealed class DockerApiServer : IAsyncDisposable
{
    /// <summary>The newest API version served; the docker CLI negotiates down to it from /_ping.</summary>
    public const string ApiVersion = "1.47";

    public const string MinApiVersion = "1.24";

    private readonly WebApplication _app;

    private readonly (DateTime, DateTime) _socketIdentity;

    private DockerApiServer(WebApplication app, string socketPath)
    {
        _app = app;
        SocketPath = socketPath;
        _socketIdentity = SocketIdentity(socketPath);
    }

    private static (DateTime, DateTime) SocketIdentity(string path)
    {
        var info = new FileInfo(path);
        return (info.CreationTimeUtc, info.LastWriteTimeUtc);
    }

    public string SocketPath { get; }

    public static async Task<DockerApiServer> StartAsync(ContainerEngine engine, string socketPath, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(socketPath))!);
        if (File.Exists(socketPath))
        {
            // A socket left by a killed daemon: refuse only if something still answers on it.
            using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            try
            {
                await probe.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                throw BerthException.AlreadyExists($"another daemon is listening on {socketPath}; stop it or pass -H unix:///other.sock");
            }
            catch (System.Net.Sockets.SocketException)
            {
                File.Delete(socketPath);
            }
        }
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "berth-daemon" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        var handler = new DockerApiHandler(engine);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.KeepAliveTimeout = TimeSpan.FromMinutes(10);
            k.ListenUnixSocket(socketPath, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                listen.Use(next => connection => HijackMiddlewareAsync(connection, next, handler));
            });
        });
        var app = builder.Build();
        handler.Logger = app.Services.GetService<ILoggerFactory>()?.CreateLogger("Berth.Engine.Api") ?? NullLogger.Instance;
        app.Run(handler.HandleAsync);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        return new DockerApiServer(app, socketPath);
    }

    /// <summary>Peeks the first request head; hijackable requests are served raw, everything else goes to Kestrel unread.</summary>
    private static async Task HijackMiddlewareAsync(ConnectionContext connection, ConnectionDelegate next, DockerApiHandler handler)
    {
        var input = connection.Transport.Input;
        RawRequest? request = null;
        while (true)
        {
            var result = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
            var buffer = result.Buffer;
            var end = FindHeadEnd(buffer);
            if (end is null && !result.IsCompleted && buffer.Length < 64 * 1024)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }
            if (end is { } headEnd)
            {
                request = RawRequest.Parse(Encoding.Latin1.GetString(buffer.Slice(0, headEnd)));
            }
            if (request is not null && handler.IsHijack(request))
            {
                input.AdvanceTo(buffer.GetPosition(end!.Value));
                break;
            }
            input.AdvanceTo(buffer.Start);
            await next(connection).ConfigureAwait(false);
            return;
        }
        var body = Array.Empty<byte>();
        if (request.ContentLength is > 0 and < 1 << 20)
        {
            body = new byte[request.ContentLength.Value];
            var got = 0;
            while (got < body.Length)
            {
                var r = await input.ReadAsync().ConfigureAwait(false);
                var take = (int)Math.Min(r.Buffer.Length, body.Length - got);
                r.Buffer.Slice(0, take).CopyTo(body.AsSpan(got));
                got += take;
                input.AdvanceTo(r.Buffer.GetPosition(take));
                if (r.IsCompleted && got < body.Length)
                {
                    break;
                }
            }
        }
        var hijacked = new HijackedConnection(connection.Transport.Input, connection.Transport.Output, request.Headers.ContainsKey("upgrade"));
        try
        {
            await handler.HandleHijackAsync(request, body, hijacked).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ConnectionResetException)
        {
        }
        finally
        {
            await connection.Transport.Output.CompleteAsync().ConfigureAwait(false);
            await connection.Transport.Input.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The end of the request head: an empty line. Lines may end in a bare LF — Docker.DotNet 3.x writes its headers
    /// that way ("User-Agent: Docker.DotNet\nHost: ...\n\r\n"), and Kestrel accepts it.
    /// </summary>
    internal static long? FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        while (reader.TryAdvanceTo((byte)'\n', advancePastDelimiter: true))
        {
            if (reader.IsNext((byte)'\n', advancePast: true) || reader.IsNext("\r\n"u8, advancePast: true))
            {
                return reader.Consumed;
            }
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        try
        {
            // Only our own socket: a daemon started meanwhile on the same path keeps its socket.
            if (File.Exists(SocketPath) && SocketIdentity(SocketPath) == _socketIdentity)
            {
                File.Delete(SocketPath);
            }
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>The request line and headers of a request served on the raw connection.</summary>
public sealed class RawRequest
{
    public string Method { get; private init; } = "";

    public string Path { get; private init; } = "";

    public string Query { get; private init; } = "";

    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public long? ContentLength => Headers.TryGetValue("content-length", out var v) && long.TryParse(v, out var n) ? n : null;

    public static RawRequest? Parse(string head)
    {
        var lines = head.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var first = lines[0].Split(' ');
        if (first.Length < 3)
        {
            return null;
        }
        var target = first[1];
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var request = new RawRequest
        {
            Method = first[0],
            Path = Uri.UnescapeDataString(q < 0 ? target : target[..q]),
            Query = q < 0 ? "" : target[q..],
        };
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                request.Headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }
        return request;
    }
}

/// <summary>A hijacked connection: the client's bytes after the request, and the raw output.</summary>
public sealed class HijackedConnection(PipeReader input, PipeWriter output, bool upgrade)
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    public bool Upgrade { get; } = upgrade;

    public async Task WriteHeadAsync(string contentType)
    {
        var head = Upgrade
            ? $"HTTP/1.1 101 UPGRADED\r\nContent-Type: {contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            : $"HTTP/1.1 200 OK\r\nContent-Type: {contentType}\r\nConnection: close\r\n\r\n";
        await Output.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
    }

    public async Task WriteErrorAsync(int status, string message)
    {
        var body = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Message = message }, DockerJsonContext.Default.ErrorResponse);
        var head = $"HTTP/1.1 {status} {ReasonPhrase(status)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
        await Output.WriteAsync(Encoding.ASCII.GetBytes(head)).ConfigureAwait(false);
        await Output.WriteAsync(body).ConfigureAwait(false);
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var r = await Output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        if (r.IsCompleted || r.IsCanceled)
        {
            throw new IOException("the client went away");
        }
    }

    private static string ReasonPhrase(int status) => status switch
    {
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        501 => "Not Implemented",
        _ => "Internal Server Error",
    };
}
