using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Text.Json;
using Berth.Core;
using Berth.Images.Store;

namespace Berth.Images.Distribution;

/// <summary>
/// Pulls images from and pushes images to OCI distribution registries (Docker Registry v2 API): manifest content
/// negotiation, platform selection from indexes, concurrent verified blob transfers with resume and retries,
/// cross-repository mounts, and the Basic / Bearer-token auth flows. One instance is meant to be shared: it pools
/// connections and caches tokens per registry and scope. See docs/design/registry.md (client).
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    /// <summary>Label naming the repositories of a registry a blob is known to be in: <c>berth.distribution.source.HOST=repo1,repo2</c>.</summary>
    public const string SourceLabelPrefix = "berth.distribution.source.";

    internal static readonly string[] ManifestAccept =
    [
        Oci.Image.MediaTypes.OciIndex,
        Oci.Image.MediaTypes.OciManifest,
        Oci.Image.MediaTypes.DockerManifestList,
        Oci.Image.MediaTypes.DockerManifest,
    ];

    private readonly RegistryClientOptions _options;
    private readonly HttpClient _http;
    private readonly HashSet<string> _insecure;
    private readonly ConcurrentDictionary<string, Lazy<Task<Uri>>> _baseUris = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HostAuth> _auth = new(StringComparer.Ordinal);

    public RegistryClient(ImageStore images, RegistryClientOptions? options = null)
    {
        Images = images;
        _options = options ?? new RegistryClientOptions();
        _insecure = new HashSet<string>(_options.InsecureRegistries.Select(CredentialStore.NormalizeHost), StringComparer.Ordinal);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            MaxConnectionsPerServer = 64,
            SslOptions = new SslClientAuthenticationOptions
            {
                // The system trust store decides, except for registries the options call insecure.
                RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                    errors == SslPolicyErrors.None || (sender is SslStream s && IsInsecureHost(s.TargetHostName)),
            },
        };
        // Long enough for a monolithic upload of a large layer; stalled downloads are caught by StallTimeout.
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromHours(1) };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd(_options.UserAgent);
    }

    public ImageStore Images { get; }

    public RegistryClientOptions Options => _options;

    public void Dispose() => _http.Dispose();

    /// <summary>Whether <paramref name="registry"/> may be reached over plain HTTP (loopback, or listed as insecure).</summary>
    public bool IsInsecure(string registry)
    {
        var host = CredentialStore.NormalizeHost(registry);
        // An entry with a port names that port only; an entry without one, every port of the host.
        return _insecure.Contains(host) || _insecure.Contains(HostWithoutPort(host)) || IsLoopback(HostWithoutPort(host));
    }

    private bool IsInsecureHost(string host) =>
        IsLoopback(host) || _insecure.Contains(host) || _insecure.Any(h => HostWithoutPort(h) == host);

    internal static bool IsLoopback(string host)
    {
        host = host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
    }

    internal static string HostWithoutPort(string hostPort)
    {
        if (hostPort.StartsWith('['))
        {
            var close = hostPort.IndexOf(']', StringComparison.Ordinal);
            return close > 0 ? hostPort[..(close + 1)] : hostPort;
        }
        var colon = hostPort.LastIndexOf(':');
        return colon > 0 && hostPort.IndexOf(':', StringComparison.Ordinal) == colon ? hostPort[..colon] : hostPort;
    }

    /// <summary>The host the API lives on: Docker Hub's API is registry-1.docker.io.</summary>
    internal static string ApiHost(string domain) => domain is "docker.io" or "index.docker.io" ? "registry-1.docker.io" : domain;

    /// <summary>
    /// https:// for every registry, except that an insecure one is probed: HTTPS if it answers TLS (certificate not
    /// checked), else plain HTTP — what docker does for insecure registries. Loopback registries are probed the other
    /// way round (plain HTTP first).
    /// </summary>
    private Task<Uri> BaseUriAsync(string domain, CancellationToken cancellationToken)
    {
        var host = ApiHost(domain);
        if (!IsInsecure(host))
        {
            return Task.FromResult(new Uri("https://" + host + "/"));
        }
        var lazy = _baseUris.GetOrAdd(host, h => new Lazy<Task<Uri>>(() => ProbeAsync(h)));
        var task = lazy.Value;
        if (task.IsFaulted || task.IsCanceled)
        {
            _baseUris.TryRemove(new KeyValuePair<string, Lazy<Task<Uri>>>(host, lazy));
        }
        return task.WaitAsync(cancellationToken);
    }

    private async Task<Uri> ProbeAsync(string host)
    {
        var https = new Uri("https://" + host + "/");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        if (IsLoopback(HostWithoutPort(host)))
        {
            // Loopback: plain HTTP first (nothing leaves the machine, and it spares a TLS handshake per process); a
            // registry answers /v2/ with 200 or 401, a TLS server does not.
            var http = new Uri("http://" + host + "/");
            try
            {
                using var response = await _http.GetAsync(new Uri(http, "v2/"), HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized)
                {
                    return http;
                }
            }
            catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
            {
            }
            return https;
        }
        try
        {
            using var response = await _http.GetAsync(new Uri(https, "v2/"), HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            return https;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException)
        {
            return new Uri("http://" + host + "/");
        }
    }

    /// <summary>One pull or push against one repository: where it is, who we are, which token scope we need.</summary>
    internal sealed class Session
    {
        public required ImageReference Reference { get; init; }

        public required Uri BaseUri { get; init; }

        public required string Actions { get; init; }

        public RegistryCredentials? Credentials { get; init; }

        public required HostAuth Auth { get; init; }

        public string Host => Reference.Domain;

        public string Repository => Reference.Path;

        public string Scope => $"repository:{Repository}:{Actions}";

        public Uri Url(string relative) => new(BaseUri, "v2/" + Repository + "/" + relative);
    }

    private async Task<Session> OpenSessionAsync(ImageReference reference, RegistryCredentials? credentials, string actions, CancellationToken cancellationToken)
    {
        var baseUri = await BaseUriAsync(reference.Domain, cancellationToken).ConfigureAwait(false);
        credentials ??= _options.Credentials is { } store ? await store.LookupAsync(reference.Domain, cancellationToken).ConfigureAwait(false) : null;
        var auth = _auth.GetOrAdd(baseUri.Authority + "|" + (credentials?.Username ?? ""), _ => new HostAuth());
        var session = new Session { Reference = reference, BaseUri = baseUri, Actions = actions, Credentials = credentials, Auth = auth };
        if (!auth.Pinged)
        {
            await PingAsync(session, cancellationToken).ConfigureAwait(false);
        }
        return session;
    }

    /// <summary>GET /v2/ to learn whether and how the registry wants us to authenticate.</summary>
    private async Task PingAsync(Session session, CancellationToken cancellationToken)
    {
        using var response = await RetryAsync(session, "GET /v2/", async _ =>
        {
            var r = await _http.GetAsync(new Uri(session.BaseUri, "v2/"), HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (IsTransient(r.StatusCode))
            {
                var e = new TransientException($"{session.Host}: {(int)r.StatusCode} {r.ReasonPhrase}");
                r.Dispose();
                throw e;
            }
            return r;
        }, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            session.Auth.Challenge = ChallengeOf(response);
        }
        else if (!response.IsSuccessStatusCode)
        {
            throw new BerthException(ErrorCode.Unavailable,
                $"{session.Host} does not answer like a registry: GET {session.BaseUri}v2/ returned {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        session.Auth.Pinged = true;
    }

    private static AuthChallenge? ChallengeOf(HttpResponseMessage response)
    {
        AuthChallenge? basic = null;
        foreach (var header in response.Headers.WwwAuthenticate)
        {
            var challenge = AuthChallenge.Parse(header.ToString());
            if (challenge is { IsBearer: true })
            {
                return challenge;
            }
            basic ??= challenge is { IsBasic: true } ? challenge : null;
        }
        return basic;
    }

    /// <summary>
    /// Sends a request built by <paramref name="make"/> with the session's authorization; on 401 learns the challenge,
    /// fetches a token (or uses Basic credentials) and sends it once more.
    /// </summary>
    private Task<HttpResponseMessage> SendAsync(Session session, Func<HttpRequestMessage> make, CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, IReadOnlyList<string>? extraScopes = null) =>
        SendAsync(session, () => ValueTask.FromResult(make()), cancellationToken, completion, extraScopes);

    private async Task<HttpResponseMessage> SendAsync(Session session, Func<ValueTask<HttpRequestMessage>> make, CancellationToken cancellationToken,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead, IReadOnlyList<string>? extraScopes = null)
    {
        var scopes = extraScopes is { Count: > 0 } ? [session.Scope, .. extraScopes] : new[] { session.Scope };
        for (var attempt = 0; ; attempt++)
        {
            using var request = await make().ConfigureAwait(false);
            var header = await AuthorizationAsync(session, scopes, forceRefresh: attempt > 0, cancellationToken).ConfigureAwait(false);
            if (header is not null)
            {
                request.Headers.Authorization = header;
            }
            var response = await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized || attempt > 0)
            {
                return response;
            }
            var challenge = ChallengeOf(response);
            if (challenge is null || (header is not null && challenge.IsBasic))
            {
                return response;
            }
            session.Auth.Challenge = challenge;
            response.Dispose();
        }
    }

    internal sealed class HostAuth
    {
        public volatile bool Pinged;

        public AuthChallenge? Challenge { get; set; }

        public ConcurrentDictionary<string, (string Token, DateTimeOffset Expires)> Tokens { get; } = new(StringComparer.Ordinal);

        public SemaphoreSlim TokenLock { get; } = new(1, 1);
    }

    private async Task<AuthenticationHeaderValue?> AuthorizationAsync(Session session, string[] scopes, bool forceRefresh, CancellationToken cancellationToken)
    {
        var challenge = session.Auth.Challenge;
        if (challenge is null)
        {
            return null;
        }
        if (challenge.IsBasic)
        {
            return session.Credentials is { } c ? BasicHeader(c) : null;
        }
        if (!challenge.IsBearer)
        {
            throw BerthException.Unsupported($"{session.Host} asks for \"{challenge.Scheme}\" authentication; Berth speaks Basic and Bearer");
        }
        var key = string.Join(' ', scopes);
        var now = _options.TimeProvider.GetUtcNow();
        if (!forceRefresh && session.Auth.Tokens.TryGetValue(key, out var cached) && cached.Expires > now)
        {
            return new AuthenticationHeaderValue("Bearer", cached.Token);
        }
        await session.Auth.TokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!forceRefresh && session.Auth.Tokens.TryGetValue(key, out cached) && cached.Expires > now)
            {
                return new AuthenticationHeaderValue("Bearer", cached.Token);
            }
            var (token, lifetime) = await FetchTokenAsync(session, challenge, scopes, cancellationToken).ConfigureAwait(false);
            // Renew a little early so a token does not expire between our check and the registry's.
            session.Auth.Tokens[key] = (token, now + lifetime - TimeSpan.FromSeconds(Math.Min(10, lifetime.TotalSeconds / 4)));
            return new AuthenticationHeaderValue("Bearer", token);
        }
        finally
        {
            session.Auth.TokenLock.Release();
        }
    }

    private static AuthenticationHeaderValue BasicHeader(RegistryCredentials c) =>
        new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(c.Username + ":" + c.Password)));

    /// <summary>The token flow of the Docker registry v2 token spec: GET realm?service=S&amp;scope=A&amp;scope=B, Basic credentials when we have them.</summary>
    private async Task<(string Token, TimeSpan Lifetime)> FetchTokenAsync(Session session, AuthChallenge challenge, IEnumerable<string> scopes, CancellationToken cancellationToken)
    {
        if (challenge.Realm is not { Length: > 0 } realm || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri))
        {
            throw new BerthException(ErrorCode.Unavailable, $"{session.Host} sent a Bearer challenge without a usable realm (\"{challenge.Realm}\")");
        }
        var query = new List<string>();
        if (challenge.Service is { } service)
        {
            query.Add("service=" + Uri.EscapeDataString(service));
        }
        query.AddRange(scopes.Select(s => "scope=" + Uri.EscapeDataString(s)));
        var url = new UriBuilder(realmUri) { Query = (realmUri.Query.Length > 1 ? realmUri.Query[1..] + "&" : "") + string.Join('&', query) }.Uri;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (session.Credentials is { } credentials)
        {
            request.Headers.Authorization = BasicHeader(credentials);
        }
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(session, response, $"get a token from {realmUri.GetLeftPart(UriPartial.Path)}", cancellationToken).ConfigureAwait(false);
        }
        using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false));
        var root = doc.RootElement;
        var token = (root.TryGetProperty("token", out var t) ? t.GetString() : null) ?? (root.TryGetProperty("access_token", out var a) ? a.GetString() : null);
        if (string.IsNullOrEmpty(token))
        {
            throw new BerthException(ErrorCode.Unavailable, $"the token endpoint {realmUri.GetLeftPart(UriPartial.Path)} answered without a token");
        }
        var seconds = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var s) && s > 0 ? s : 60;
        return (token, TimeSpan.FromSeconds(seconds));
    }

    /// <summary>Turns a failed response into the error the user sees, naming the registry, the repository and the fix.</summary>
    private static async Task<BerthException> ErrorAsync(Session session, HttpResponseMessage response, string action, CancellationToken cancellationToken)
    {
        var (code, message) = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
        var detail = message is null ? $"{(int)response.StatusCode} {response.ReasonPhrase}" : message;
        var repo = session.Host + "/" + session.Repository;
        return response.StatusCode switch
        {
            HttpStatusCode.Unauthorized when session.Credentials is null => new BerthException(ErrorCode.PermissionDenied,
                $"unauthorized: {repo}: authentication required to {action} ({detail}); run `berth login {session.Host}`"),
            HttpStatusCode.Unauthorized => new BerthException(ErrorCode.PermissionDenied,
                $"unauthorized: {repo}: the credentials of \"{session.Credentials.Username}\" were refused when trying to {action} ({detail}); run `berth login {session.Host}` again"),
            HttpStatusCode.Forbidden => new BerthException(ErrorCode.PermissionDenied,
                $"denied: {(session.Credentials is null ? "anonymous users" : "\"" + session.Credentials.Username + "\"")} may not {action} in {repo} ({detail})"),
            HttpStatusCode.NotFound when action.StartsWith("pull manifest ", StringComparison.Ordinal) =>
                BerthException.NotFound($"manifest unknown: {action["pull manifest ".Length..]}: {detail}"),
            HttpStatusCode.NotFound when code is "NAME_UNKNOWN" => BerthException.NotFound($"repository {repo} not found: {detail}"),
            HttpStatusCode.NotFound => BerthException.NotFound($"{repo}: {action}: not found ({detail})"),
            HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.InternalServerError =>
                new BerthException(ErrorCode.Unavailable, $"{session.Host} failed to {action}: {detail}; try again later"),
            _ => new BerthException(ErrorCode.FailedPrecondition, $"{repo}: {action} failed: {(code is null ? "" : code + ": ")}{detail}"),
        };
    }

    private static async Task<(string? Code, string? Message)> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (body.Length is 0 or > 1 << 16)
            {
                return (null, null);
            }
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors)
                && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
            {
                var first = errors[0];
                var code = first.TryGetProperty("code", out var c) ? c.GetString() : null;
                var message = first.TryGetProperty("message", out var m) ? m.GetString() : null;
                return (code, code is null ? message : message is null ? code : $"{code}: {message}");
            }
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("details", out var details))
            {
                return (null, details.GetString());
            }
        }
        catch (Exception e) when (e is JsonException or HttpRequestException or IOException or InvalidOperationException)
        {
        }
        return (null, null);
    }

    internal static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
            or HttpStatusCode.InternalServerError or HttpStatusCode.RequestTimeout;

    /// <summary>A failure worth retrying: the connection broke, or the server said try again.</summary>
    private sealed class TransientException(string message) : Exception(message);

    private static bool IsTransient(Exception e, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && e is TransientException or HttpRequestException or IOException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested); // HttpClient timeout

    /// <summary>Runs <paramref name="body"/> up to MaxAttempts times with exponential backoff on transient failures.</summary>
    private async Task<T> RetryAsync<T>(Session session, string what, Func<int, Task<T>> body, Action<int, Exception>? onRetry, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await body(attempt).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                if (attempt >= _options.MaxAttempts)
                {
                    throw new BerthException(ErrorCode.Unavailable, $"{session.Host}: {what} failed after {attempt} attempts: {e.Message}", e);
                }
                onRetry?.Invoke(attempt, e);
                await Task.Delay(Backoff(attempt), _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private TimeSpan Backoff(int attempt) =>
        TimeSpan.FromMilliseconds(Math.Min(10_000, _options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt - 1)));
}
