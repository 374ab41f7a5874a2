using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Berth.Core;

namespace Berth.Cli.Docker;

/// <summary>
/// A Docker Engine API client over a unix socket: HTTP/1.1 through <see cref="HttpClient"/> for plain requests,
/// a raw socket for hijacked (upgraded) attach/exec streams, and the API version negotiated from <c>/_ping</c>
/// like the docker CLI does (the lower of the daemon's version and <see cref="MaxApiVersion"/>).
/// </summary>
public sealed class DockerApiClient : IDisposable
{
    /// <summary>The newest API version this client speaks.</summary>
    public const string MaxApiVersion = "1.43";

    /// <summary>What a daemon that sends no API-Version header is assumed to speak (as the docker CLI assumes).</summary>
    public const string FallbackApiVersion = "1.24";

    private string? _version;

    public DockerApiClient(string host)
    {
        Host = host;
        SocketPath = DockerHost.SocketPath(host);
    }

    public string Host { get; }

    public string SocketPath { get; }

    /// <summary>The negotiated API version (after <see cref="NegotiateAsync"/>).</summary>
    public string ApiVersion => _version ?? MaxApiVersion;

    /// <summary>The daemon's /_ping headers: API-Version, OSType, Builder-Version ...</summary>
    public IReadOnlyDictionary<string, string> PingHeaders { get; private set; } = new Dictionary<string, string>();

    public async Task NegotiateAsync(CancellationToken cancellationToken)
    {
        if (_version is not null)
        {
            return;
        }
        using var response = await SendRawAsync(new HttpRequestMessage(HttpMethod.Get, new Uri("/_ping", UriKind.Relative)), cancellationToken).ConfigureAwait(false);
        var headers = response.Headers.ToDictionary(h => h.Key, h => string.Join(',', h.Value), StringComparer.OrdinalIgnoreCase);
        PingHeaders = headers;
        _version = headers.TryGetValue("API-Version", out var v) && !string.IsNullOrWhiteSpace(v) ? Lower(v.Trim(), MaxApiVersion) : FallbackApiVersion;
    }

    /// <summary>The lower of two API versions ("1.41" vs "1.43").</summary>
    public static string Lower(string a, string b) => Compare(a, b) <= 0 ? a : b;

    public static int Compare(string a, string b)
    {
        var pa = a.Split('.');
        var pb = b.Split('.');
        for (var i = 0; i < Math.Max(pa.Length, pb.Length); i++)
        {
            var x = i < pa.Length && int.TryParse(pa[i], out var xi) ? xi : 0;
            var y = i < pb.Length && int.TryParse(pb[i], out var yi) ? yi : 0;
            if (x != y)
            {
                return x.CompareTo(y);
            }
        }
        return 0;
    }

    public string Versioned(string pathAndQuery) => "v" + ApiVersion + pathAndQuery;

