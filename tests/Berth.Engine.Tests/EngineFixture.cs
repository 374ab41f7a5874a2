using Berth.Engine;
using Berth.Engine.Api;
using Berth.Images.BaseImages;
using Berth.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Berth.Engine.Tests;

/// <summary>
/// A daemon (engine + Docker API) in this process on a temp data root, exec root and socket, with the busybox
/// image built from the host's busybox-static. Tests drive it with the real docker CLI.
/// </summary>
public sealed class EngineFixture : IAsyncLifetime
{
    private TempDirectory? _dir;

    public ContainerEngine Engine { get; private set; } = null!;

    public DockerApiServer Server { get; private set; } = null!;

    public string Socket => Server.SocketPath;

    public string Root => _dir!.Path;

    public static string Docker => "/usr/local/bin/docker";

    public async Task InitializeAsync()
    {
        Privileged.Require();
        // Short: the shim's socket lives below the exec root and unix socket paths are limited.
        _dir = new TempDirectory("be");
        Engine = await StartEngineAsync(_dir.Path);
        Server = await DockerApiServer.StartAsync(Engine, _dir.Combine("berth.sock"));
    }

    internal static async Task<ContainerEngine> StartEngineAsync(string root, bool withImage = true, string? cniPluginDirectory = null, string? bridge = null)
    {
        var options = new EngineOptions
        {
            // A bridge of its own: other daemons (and other test runs) may be up on this host at the same time.
            DefaultBridge = bridge ?? "bt" + Guid.NewGuid().ToString("N")[..8],
            CniPluginDirectory = cniPluginDirectory,
            DataRoot = Path.Combine(root, "data"),
            ExecRoot = Path.Combine(root, "exec"),
            SocketPath = Path.Combine(root, "berth.sock"),
            RuntimePath = Repo.Executable("berth-runtime"),
            ShimPath = Repo.Executable("berth-shim"),
            InitPath = File.Exists(Path.Combine(Repo.Out, "berth-init")) ? Path.Combine(Repo.Out, "berth-init") : null,
        };
        var engine = await ContainerEngine.OpenAsync(options, NullLogger.Instance);
        if (withImage)
        {
            await engine.Images.TagAsync("busybox:latest", await BaseImageBuilder.BuildBusyboxAsync(engine.Images.Content));
        }
        return engine;
    }

    /// <summary>docker -H unix://SOCKET args..., with a timeout so a hang fails the test instead of the run.</summary>
    public Cli.Result Run(params string[] args) => RunOn(Socket, args);

    public static Cli.Result RunOn(string socket, params string[] args) =>
        Cli.Run(Docker, ["-H", "unix://" + socket, .. args], timeout: TimeSpan.FromSeconds(60));

    public async Task DisposeAsync()
    {
        if (Engine is not null)
        {
            foreach (var c in Engine.List())
            {
                try
                {
                    await Engine.RemoveAsync(c, force: true, CancellationToken.None);
                }
                catch (Berth.Core.BerthException)
                {
                }
            }
            await Server.DisposeAsync();
            await Engine.DisposeAsync();
        }
        _dir?.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
