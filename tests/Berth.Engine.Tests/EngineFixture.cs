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
public class EngineFixture : IAsyncLifetime
{
    private TempDirectory? _dir;
    private HostNetworkState? _hostState;

    /// <summary>The CNI plugins the engine runs: null for Berth's (out/cni), /usr/lib/cni for the reference plugins.</summary>
    protected virtual string? CniPluginDirectory => null;

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
        _hostState = HostNetworkState.Record();
        Engine = await StartEngineAsync(_dir.Path, cniPluginDirectory: CniPluginDirectory);
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
            var bridges = Engine.Networks.List().Where(n => n.Bridge is not null).Select(n => n.Bridge!).ToList();
            await Engine.DisposeAsync();
            _hostState?.Restore(bridges, Engine.Networks.IsolationTable);
        }
        _dir?.Dispose();
    }
}

/// <summary>The same engine with Debian's reference CNI plugins (containernetworking-plugins) in place of Berth's.</summary>
public sealed class ReferencePluginsEngineFixture : EngineFixture
{
    protected override string? CniPluginDirectory => "/usr/lib/cni";
}

[CollectionDefinition(Name)]
public sealed class ReferencePluginsCollection : ICollectionFixture<ReferencePluginsEngineFixture>
{
    public const string Name = "engine-reference-cni";
}

/// <summary>
/// What engine tests change on the host's networking, put back afterwards: ip_forward (the bridge plugins turn it
/// on), the bridges of the test daemons' networks and their isolation table, and the "ip"/"ip6" nat tables iptables-nft makes for the
/// reference plugins when they did not exist before and hold nothing but their CNI-* chains (ReferenceNatTables).
/// </summary>
public sealed class HostNetworkState
{
    private string _forward = "0";
    private ReferenceNatTables _nat = null!;

    public static HostNetworkState Record() => new()
    {
        _forward = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim(),
        _nat = ReferenceNatTables.Record(),
    };

    public void Restore(IEnumerable<string> bridges, string isolationTable)
    {
        foreach (var b in bridges)
        {
            Cli.Run("ip", ["link", "delete", b]);
        }
        Cli.Run("nft", ["delete", "table", "ip", isolationTable]);
        _nat.RemoveMade();
        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", _forward);
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
