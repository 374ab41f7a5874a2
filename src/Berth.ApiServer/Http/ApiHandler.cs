using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.ApiServer.Machinery;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Schema;
using Berth.ApiServer.Security;
using Berth.ApiServer.Storage;
using Berth.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Berth.ApiServer.Http;

/// <summary>
/// The Kubernetes HTTP API: authentication, authorization, discovery and OpenAPI, and generic REST verbs for every
/// resource in the <see cref="ResourceRegistry"/>. Failures become a Kubernetes Status here and only here.
/// </summary>
public sealed partial class ApiHandler
{
    private const long MaxRequestBytes = 3 * 1024 * 1024;

    private readonly ResourceRegistry _registry;
    private readonly ObjectStore _store;
    private readonly WatchHub _hub;
    private readonly Authenticator _authn;
    private readonly RbacAuthorizer _authz;
    private readonly Admission _admission;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<string, (int Generation, byte[] Body, string Hash)> _openApiCache = new(StringComparer.Ordinal);
    private readonly Lock _cacheLock = new();

    /// <summary>Cancelled when the server stops, so long-running watches end instead of holding up shutdown.</summary>
    public CancellationToken Stopping { get; init; }

    public ApiHandler(ResourceRegistry registry, ObjectStore store, WatchHub hub, Authenticator authn, RbacAuthorizer authz, Admission admission,
        TimeProvider time, ILogger logger, string serverAddress)
    {
        _registry = registry;
        _store = store;
        _hub = hub;
        _authn = authn;
        _authz = authz;
        _admission = admission;
        _time = time;
        _logger = logger;
        ServerAddress = serverAddress;
    }

    /// <summary>host:port advertised in /api (known only once Kestrel has bound the port).</summary>
    public string ServerAddress { get; set; }

