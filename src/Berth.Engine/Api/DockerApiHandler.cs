using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Berth.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Engine.Api;

/// <summary>Routes Docker Engine API requests (versioned /v1.xx/... and unversioned) to the engine.</summary>
internal sealed partial class DockerApiHandler
{
    /// <summary>The request's API version as major*1000+minor (absent: unversioned, i.e. the newest).</summary>
    private const string ApiVersionKey = "berth.api-version";

    private static readonly Regex VersionPrefix = new(@"^/v(\d+)\.(\d+)(/.*)$", RegexOptions.Compiled);
    private readonly ContainerEngine _engine;
    private readonly List<(string Method, Regex Pattern, Func<HttpContext, Match, Task> Handler)> _routes = [];

    public DockerApiHandler(ContainerEngine engine)
    {
        _engine = engine;
        Route("GET", "/_ping", PingAsync);
        Route("HEAD", "/_ping", PingAsync);
        Route("GET", "/version", VersionAsync);
        Route("GET", "/info", InfoAsync);
        Route("GET", "/events", EventsAsync);
        Route("GET", "/system/df", SystemDfAsync);
        Route("POST", "/containers/create", CreateContainerAsync);
        Route("GET", "/containers/json", ListContainersAsync);
        Route("POST", "/containers/prune", PruneContainersAsync);
        Route("GET", "/containers/(?<id>[^/]+)/json", InspectContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/start", StartContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/stop", StopContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/restart", RestartContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/kill", KillContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/pause", PauseContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/unpause", UnpauseContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/wait", WaitContainerAsync);
        Route("DELETE", "/containers/(?<id>[^/]+)", RemoveContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/rename", RenameContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/resize", ResizeContainerAsync);
        Route("POST", "/containers/(?<id>[^/]+)/update", UpdateContainerAsync);
        Route("GET", "/containers/(?<id>[^/]+)/logs", LogsAsync);
        Route("GET", "/containers/(?<id>[^/]+)/top", TopAsync);
        Route("GET", "/containers/(?<id>[^/]+)/stats", StatsAsync);
        Route("GET", "/containers/(?<id>[^/]+)/export", ExportContainerAsync);
        Route("GET", "/containers/(?<id>[^/]+)/archive", GetArchiveAsync);
        Route("HEAD", "/containers/(?<id>[^/]+)/archive", HeadArchiveAsync);
        Route("PUT", "/containers/(?<id>[^/]+)/archive", PutArchiveAsync);
        Route("POST", "/containers/(?<id>[^/]+)/attach", AttachNotHijackedAsync);
        Route("POST", "/containers/(?<id>[^/]+)/exec", CreateExecAsync);
        Route("POST", "/exec/(?<id>[^/]+)/start", StartExecDetachedAsync);
        Route("POST", "/exec/(?<id>[^/]+)/resize", ResizeExecAsync);
        Route("GET", "/exec/(?<id>[^/]+)/json", InspectExecAsync);
        Route("GET", "/images/json", ListImagesAsync);
        Route("POST", "/images/create", CreateImageAsync);
        Route("POST", "/images/load", LoadImagesAsync);
        Route("GET", "/images/get", SaveImagesAsync);
        Route("POST", "/images/prune", PruneImagesAsync);
        Route("POST", "/build", BuildImageAsync);
        Route("POST", "/auth", AuthAsync);
        Route("POST", "/build/prune", BuildPruneAsync);
        Route("GET", "/images/(?<name>.+)/json", InspectImageAsync);
        Route("GET", "/images/(?<name>.+)/history", ImageHistoryAsync);
        Route("GET", "/images/(?<name>.+)/get", SaveImageAsync);
        Route("POST", "/images/(?<name>.+)/tag", TagImageAsync);
        Route("POST", "/images/(?<name>.+)/push", PushImageAsync);
        Route("DELETE", "/images/(?<name>.+)", RemoveImageAsync);
        NetworkRoutes();
        RouteVolumes();
    }

    public ILogger Logger { get; set; } = NullLogger.Instance;

    private void Route(string method, string pattern, Func<HttpContext, Match, Task> handler) =>
        _routes.Add((method, new Regex("^" + pattern + "$", RegexOptions.Compiled), handler));

    public async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        try
        {
            var v = VersionPrefix.Match(path);
            if (v.Success)
            {
                var requested = (int.Parse(v.Groups[1].Value, CultureInfo.InvariantCulture) * 1000) + int.Parse(v.Groups[2].Value, CultureInfo.InvariantCulture);
                if (requested > 1047)
                {
                    throw BerthException.InvalidArgument($"client version {v.Groups[1].Value}.{v.Groups[2].Value} is too new. Maximum supported API version is {DockerApiServer.ApiVersion}");
                }
                if (requested < 1024)
                {
                    throw BerthException.InvalidArgument($"client version {v.Groups[1].Value}.{v.Groups[2].Value} is too old. Minimum supported API version is {DockerApiServer.MinApiVersion}, please upgrade your client to a newer version");
                }
                path = v.Groups[3].Value;
                context.Items[ApiVersionKey] = requested;
            }
            var method = context.Request.Method;
            var pathMatched = false;
            foreach (var (m, pattern, handler) in _routes)
            {
                var match = pattern.Match(path);
                if (!match.Success)
                {
                    continue;
                }
                pathMatched = true;
                if (m == method)
                {
                    await handler(context, match).ConfigureAwait(false);
                    return;
                }
            }
            if (pathMatched)
            {
                await WriteErrorAsync(context, 405, $"method {method} is not allowed on {path}").ConfigureAwait(false);
                return;
            }
            await WriteErrorAsync(context, 404, $"page not found: {method} {path} is not part of the Docker Engine API Berth serves").ConfigureAwait(false);
        }
        catch (BerthException e)
        {
            await WriteErrorAsync(context, StatusFor(e.Code), e.Message).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, 400, "invalid JSON in the request body: " + e.Message).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (e.Message.Contains("JSON", StringComparison.Ordinal))
        {
            await WriteErrorAsync(context, 400, "invalid JSON in the request body: " + e.Message).ConfigureAwait(false);
        }
        catch (FormatException e)
        {
            await WriteErrorAsync(context, 400, e.Message).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (IOException) when (context.RequestAborted.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Log.RequestFailed(Logger, e, context.Request.Method, path);
            await WriteErrorAsync(context, 500, e.Message).ConfigureAwait(false);
        }
    }

    internal static int StatusFor(ErrorCode code) => code switch
    {
        ErrorCode.InvalidArgument => 400,
        ErrorCode.NotFound => 404,
        ErrorCode.AlreadyExists or ErrorCode.Conflict => 409,
        ErrorCode.FailedPrecondition => 409,
        ErrorCode.PermissionDenied => 403,
        ErrorCode.Unsupported => 501,
        ErrorCode.Unavailable => 503,
        _ => 500,
    };

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse { Message = message }, DockerJsonContext.Default.ErrorResponse)).ConfigureAwait(false);
    }

    private static async Task WriteJsonAsync(HttpContext context, JsonNode? node, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        var bytes = JsonSerializer.SerializeToUtf8Bytes(node, DockerJsonContext.Default.JsonNode);
        context.Response.ContentLength = bytes.Length + 1;
        await context.Response.Body.WriteAsync(bytes).ConfigureAwait(false);
        await context.Response.Body.WriteAsync("\n"u8.ToArray()).ConfigureAwait(false);
    }

    private static async Task<T> ReadBodyAsync<T>(HttpContext context, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : new()
    {
        using var ms = new MemoryStream();
        await context.Request.Body.CopyToAsync(ms, context.RequestAborted).ConfigureAwait(false);
        if (ms.Length == 0)
        {
            return new T();
        }
        try
        {
            return JsonSerializer.Deserialize(ms.ToArray(), type) ?? new T();
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument("invalid JSON in the request body: " + e.Message);
        }
    }

    private static string? Query(HttpContext c, string name) => c.Request.Query.TryGetValue(name, out var v) ? v.ToString() : null;

    private static bool QueryBool(HttpContext c, string name, bool fallback = false)
    {
        var v = Query(c, name);
        return v is null ? fallback : v is "1" or "true" or "True" or "yes";
    }

    private static int? QueryInt(HttpContext c, string name)
    {
        var v = Query(c, name);
        if (string.IsNullOrEmpty(v))
        {
            return null;
        }
        return int.TryParse(v, CultureInfo.InvariantCulture, out var n) ? n : throw BerthException.InvalidArgument($"invalid value for {name}: \"{v}\" is not an integer");
    }

    /// <summary>Docker's filters: {"k":["v"]} or the older {"k":{"v":true}}.</summary>
    internal static Dictionary<string, List<string>> Filters(string? json)
    {
        var result = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (string.IsNullOrEmpty(json))
        {
            return result;
        }
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw BerthException.InvalidArgument("invalid filters: " + e.Message);
        }
        if (node is not JsonObject o)
        {
            throw BerthException.InvalidArgument("invalid filters: expected a JSON object");
        }
        foreach (var (k, v) in o)
        {
            var list = new List<string>();
            if (v is JsonArray a)
            {
                list.AddRange(a.Select(x => x?.ToString() ?? ""));
            }
            else if (v is JsonObject m)
            {
                list.AddRange(m.Where(x => x.Value?.GetValue<bool>() == true).Select(x => x.Key));
            }
            result[k] = list;
        }
        return result;
    }

    /// <summary>Docker's `since`/`until`: unix seconds (with a fraction) or RFC 3339.</summary>
    internal static DateTimeOffset? ParseTime(string? value)
    {
        if (string.IsNullOrEmpty(value) || value == "0")
        {
            return null;
        }
        if (decimal.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return DateTimeOffset.UnixEpoch.AddTicks((long)(seconds * TimeSpan.TicksPerSecond));
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return t;
        }
        throw BerthException.InvalidArgument($"invalid time \"{value}\": use unix seconds or RFC 3339");
    }

    /// <summary>Docker's `label` filter: every wanted "key" or "key=value" is present in the labels.</summary>
    private static bool LabelsMatch(IReadOnlyDictionary<string, string>? labels, IEnumerable<string> wanted) =>
        wanted.All(w =>
        {
            var eq = w.IndexOf('=', StringComparison.Ordinal);
            return eq < 0 ? labels?.ContainsKey(w) == true : labels is not null && labels.TryGetValue(w[..eq], out var v) && v == w[(eq + 1)..];
        });
}
