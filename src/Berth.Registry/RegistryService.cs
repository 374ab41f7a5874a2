using Berth.Registry.Auth;
using Berth.Registry.Http;
using Berth.Registry.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Registry;

/// <summary>
/// The registry as a request handler, to embed in any ASP.NET Core host: it answers /v2/..., /token and /metrics.
/// <see cref="RegistryServer"/> is the standalone Kestrel host around it.
/// </summary>
public sealed class RegistryService : IDisposable
{
    private readonly RegistryHandler _handler;
    private readonly TokenEndpoint _token;
    private readonly RegistryAuth _auth;
    private readonly RegistryMetrics _metrics = new();
    private readonly RegistryStorage _storage;
    private readonly RegistryOptions _options;

    public RegistryService(RegistryOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if ((options.TlsCertificateFile is null) != (options.TlsKeyFile is null))
        {
            throw Berth.Core.BerthException.InvalidArgument("TLS needs both a certificate and a key file (--tls-cert and --tls-key)");
        }
        _options = options;
        _storage = new RegistryStorage(options.RootDirectory, options.TimeProvider);
        _auth = new RegistryAuth(options);
        _handler = new RegistryHandler(_storage, _auth, _metrics, options, logger ?? NullLogger.Instance);
        _token = new TokenEndpoint(_auth, _metrics);
    }

    public RegistryOptions Options => _options;

    /// <summary>True for the paths this service answers.</summary>
    public static bool Handles(PathString path) =>
        path.StartsWithSegments("/v2") || path == "/token" || path == "/metrics";

    public Task InvokeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path;
        if (path == "/token")
        {
            return _token.InvokeAsync(context);
        }
        if (path == "/metrics")
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            _metrics.Request(context.Request.Method, 200);
            return context.Response.WriteAsync(_metrics.Render(), context.RequestAborted);
        }
        return _handler.InvokeAsync(context);
    }

    /// <summary>Runs one garbage collection over this registry's store (safe while serving).</summary>
    public GarbageCollectionResult CollectGarbage(bool dryRun = false, CancellationToken ct = default)
    {
        var result = new RegistryGarbageCollector(_storage, _options).Run(dryRun, ct);
        if (!dryRun)
        {
            _metrics.GarbageCollected(result);
        }
        return result;
    }

    public void Dispose() => _auth.Dispose();
}

public static class RegistryApplicationBuilderExtensions
{
    /// <summary>Serves the registry's paths from <paramref name="service"/> and passes every other request on.</summary>
    public static IApplicationBuilder UseBerthRegistry(this IApplicationBuilder app, RegistryService service)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(service);
        return app.Use((context, next) => RegistryService.Handles(context.Request.Path) ? service.InvokeAsync(context) : next(context));
    }
}
