using Berth.Cli.Commands;
using Berth.ApiServer.Http;
using Berth.Store;
using Microsoft.Extensions.Logging;

namespace Berth.Server.Cli;

/// <summary>`berth server`: the Kubernetes-compatible API server on SQLite (default) or etcd.</summary>
public sealed class ServerCommand : ICommand
{
    public string Name => "server";

    public string Summary => "run the Kubernetes API server (control plane)";

    private const string Help = """
        Usage: berth server [options]

          --data-dir DIR             certificates, tokens and the SQLite store (default /var/lib/berth/server)
          --https-listen-port PORT   HTTPS port (default 6443; 0 picks a free one)
          --bind-address IP          address to listen on (default 127.0.0.1)
          --write-kubeconfig FILE    admin kubeconfig to write (default /etc/berth/admin.kubeconfig)
          --datastore-endpoint URL   etcd endpoint (e.g. http://127.0.0.1:2379); SQLite in --data-dir when absent
          --token-auth-file FILE     static tokens: token,user,uid,"group1,group2"
          --service-cidr CIDR        ClusterIP range (default 10.43.0.0/16)
          --debug                    log requests and show stack traces
        """;

    public async Task<int> RunAsync(CommandArgs args, CancellationToken cancellationToken)
    {
        if (args.Flag("help"))
        {
            Console.WriteLine(Help);
            return 0;
        }
        var dataDir = Path.GetFullPath(args.Option("data-dir", "/var/lib/berth/server"));
        var options = new ApiServerOptions
        {
            DataDir = dataDir,
            Port = args.Int("https-listen-port", 6443),
            BindAddress = args.Option("bind-address", "127.0.0.1"),
            KubeconfigPath = args.Option("write-kubeconfig", "/etc/berth/admin.kubeconfig"),
            TokenFile = args.Option("token-auth-file"),
            ServiceCidr = args.Option("service-cidr", "10.43.0.0/16"),
        };
        var endpoint = args.Option("datastore-endpoint");
        var debug = args.Debug;
        args.EnsureAllUsed();
        Directory.CreateDirectory(dataDir);
        var store = ClusterStore.Open(endpoint, dataDir);
        await using var host = await ApiServerHost.StartAsync(options, store, ownsStore: true, logging: b =>
        {
            b.AddSimpleConsole(o => o.SingleLine = true);
            b.SetMinimumLevel(debug ? LogLevel.Information : LogLevel.Warning);
        }, ct: cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"berth server: listening on {host.Url} (store: {endpoint ?? Path.Combine(dataDir, "state.db")})");
        if (options.KubeconfigPath is not null)
        {
            Console.WriteLine($"berth server: admin kubeconfig written to {options.KubeconfigPath}");
            Console.WriteLine($"  kubectl --kubeconfig {options.KubeconfigPath} get ns");
        }
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Console.WriteLine("berth server: stopping");
        return 0;
    }
}
