using Berth.Testing;

namespace Berth.Registry.Tests;

/// <summary>A registry started in-process on a free loopback port over a temp root.</summary>
internal sealed class RegistryHost : IAsyncDisposable
{
    private readonly TempDirectory? _ownedRoot;

    private RegistryHost(RegistryServer server, string root, TempDirectory? ownedRoot)
    {
        Server = server;
        Root = root;
        _ownedRoot = ownedRoot;
        Client = new HttpClient { BaseAddress = server.BaseAddress };
    }

    public RegistryServer Server { get; }

    public string Root { get; }

    public HttpClient Client { get; }

    public string HostPort => Server.HostPort;

    public static async Task<RegistryHost> StartAsync(Func<string, RegistryOptions>? configure = null, string? root = null)
    {
        TempDirectory? owned = null;
        if (root is null)
        {
            owned = new TempDirectory("berth-registry");
            root = owned.Combine("root");
        }
        var options = configure?.Invoke(root) ?? new RegistryOptions { RootDirectory = root };
        options = new RegistryOptions
        {
            RootDirectory = options.RootDirectory,
            ListenAddress = "127.0.0.1:0",
            HtpasswdFile = options.HtpasswdFile,
            AccessFile = options.AccessFile,
            AnonymousPull = options.AnonymousPull,
            Token = options.Token,
            TlsCertificateFile = options.TlsCertificateFile,
            TlsKeyFile = options.TlsKeyFile,
            MaxManifestBytes = options.MaxManifestBytes,
            GcGracePeriod = options.GcGracePeriod,
            UploadExpiry = options.UploadExpiry,
            TimeProvider = options.TimeProvider,
        };
        var server = await RegistryServer.StartAsync(options);
        return new RegistryHost(server, root, owned);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        _ownedRoot?.Dispose();
    }
}
