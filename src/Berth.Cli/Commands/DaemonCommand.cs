using Berth.Core;
using Berth.Engine;
using Berth.Engine.Api;
using Microsoft.Extensions.Logging;

namespace Berth.Cli.Commands;

/// <summary>`berth daemon`: the container engine with the Docker Engine API on a unix socket.</summary>
public sealed class DaemonCommand : ICommand
{
    public string Name => "daemon";

    public string Summary => "run the container engine (Docker Engine API on a unix socket)";

    private const string Help = """
        Usage: berth daemon [options]

          -H, --host unix:///PATH   socket to serve the Docker Engine API on (default unix:///run/berth/berth.sock)
          --data-root DIR           images, containers and logs (default /var/lib/berth)
          --exec-root DIR           shim state, bundles, runtime state (default /run/berth)
          --runtime PATH|NAME       OCI runtime: berth-runtime (default), runc or crun
          --shim PATH               berth-shim (default: next to berth, else on PATH)
          --init-path PATH          berth-init for --init (default: next to berth, else on PATH)
          --cni-bin-dir DIR         CNI plugins for bridge networks (default: Berth's, cni/ next to berth;
                                    /usr/lib/cni for the reference plugins)
          --bridge NAME             the default bridge network's device (default berth0; none: no default bridge)
          --debug                   log requests and show stack traces

        Then: docker -H unix:///run/berth/berth.sock run --rm busybox echo hi
        """;

    public async Task<int> RunAsync(CommandArgs args, CancellationToken cancellationToken)
    {
        if (args.Flag("help"))
        {
            Console.WriteLine(Help);
            return 0;
        }
        var host = args.Option("host");
        for (var i = 0; i < args.Positionals.Count; i++)
        {
            if (args.Positionals[i] == "-H" && i + 1 < args.Positionals.Count)
            {
                host = args.Positionals[i + 1];
                args.Positionals.RemoveRange(i, 2);
                break;
            }
        }
        if (args.Positionals.Count > 0)
        {
            throw BerthException.InvalidArgument($"unexpected argument '{args.Positionals[0]}'; see 'berth daemon --help'");
        }
        host ??= "unix:///run/berth/berth.sock";
        if (!host.StartsWith("unix://", StringComparison.Ordinal))
        {
            throw BerthException.Unsupported($"host {host}: only unix:///PATH sockets are served (no TCP without TLS)");
        }
        var socket = host["unix://".Length..];
        var dataRoot = Path.GetFullPath(args.Option("data-root", "/var/lib/berth"));
        var execRoot = Path.GetFullPath(args.Option("exec-root", "/run/berth"));
        var runtime = Locate(args.Option("runtime", "berth-runtime"), "--runtime");
        var shim = Locate(args.Option("shim", "berth-shim"), "--shim");
        var initOption = args.Option("init-path");
        var init = initOption is not null ? Locate(initOption, "--init-path") : TryLocate("berth-init");
        var cniBinDir = args.Option("cni-bin-dir");
        if (cniBinDir is not null && !Directory.Exists(cniBinDir))
        {
            throw BerthException.NotFound($"--cni-bin-dir {cniBinDir}: no such directory; give the directory holding bridge, host-local and portmap");
        }
        var bridge = args.Option("bridge");
        var debug = args.Debug;
        args.EnsureAllUsed();
        using var loggerFactory = LoggerFactory.Create(b =>
        {
            b.AddSimpleConsole(o => o.SingleLine = true);
            b.SetMinimumLevel(debug ? LogLevel.Information : LogLevel.Warning);
        });
        // Only what was given is passed: the engine owns the defaults (cni/ beside the runtime, its default bridge).
        var options = new EngineOptions
        {
            SocketPath = socket, DataRoot = dataRoot, ExecRoot = execRoot, RuntimePath = runtime, ShimPath = shim, InitPath = init,
            CniPluginDirectory = cniBinDir is null ? null : Path.GetFullPath(cniBinDir),
            DefaultBridge = bridge ?? new EngineOptions { RuntimePath = runtime, ShimPath = shim }.DefaultBridge,
        };
        var engine = await ContainerEngine.OpenAsync(options, loggerFactory.CreateLogger("Berth.Engine"), cancellationToken).ConfigureAwait(false);
        await using (engine.ConfigureAwait(false))
        {
            var server = await DockerApiServer.StartAsync(engine, socket, b =>
            {
                b.AddSimpleConsole(o => o.SingleLine = true);
                b.SetMinimumLevel(debug ? LogLevel.Information : LogLevel.Warning);
            }, cancellationToken).ConfigureAwait(false);
            await using (server.ConfigureAwait(false))
            {
                Console.WriteLine($"berth daemon: listening on unix://{socket} (data root {dataRoot}, exec root {execRoot}, runtime {runtime})");
                Console.WriteLine($"  docker -H unix://{socket} version");
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                Console.WriteLine("berth daemon: stopping (running containers keep running)");
            }
        }
        return 0;
    }

    /// <summary>An explicit path, or a name found next to the berth executable, then on PATH.</summary>
    internal static string Locate(string nameOrPath, string flag) =>
        TryLocate(nameOrPath) ?? throw BerthException.NotFound($"{flag} {nameOrPath}: not found next to berth ({AppContext.BaseDirectory}) or on PATH; build it (make) or give a full path");

    internal static string? TryLocate(string nameOrPath)
    {
        if (nameOrPath.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(nameOrPath) ? Path.GetFullPath(nameOrPath) : null;
        }
        var candidates = new List<string> { Path.Combine(AppContext.BaseDirectory, nameOrPath) };
        if (Environment.ProcessPath is { } exe)
        {
            candidates.Add(Path.Combine(Path.GetDirectoryName(exe)!, nameOrPath));
        }
        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, nameOrPath)));
        return candidates.FirstOrDefault(File.Exists);
    }
}
