using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Berth.Testing;

namespace Berth.Store.Tests;

/// <summary>
/// A real etcd (Debian's etcd-server) on free loopback ports in a temporary data directory, started once per
/// test class and killed by its PID at the end.
/// </summary>
public sealed class EtcdServer : IAsyncLifetime
{
    private const string Binary = "/usr/bin/etcd";
    private readonly TempDirectory dir = new("berth-etcd");
    private readonly StringBuilder output = new();
    private Process? process;

    public string Endpoint { get; private set; } = "";

    public async Task InitializeAsync()
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing; install etcd-server (listed in deps/store.apt)");
        }
        clientPort = FreePort();
        peerPort = FreePort();
        Endpoint = $"http://127.0.0.1:{clientPort}";
        await StartAsync();
    }

    private int clientPort;
    private int peerPort;

    /// <summary>Kills etcd (SIGKILL, by its PID) to show what clients see when their server goes away.</summary>
    public async Task KillAsync()
    {
        if (process is { HasExited: false })
        {
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Starts etcd again on the same ports and data directory.</summary>
    public async Task StartAsync()
    {
        var peer = peerPort;
        process?.Dispose();
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--name", "berth-test",
            "--data-dir", dir.Combine("data"),
            "--listen-client-urls", Endpoint,
            "--advertise-client-urls", Endpoint,
            "--listen-peer-urls", $"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
            "--initial-cluster", $"berth-test=http://127.0.0.1:{peer}",
            "--log-level", "warn",
        })
        {
            info.ArgumentList.Add(arg);
        }
        process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"etcd exited with {process.ExitCode}: {Output}");
            }
            try
            {
                await using var store = await EtcdClusterStore.ConnectAsync(Endpoint, new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });
                return;
            }
            catch (Berth.Core.BerthException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    public Task<EtcdClusterStore> ConnectAsync(ClusterStoreOptions? options = null)
        => EtcdClusterStore.ConnectAsync(Endpoint, options ?? new ClusterStoreOptions { CompactionInterval = TimeSpan.Zero });

    public async Task DisposeAsync()
    {
        if (process is not null)
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
        dir.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
    }

    internal static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
