using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Berth.ApiServer.Machinery;
using Berth.ApiServer.Registry;
using Berth.ApiServer.Security;
using Berth.ApiServer.Storage;
using Berth.Core;
using Berth.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.ApiServer.Http;

/// <summary>
/// A running API server: Kestrel with TLS and client-certificate authentication on the given address, the watch
/// hub, the control loops, and the admin credentials (kubeconfig and token). The store is handed in, so the host
/// stays independent of which implementation (SQLite, etcd) backs it.
/// </summary>
public sealed class ApiServerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly WatchHub _hub;
    private readonly Controllers _controllers;
    private readonly IClusterStore _store;
    private readonly bool _ownsStore;
    private readonly ObjectStore _objects;

    private ApiServerHost(WebApplication app, WatchHub hub, Controllers controllers, ObjectStore objects, IClusterStore store, bool ownsStore, ClusterPki pki, int port, string host,
        string adminToken, ResourceRegistry registry, Authenticator authenticator)
    {
        _app = app;
        _objects = objects;
        _hub = hub;
        _controllers = controllers;
        _store = store;
        _ownsStore = ownsStore;
        Pki = pki;
        Port = port;
        Url = $"https://{host}:{port}";
        AdminToken = adminToken;
        Registry = registry;
        Authenticator = authenticator;
    }

    public ClusterPki Pki { get; }

    public int Port { get; }

    /// <summary>https://address:port as clients should use it.</summary>
    public string Url { get; }

    public string AdminToken { get; }

    public ResourceRegistry Registry { get; }

    public Authenticator Authenticator { get; }

    public int WatcherCount => _hub.SubscriberCount;

    public static async Task<ApiServerHost> StartAsync(ApiServerOptions options, IClusterStore store, bool ownsStore = true,
        Action<ILoggingBuilder>? logging = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        time ??= TimeProvider.System;
        var tlsDir = Path.Combine(options.DataDir, "tls");
        if (!IPAddress.TryParse(options.BindAddress, out var bind))
        {
            throw BerthException.InvalidArgument($"--bind-address {options.BindAddress} is not an IP address");
        }
        var advertised = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : options.BindAddress;
        var pki = ClusterPki.LoadOrCreate(tlsDir, [options.BindAddress, advertised, Dns.GetHostName()], time);
        var tokens = options.TokenFile is not null ? Authenticator.LoadTokenFile(options.TokenFile) : [];
        var adminToken = LoadOrCreateAdminToken(tlsDir);
        tokens.TryAdd(adminToken, new UserInfo("admin", ["system:masters"], "admin"));
        var authenticator = new Authenticator(pki, tokens);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "berth-apiserver" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 4 * 1024 * 1024;
            k.Limits.MinResponseDataRate = null;
            k.Limits.Http2.MaxStreamsPerConnection = 1000;
            k.Listen(bind, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = pki.Serving,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    // Verified by the authenticator, so an unknown certificate is a 401, not a TLS failure.
                    ClientCertificateValidation = (_, _, _) => true,
                    CheckCertificateRevocation = false,
                });
            });
        });
        var app = builder.Build();
        var loggerFactory = app.Services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger("Berth.ApiServer");

        var registry = new ResourceRegistry();
        var objects = new ObjectStore(store);
        var hub = new WatchHub(store, logger);
        await hub.StartAsync(ct).ConfigureAwait(false);
        // Informer-style caches of what admission consults on every create (NamespaceLifecycle, ResourceQuota), so
        // a create is one store write instead of a namespace read, a quota list and the write.
        var namespaces = objects.AddCache(hub, registry.FindAnyVersion("", "namespaces")!.StoragePrefix, logger);
        var quotas = objects.AddCache(hub, registry.FindAnyVersion("", "resourcequotas")!.StoragePrefix, logger);
        await namespaces.StartAsync(ct).ConfigureAwait(false);
        await quotas.StartAsync(ct).ConfigureAwait(false);
        var admission = new Admission(objects, registry, options.ServiceCidr, namespaces, quotas);
        var authorizer = new RbacAuthorizer(objects, registry);
        var lifetime = app.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
        var handler = new ApiHandler(registry, objects, hub, authenticator, authorizer, admission, time, logger, $"{advertised}:{options.Port}")
        {
            Stopping = lifetime.ApplicationStopping,
        };
        app.Run(handler.HandleAsync);
        await app.StartAsync(ct).ConfigureAwait(false);
        var port = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(a => new Uri(a.Replace("[::]", "localhost", StringComparison.Ordinal).Replace("0.0.0.0", "localhost", StringComparison.Ordinal)).Port).First();
        handler.ServerAddress = $"{advertised}:{port}";
        var controllers = new Controllers(new ObjectService(objects, registry, admission, time), admission, hub, logger, time, pki.CaPem, options, advertised, port);
        await controllers.StartAsync(ct).ConfigureAwait(false);
        var host = new ApiServerHost(app, hub, controllers, objects, store, ownsStore, pki, port, advertised, adminToken, registry, authenticator);
        if (options.KubeconfigPath is not null)
        {
            host.WriteKubeconfig(options.KubeconfigPath, pki.Admin);
        }
        return host;
    }

    private static string LoadOrCreateAdminToken(string tlsDir)
    {
        var path = Path.Combine(tlsDir, "admin.token");
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        AtomicFile.WriteAllText(path, token + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return token;
    }

    /// <summary>Writes a kubeconfig for a client certificate (temp + rename, mode 0600).</summary>
    public void WriteKubeconfig(string path, X509Certificate2 client, string user = "admin") =>
        WriteKubeconfigFor(path, user,
            "    client-certificate-data: " + Base64(client.ExportCertificatePem() + "\n") + "\n" +
            "    client-key-data: " + Base64(ClusterPki.KeyPem(client) + "\n"));

    /// <summary>A kubeconfig authenticating with a bearer token.</summary>
    public void WriteTokenKubeconfig(string path, string token, string user) =>
        WriteKubeconfigFor(path, user, "    token: " + token);

    private static string Base64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    /// <summary>One cluster and context named berth; <paramref name="credentials"/> are the user's lines, indented.</summary>
    private void WriteKubeconfigFor(string path, string user, string credentials)
    {
        var yaml = $"""
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
                certificate-authority-data: {Base64(Pki.CaPem + "\n")}
                server: {Url}
              name: berth
            contexts:
            - context:
                cluster: berth
                user: {user}
              name: berth
            current-context: berth
            users:
            - name: {user}
              user:
            {credentials}
            preferences: {"{}"}

            """;
        WriteSecret(path, yaml);
    }

    private static void WriteSecret(string path, string text)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(path, text);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>Drops history older than <paramref name="revision"/> (store and watch window); older watches get 410.</summary>
    public Task CompactAsync(long revision, CancellationToken ct = default) => _controllers.CompactAsync(revision, ct);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _controllers.DisposeAsync().ConfigureAwait(false);
        await _objects.DisposeAsync().ConfigureAwait(false);
        await _hub.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        if (_ownsStore)
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
    }
}