    /// <summary>Sends a request to a versioned path; a non-2xx answer becomes a <see cref="DockerApiException"/>.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string pathAndQuery, HttpContent? content = null,
        IEnumerable<KeyValuePair<string, string>>? headers = null, bool stream = false, CancellationToken cancellationToken = default)
    {
        await NegotiateAsync(cancellationToken).ConfigureAwait(false);
        var request = new HttpRequestMessage(method, new Uri("/" + Versioned(pathAndQuery), UriKind.Relative)) { Content = content };
        foreach (var (k, v) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(k, v);
        }
        var response = await SendRawAsync(request, cancellationToken).ConfigureAwait(false);
        if (!stream)
        {
            await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        }
        // 304: start of a running / stop of a stopped container; docker treats it as done.
        if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotModified)
        {
            using (response)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                throw new DockerApiException(response.StatusCode, ErrorMessage(body, response.StatusCode));
            }
        }
        return response;
    }

    public async Task<JsonNode?> GetJsonAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, pathAndQuery, cancellationToken: cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<JsonNode?> PostJsonAsync(string pathAndQuery, JsonNode? body, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, pathAndQuery, body is null ? null : JsonContent(body), cancellationToken: cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<JsonNode?> DeleteAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Delete, pathAndQuery, cancellationToken: cancellationToken).ConfigureAwait(false);
        return await ReadJsonAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public static StringContent JsonContent(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static async Task<JsonNode?> ReadJsonAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return string.IsNullOrWhiteSpace(text) ? null : JsonNode.Parse(text);
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await UnixHttp.SendAsync(SocketPath, request, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw CannotConnect(e);
        }
        catch (HttpRequestException e)
        {
            throw CannotConnect(e);
        }
        finally
        {
            request.Dispose();
        }
    }

    internal BerthException CannotConnect(Exception inner) =>
        new(ErrorCode.Unavailable, $"Cannot connect to the daemon at {Host}. Is the daemon running? (start it with 'berth daemon', or point -H/BERTH_HOST at its socket)", inner);

    /// <summary>The daemon's {"message": ...} or, failing that, the body or the status text.</summary>
    public static string ErrorMessage(string body, HttpStatusCode status)
    {
        if (!string.IsNullOrWhiteSpace(body))
        {
            try
            {
                if (JsonNode.Parse(body) is JsonObject o && o["message"]?.GetValue<string>() is { } m)
                {
                    return m;
                }
            }
            catch (System.Text.Json.JsonException)
            {
            }
            return body.Trim();
        }
        return $"{(int)status} {status}";
    }

    /// <summary>
    /// Opens an upgraded connection (attach, exec start): the HTTP request is written by hand on a fresh socket and
    /// the socket is handed over after the 101 (or 200, from daemons that do not upgrade) so both directions stay
    /// usable, including a half-close of ours.
    /// </summary>
    public async Task<HijackedConnection> HijackAsync(string method, string pathAndQuery, JsonNode? body, CancellationToken cancellationToken)
    {
        await NegotiateAsync(cancellationToken).ConfigureAwait(false);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), cancellationToken).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw CannotConnect(e);
            }
            return await HijackedConnection.OpenAsync(socket, method, "/" + Versioned(pathAndQuery), body?.ToJsonString(), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
    }

    internal static MediaTypeHeaderValue Tar { get; } = new("application/x-tar");
}

/// <summary>An error answer from the daemon: the CLI prints "Error response from daemon: message".</summary>
public sealed class DockerApiException(HttpStatusCode status, string message)
    : BerthException(Map(status), "Error response from daemon: " + message)
{
    public HttpStatusCode Status { get; } = status;

    public string DaemonMessage { get; } = message;

    private static ErrorCode Map(HttpStatusCode s) => s switch
    {
        HttpStatusCode.NotFound => ErrorCode.NotFound,
        HttpStatusCode.Conflict => ErrorCode.Conflict,
        HttpStatusCode.BadRequest => ErrorCode.InvalidArgument,
        HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized => ErrorCode.PermissionDenied,
        HttpStatusCode.NotImplemented => ErrorCode.Unsupported,
        _ => ErrorCode.Internal,
    };
}

/// <summary>Where the daemon is: -H / BERTH_HOST / the default socket.</summary>
public static class DockerHost
{
    public const string Default = "unix:///run/berth/berth.sock";

    public const string EnvironmentVariable = "BERTH_HOST";

    /// <summary>Set by the global -H/--host option (before the command name).</summary>
    public static string? FromCommandLine { get; set; }

    public static string Resolve() =>
        FromCommandLine ?? (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } e ? e : Default);

    public static string SocketPath(string host)
    {
        if (host.StartsWith("unix://", StringComparison.Ordinal))
        {
            return host["unix://".Length..];
        }
        if (host.StartsWith('/'))
        {
            return host;
        }
        throw BerthException.Unsupported($"host '{host}': only unix:///PATH sockets are supported; use -H unix:///run/berth/berth.sock");
    }

    /// <summary>Takes the global options (-H/--host URL) off the front of the command line, docker style.</summary>
    public static string[] ExtractGlobalOptions(string[] args)
    {
        var i = 0;
        while (i < args.Length)
        {
            var a = args[i];
            if (a is "-H" or "--host" && i + 1 < args.Length)
            {
                FromCommandLine = args[i + 1];
                i += 2;
            }
            else if (a.StartsWith("--host=", StringComparison.Ordinal) || a.StartsWith("-H=", StringComparison.Ordinal))
            {
                FromCommandLine = a[(a.IndexOf('=', StringComparison.Ordinal) + 1)..];
                i++;
            }
            else
            {
                break;
            }
        }
        return i == 0 ? args : args[i..];
    }
}
