using System.Diagnostics;
using Berth.ApiServer.Http;
using Berth.Store;
using Berth.Testing;

namespace Berth.ApiServer.Tests;

/// <summary>An API server on 127.0.0.1:0 over a fresh store and data directory, with an admin kubeconfig.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly TempDirectory _dir = new("berth-apiserver");

    /// <summary>
    /// The store under test: in memory by default; BERTH_APISERVER_STORE=sqlite or etcd=http://127.0.0.1:2379 runs
    /// the same suites on the real implementations (Berth.Store's ClusterStore.Open).
    /// </summary>
    public IClusterStore Store { get; private set; } = null!;

    public ApiServerHost Host { get; private set; } = null!;

    public string DataDir => _dir.Path;

    public string Kubeconfig => _dir.Combine("admin.kubeconfig");

    public async Task InitializeAsync()
    {
        var choice = Environment.GetEnvironmentVariable("BERTH_APISERVER_STORE") ?? "memory";
        Directory.CreateDirectory(_dir.Combine("data"));
        Store = choice switch
        {
            "memory" => new InMemoryClusterStore(),
            "sqlite" => ClusterStore.Open(null, _dir.Combine("data")),
            _ when choice.StartsWith("etcd=", StringComparison.Ordinal) => ClusterStore.Open(choice[5..], _dir.Combine("data")),
            _ => throw new InvalidOperationException("BERTH_APISERVER_STORE must be memory, sqlite or etcd=URL"),
        };
        Host = await ApiServerHost.StartAsync(new ApiServerOptions
        {
            DataDir = _dir.Combine("data"),
            Port = 0,
            KubeconfigPath = Kubeconfig,
            CompactionInterval = TimeSpan.Zero,
        }, Store);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>A kubeconfig for another user (client certificate signed by the cluster CA).</summary>
    public string KubeconfigFor(string user, params string[] groups)
    {
        var path = _dir.Combine(user + ".kubeconfig");
        Host.WriteKubeconfig(path, Host.Pki.IssueClient(user, groups, TimeProvider.System), user);
        return path;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    /// <summary>Runs the real kubectl against the server.</summary>
    public async Task<Result> KubectlAsync(string args, string? stdin = null, string? kubeconfig = null, int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo("kubectl")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("--kubeconfig");
        psi.ArgumentList.Add(kubeconfig ?? Kubeconfig);
        foreach (var a in SplitArgs(args))
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["HOME"] = _dir.Path;
        psi.Environment["KUBECACHEDIR"] = _dir.Combine("kubecache");
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(true);
            throw new TimeoutException($"kubectl {args} did not finish in {timeoutSeconds}s");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    public static IEnumerable<string> SplitArgs(string args)
    {
        var cur = new System.Text.StringBuilder();
        char? quote = null;
        foreach (var c in args)
        {
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else
                {
                    cur.Append(c);
                }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == ' ')
            {
                if (cur.Length > 0)
                {
                    yield return cur.ToString();
                    cur.Clear();
                }
            }
            else
            {
                cur.Append(c);
            }
        }
        if (cur.Length > 0)
        {
            yield return cur.ToString();
        }
    }
}
