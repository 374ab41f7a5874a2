using System.Globalization;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Berth.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Berth.Registry;

/// <summary>A registry on its own Kestrel listener: <c>await using var r = await RegistryServer.StartAsync(options, ct)</c>.</summary>
public sealed class RegistryServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RegistryServer(WebApplication app, RegistryService service, Uri baseAddress)
    {
        _app = app;
        Service = service;
        BaseAddress = baseAddress;
    }

    public RegistryService Service { get; }

    /// <summary>Where the registry listens, e.g. http://127.0.0.1:41234/ (the real port when 0 was asked for).</summary>
    public Uri BaseAddress { get; }

    /// <summary>"host:port" as clients such as skopeo write it in image references.</summary>
    public string HostPort => BaseAddress.Authority;

    public static async Task<RegistryServer> StartAsync(RegistryOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if ((options.TlsCertificateFile is null) != (options.TlsKeyFile is null))
        {
            throw BerthException.InvalidArgument("TLS needs both a certificate and a key file (--tls-cert and --tls-key)");
        }
        var endpoint = ParseAddress(options.ListenAddress);
        X509Certificate2? certificate = null;
        if (options.TlsCertificateFile is not null && options.TlsKeyFile is not null)
        {
            try
            {
                certificate = X509Certificate2.CreateFromPemFile(options.TlsCertificateFile, options.TlsKeyFile);
            }
            catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
            {
                throw BerthException.InvalidArgument($"cannot load TLS certificate {options.TlsCertificateFile} with key {options.TlsKeyFile}: {e.Message}");
            }
        }
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        options.Logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            // Slow clients are not an attack vector worth dropping pulls for: a client writing layers to a busy
            // disk can stall reads for seconds, and Kestrel's default minimum rate would reset its connection.
            kestrel.Limits.MinRequestBodyDataRate = null;
            kestrel.Limits.MinResponseDataRate = null;
            // Let a blob GET read its next chunk while the previous one is still being sent (FileSender writes
            // 256 KiB chunks; with the 64 KiB default every flush waited for the socket to drain).
            kestrel.Limits.MaxResponseBufferSize = 2 * 1024 * 1024;
            kestrel.Listen(endpoint, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        RegistryService service;
        try
        {
            service = new RegistryService(options, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Berth.Registry"));
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        app.UseBerthRegistry(service);
        app.Run(context =>
        {
            context.Response.StatusCode = 404;
            return Task.CompletedTask;
        });
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            service.Dispose();
            await app.DisposeAsync().ConfigureAwait(false);
            throw new BerthException(ErrorCode.Unavailable, $"cannot listen on {options.ListenAddress}: {e.Message}; pick another --addr", e);
        }
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        var uri = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        return new RegistryServer(app, service, uri);
    }

    /// <summary>"host:port", ":port", "[v6]:port" or "host" (port 5000).</summary>
    internal static IPEndPoint ParseAddress(string address)
    {
        var host = address;
        var port = 5000;
        var colon = address.LastIndexOf(':');
        if (colon >= 0 && !address.EndsWith(']'))
        {
            host = address[..colon];
            if (!int.TryParse(address[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535)
            {
                throw BerthException.InvalidArgument($"'{address}' has an invalid port; use HOST:PORT, e.g. 127.0.0.1:5000");
            }
        }
        host = host.Trim('[', ']');
        if (host.Length == 0)
        {
            return new IPEndPoint(IPAddress.Any, port);
        }
        if (host == "localhost")
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }
        if (IPAddress.TryParse(host, out var ip))
        {
            return new IPEndPoint(ip, port);
        }
        var resolved = Dns.GetHostAddresses(host);
        return resolved.Length > 0
            ? new IPEndPoint(resolved[0], port)
            : throw BerthException.InvalidArgument($"cannot resolve '{host}' in --addr {address}");
    }

    public async Task StopAsync(CancellationToken ct = default) => await _app.StopAsync(ct).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            Service.Dispose();
        }
    }
}