    public async Task HandleAsync(HttpContext ctx)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, Stopping);
        var ct = linked.Token;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await HandleCoreAsync(ctx, ct).ConfigureAwait(false);
        }
        finally
        {
            if (Diagnostics.Timings.Enabled && !ctx.Request.Query.ContainsKey("watch"))
            {
                Diagnostics.Timings.Record("req." + ctx.Request.Method, started);
            }
            LogRequest(_logger, ctx.Request.Method, ctx.Request.Path.Value ?? "", ctx.Response.StatusCode,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    private async Task HandleCoreAsync(HttpContext ctx, CancellationToken ct)
    {
        try
        {
            var path = ctx.Request.Path.Value ?? "/";
            var user = _authn.Authenticate(ctx.Connection.ClientCertificate, ctx.Request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null);
            if (path is "/healthz" or "/livez" or "/readyz" or "/version")
            {
                await WriteJsonAsync(ctx, 200, path == "/version" ? Discovery.Version() : null, path == "/version" ? null : "ok").ConfigureAwait(false);
                return;
            }
            if (user is null)
            {
                throw ApiException.Unauthorized();
            }
            var info = RequestInfo.Parse(path);
            if (info is null || info.Resource.Length == 0)
            {
                await HandleNonResourceAsync(ctx, user, path, ct).ConfigureAwait(false);
                return;
            }
            var def = _registry.Find(info.Group, info.Version, info.Resource);
            if (def is null)
            {
                throw ApiException.NotFoundPlain("the server could not find the requested resource");
            }
            var verb = Verb(ctx, info);
            var attrs = new AccessAttributes(verb, info.Group, info.Resource, info.Subresource, def.Namespaced ? info.Namespace : "", info.Name, path, true);
            if (!await _authz.AllowedAsync(user, attrs, ct).ConfigureAwait(false))
            {
                throw ApiException.Forbidden(info.Group, info.Resource, info.Name, RbacAuthorizer.ForbiddenMessage(user, attrs, def.GroupResource));
            }
            var req = new ApiRequest(info, def, user);
            if (!def.Namespaced && info.Namespace.Length > 0)
            {
                throw ApiException.NotFoundPlain("the server could not find the requested resource");
            }
            await DispatchAsync(ctx, req, verb, ct).ConfigureAwait(false);
        }
        catch (ApiException e)
        {
            await WriteStatusAsync(ctx, e).ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            var code = e.Code switch
            {
                ErrorCode.InvalidArgument => 400,
                ErrorCode.NotFound => 404,
                ErrorCode.AlreadyExists or ErrorCode.Conflict => 409,
                ErrorCode.PermissionDenied => 403,
                ErrorCode.Unsupported => 405,
                ErrorCode.Unavailable => 503,
                _ => 500,
            };
            await WriteStatusAsync(ctx, new ApiException(code, code == 500 ? "InternalError" : e.Code.ToString(), e.Message)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            LogUnhandled(_logger, ctx.Request.Method, ctx.Request.Path.Value ?? "", e);
            await WriteStatusAsync(ctx, ApiException.Internal(e.Message)).ConfigureAwait(false);
        }
    }

    private static string Verb(HttpContext ctx, RequestInfo info)
    {
        var watch = ctx.Request.Query["watch"].ToString() is "true" or "1";
        return ctx.Request.Method switch
        {
            "GET" or "HEAD" when watch => "watch",
            "GET" or "HEAD" => info.Name.Length == 0 ? "list" : "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => info.Name.Length == 0 ? "deletecollection" : "delete",
            _ => throw ApiException.MethodNotAllowed($"the server does not allow this method on the requested resource"),
        };
    }

    private async Task DispatchAsync(HttpContext ctx, ApiRequest req, string verb, CancellationToken ct)
    {
        var sub = req.Info.Subresource;
        if (!req.Resource.Verbs.Contains(verb) && sub.Length == 0)
        {
            throw ApiException.MethodNotAllowed($"the server does not allow this method on the requested resource");
        }
        if (sub.Length > 0 && !req.Resource.Subresources.Contains(sub))
        {
            throw ApiException.NotFoundPlain("the server could not find the requested resource");
        }
        if (req.Resource.Virtual)
        {
            await ReviewAsync(ctx, req, ct).ConfigureAwait(false);
            return;
        }
        switch (verb)
        {
            case "get" when sub == "scale":
                await WriteJsonAsync(ctx, 200, Scale(req, await GetExistingAsync(req, ct).ConfigureAwait(false))).ConfigureAwait(false);
                break;
            case "get":
                await GetAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "list":
                await ListAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "watch":
                await WatchAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "create" when sub == "binding":
                await BindAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "create":
                await CreateAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "update":
                await UpdateAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "patch":
                await PatchAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "delete":
                await DeleteAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            case "deletecollection":
                await DeleteCollectionAsync(ctx, req, ct).ConfigureAwait(false);
                break;
            default:
                throw ApiException.MethodNotAllowed("the server does not allow this method on the requested resource");
        }
    }

    private async Task HandleNonResourceAsync(HttpContext ctx, UserInfo user, string path, CancellationToken ct)
    {
        var attrs = AccessAttributes.NonResource("get", path);
        if (!await _authz.AllowedAsync(user, attrs, ct).ConfigureAwait(false) && !IsDiscoveryPath(path))
        {
            throw ApiException.Forbidden("", "", "", RbacAuthorizer.ForbiddenMessage(user, attrs, ""));
        }
        var accept = ctx.Request.Headers.Accept.ToString();
        var aggregated = accept.Contains("as=APIGroupDiscoveryList", StringComparison.Ordinal) && accept.Contains("v=v2;", StringComparison.Ordinal) ||
                         accept.Contains("as=APIGroupDiscoveryList", StringComparison.Ordinal) && accept.Contains("v=v2,", StringComparison.Ordinal) ||
                         accept.Contains("g=apidiscovery.k8s.io;v=v2;", StringComparison.Ordinal);
        const string aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        var trimmed = path.TrimEnd('/');
        switch (trimmed)
        {
            case "/api" when aggregated:
                await WriteJsonAsync(ctx, 200, Discovery.Aggregated(_registry, core: true), contentType: aggregatedType).ConfigureAwait(false);
                return;
            case "/api":
                await WriteJsonAsync(ctx, 200, Discovery.ApiVersions(ServerAddress)).ConfigureAwait(false);
                return;
            case "/apis" when aggregated:
                await WriteJsonAsync(ctx, 200, Discovery.Aggregated(_registry, core: false), contentType: aggregatedType).ConfigureAwait(false);
                return;
            case "/apis":
                await WriteJsonAsync(ctx, 200, Discovery.GroupList(_registry)).ConfigureAwait(false);
                return;
            case "/openapi/v2":
                if (!accept.Contains("json", StringComparison.Ordinal) && accept.Length > 0 && !accept.Contains("*/*", StringComparison.Ordinal))
                {
                    throw new ApiException(406, "NotAcceptable", "only application/json is supported for /openapi/v2; use /openapi/v3");
                }
                await WriteCachedAsync(ctx, "v2", () => OpenApi.V2Document(_registry)).ConfigureAwait(false);
                return;
            case "/openapi/v3":
                await WriteJsonAsync(ctx, 200, OpenApiV3Root()).ConfigureAwait(false);
                return;
        }
        if (trimmed.StartsWith("/openapi/v3/", StringComparison.Ordinal))
        {
            var gv = trimmed["/openapi/v3/".Length..];
            var (group, version) = gv.StartsWith("api/", StringComparison.Ordinal) ? ("", gv[4..]) :
                gv.StartsWith("apis/", StringComparison.Ordinal) && gv.Split('/') is { Length: 3 } p ? (p[1], p[2]) : ("?", "?");
            if (!_registry.All.Any(r => r.Group == group && r.Version == version))
            {
                throw ApiException.NotFoundPlain("the server could not find the requested resource");
            }
            await WriteCachedAsync(ctx, "v3:" + gv, () => OpenApi.V3Document(_registry, group, version)).ConfigureAwait(false);
            return;
        }
        var parts = trimmed.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 2 && parts[0] == "api" && parts[1] == "v1")
        {
            await WriteJsonAsync(ctx, 200, Discovery.ResourceList(_registry, "", "v1")).ConfigureAwait(false);
            return;
        }
        if (parts.Length == 2 && parts[0] == "apis")
        {
            var g = _registry.Groups().FirstOrDefault(x => x.Group == parts[1]);
            if (g.Versions is not null)
            {
                await WriteJsonAsync(ctx, 200, Discovery.Group(g.Group, g.Versions)).ConfigureAwait(false);
                return;
            }
        }
        if (parts.Length == 3 && parts[0] == "apis" && _registry.All.Any(r => r.Group == parts[1] && r.Version == parts[2]))
        {
            await WriteJsonAsync(ctx, 200, Discovery.ResourceList(_registry, parts[1], parts[2])).ConfigureAwait(false);
            return;
        }
        throw ApiException.NotFoundPlain("the server could not find the requested resource");
    }

    private static bool IsDiscoveryPath(string path) =>
        path is "/api" or "/api/" or "/apis" or "/apis/" || path.StartsWith("/api/", StringComparison.Ordinal) ||
        path.StartsWith("/apis/", StringComparison.Ordinal) || path.StartsWith("/openapi/", StringComparison.Ordinal);

    private JsonObject OpenApiV3Root()
    {
        var paths = new JsonObject();
        foreach (var (group, versions) in _registry.Groups())
        {
            foreach (var v in versions)
            {
                var key = group.Length == 0 ? "api/" + v : $"apis/{group}/{v}";
                var (_, _, hash) = CachedOpenApi("v3:" + key, () => OpenApi.V3Document(_registry, group, v));
                paths[key] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{key}?hash={hash}" };
            }
        }
        return new JsonObject { ["paths"] = paths };
    }

    private (int, byte[], string) CachedOpenApi(string key, Func<JsonObject> build)
    {
        lock (_cacheLock)
        {
            if (_openApiCache.TryGetValue(key, out var cached) && cached.Generation == _registry.Generation)
            {
                return cached;
            }
        }
        var body = Encoding.UTF8.GetBytes(build().ToJsonString());
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA512.HashData(body)).ToUpperInvariant();
        var entry = (_registry.Generation, body, hash);
        lock (_cacheLock)
        {
            _openApiCache[key] = entry;
        }
        return entry;
    }

    private async Task WriteCachedAsync(HttpContext ctx, string key, Func<JsonObject> build)
    {
        var (_, body, hash) = CachedOpenApi(key, build);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        ctx.Response.Headers.ETag = "\"" + hash + "\"";
        if (ctx.Request.Query.ContainsKey("hash"))
        {
            ctx.Response.Headers.CacheControl = "public, immutable";
        }
        await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted).ConfigureAwait(false);
    }

    internal static async Task WriteJsonAsync(HttpContext ctx, int status, JsonNode? body, string? text = null, string contentType = "application/json")
    {
        ctx.Response.StatusCode = status;
        if (text is not null)
        {
            ctx.Response.ContentType = "text/plain; charset=utf-8";
            await ctx.Response.WriteAsync(text, ctx.RequestAborted).ConfigureAwait(false);
            return;
        }
        ctx.Response.ContentType = contentType;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            if (body is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                body.WriteTo(writer);
            }
        }
        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static async Task WriteStatusAsync(HttpContext ctx, ApiException e)
    {
        if (ctx.Response.HasStarted)
        {
            return;
        }
        ctx.Response.Headers.Remove("Warning");
        await WriteJsonAsync(ctx, e.Code, e.ToStatus()).ConfigureAwait(false);
    }

    /// <summary>Reads a body (JSON; YAML for apply), refusing bodies over 3 MiB as Kubernetes does.</summary>
    private static async Task<byte[]> ReadBodyAsync(HttpContext ctx, CancellationToken ct)
    {
        if (ctx.Request.ContentLength > MaxRequestBytes)
        {
            throw ApiException.TooLarge($"Request entity too large: limit is {MaxRequestBytes}");
        }
        // The body goes straight into an array of its declared length; only a body without Content-Length (chunked)
        // is gathered through a pooled buffer. (A fresh 80 KiB buffer per request was most of a write's garbage.)
        if (ctx.Request.ContentLength is { } length)
        {
            var body = new byte[length];
            try
            {
                await ctx.Request.Body.ReadExactlyAsync(body, ct).ConfigureAwait(false);
            }
            catch (EndOfStreamException)
            {
                throw ApiException.BadRequest($"the request body ended before the {length} bytes its Content-Length announced");
            }
            return body;
        }
        using var ms = new MemoryStream();
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16384);
        try
        {
            int n;
            while ((n = await ctx.Request.Body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
            {
                ms.Write(buffer, 0, n);
                if (ms.Length > MaxRequestBytes)
                {
                    throw ApiException.TooLarge($"Request entity too large: limit is {MaxRequestBytes}");
                }
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        return ms.ToArray();
    }

    [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "{Method} {Path} {Status} {Milliseconds}ms")]
    private static partial void LogRequest(ILogger logger, string method, string path, int status, double milliseconds);

    [LoggerMessage(EventId = 7000, Level = LogLevel.Error, Message = "Unhandled error serving {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, string method, string path, Exception exception);
}
