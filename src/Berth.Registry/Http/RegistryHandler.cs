using System.Buffers;
using System.Net;
using System.Text.Json;
using Berth.Registry.Auth;
using Berth.Registry.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Berth.Registry.Http;

/// <summary>
/// The OCI distribution API over one <see cref="RegistryStorage"/>. Paths are parsed by hand because repository
/// names contain '/', which route templates cannot express without ambiguity.
/// </summary>
internal sealed partial class RegistryHandler
{
    private static readonly string[] Markers = ["/blobs/uploads/", "/blobs/", "/manifests/", "/referrers/", "/tags/"];

    private readonly RegistryStorage _storage;
    private readonly RegistryAuth _auth;
    private readonly RegistryMetrics _metrics;
    private readonly RegistryOptions _options;
    private readonly ILogger _logger;

    public RegistryHandler(RegistryStorage storage, RegistryAuth auth, RegistryMetrics metrics, RegistryOptions options, ILogger logger)
    {
        _storage = storage;
        _auth = auth;
        _metrics = metrics;
        _options = options;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var response = context.Response;
        response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        try
        {
            await DispatchAsync(context).ConfigureAwait(false);
        }
        catch (RegistryException e)
        {
            await WriteErrorAsync(context, e).ConfigureAwait(false);
        }
        catch (Berth.Core.BerthException e)
        {
            await WriteErrorAsync(context, new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.UNSUPPORTED, e.Message)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
        }
        catch (BadHttpRequestException e)
        {
            await WriteErrorAsync(context, new RegistryException(HttpStatusCode.BadRequest, RegistryErrorCode.BLOB_UPLOAD_INVALID, "request body could not be read: " + e.Message)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.RequestFailed(_logger, context.Request.Method, context.Request.Path.Value ?? "", e);
            if (!response.HasStarted)
            {
                response.Clear();
                response.StatusCode = 500;
                await WriteErrorBodyAsync(response, "UNKNOWN", "internal error: " + e.Message, null).ConfigureAwait(false);
            }
        }
        finally
        {
            _metrics.Request(context.Request.Method, response.StatusCode);
        }
    }

    private Task DispatchAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "";
        if (path is "/v2" or "/v2/")
        {
            return BaseAsync(context);
        }
        if (path is "/v2/_catalog")
        {
            return CatalogAsync(context);
        }
        if (!path.StartsWith("/v2/", StringComparison.Ordinal))
        {
            throw new RegistryException(HttpStatusCode.NotFound, RegistryErrorCode.UNSUPPORTED, $"no such endpoint: {path}");
        }
        var rest = path[4..];
        if (rest.EndsWith("/blobs/uploads", StringComparison.Ordinal))
        {
            rest += "/";
        }
        // The route is given by the last marker whose remainder is a single path segment.
        string? marker = null;
        var at = -1;
        foreach (var m in Markers)
        {
            var i = rest.LastIndexOf(m, StringComparison.Ordinal);
            if (i > at && rest.IndexOf('/', i + m.Length) < 0)
            {
                marker = m;
                at = i;
            }
        }
        if (marker is null || at <= 0)
        {
            throw new RegistryException(HttpStatusCode.NotFound, RegistryErrorCode.UNSUPPORTED, $"no such endpoint: {path}");
        }
        var name = rest[..at];
        var tail = rest[(at + marker.Length)..];
        if (!RepositoryName.IsValid(name))
        {
            throw RegistryException.NameInvalid(name);
        }
        var caller = _auth.Identify(context);
        var method = request.Method;
        return (marker, method) switch
        {
            ("/blobs/uploads/", "POST") when tail.Length == 0 => StartUploadAsync(context, caller, name),
            ("/blobs/uploads/", "PATCH") when tail.Length > 0 => PatchUploadAsync(context, caller, name, tail),
            ("/blobs/uploads/", "PUT") when tail.Length > 0 => FinishUploadAsync(context, caller, name, tail),
            ("/blobs/uploads/", "GET") when tail.Length > 0 => UploadStatusAsync(context, caller, name, tail),
            ("/blobs/uploads/", "DELETE") when tail.Length > 0 => CancelUploadAsync(context, caller, name, tail),
            ("/blobs/", "GET" or "HEAD") => GetBlobAsync(context, caller, name, tail),
            ("/blobs/", "DELETE") => DeleteBlobAsync(context, caller, name, tail),
            ("/manifests/", "GET" or "HEAD") => GetManifestAsync(context, caller, name, tail),
            ("/manifests/", "PUT") => PutManifestAsync(context, caller, name, tail),
            ("/manifests/", "DELETE") => DeleteManifestAsync(context, caller, name, tail),
            ("/referrers/", "GET") => ReferrersAsync(context, caller, name, tail),
            ("/tags/", "GET") when tail == "list" => TagsAsync(context, caller, name),
            _ => throw new RegistryException(HttpStatusCode.MethodNotAllowed, RegistryErrorCode.UNSUPPORTED,
                $"{method} is not supported on {path}"),
        };
    }

    private Task BaseAsync(HttpContext context)
    {
        var caller = _auth.Identify(context);
        _auth.RequireAuthenticated(context, caller, null, ping: true);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync("{}", context.RequestAborted);
    }

    private static Digest ParseDigest(string text, string what)
    {
        if (!Digest.TryParse(text, out var digest))
        {
            throw RegistryException.DigestInvalid(
                $"{what} '{text}' is not a valid digest; expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>", text);
        }
        return digest;
    }

    internal static async Task WriteErrorAsync(HttpContext context, RegistryException e)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            context.Abort();
            return;
        }
        response.StatusCode = (int)e.Status;
        if (e.Challenge is not null)
        {
            response.Headers.WWWAuthenticate = e.Challenge;
        }
        if (context.Request.Method == "HEAD")
        {
            return;
        }
        await WriteErrorBodyAsync(response, e.Code.ToString(), e.Message, e.Detail).ConfigureAwait(false);
    }

    private static async Task WriteErrorBodyAsync(HttpResponse response, string code, string message, string? detail)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("errors");
            w.WriteStartObject();
            w.WriteString("code", code);
            w.WriteString("message", message);
            if (detail is not null)
            {
                w.WriteString("detail", detail);
            }
            else
            {
                w.WriteNull("detail");
            }
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory).ConfigureAwait(false);
    }

    private static Task WriteJsonAsync(HttpContext context, int status, string contentType, ArrayBufferWriter<byte> body)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = body.WrittenCount;
        return response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted).AsTask();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 11001, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
        public static partial void RequestFailed(ILogger logger, string method, string path, Exception exception);
    }
}
