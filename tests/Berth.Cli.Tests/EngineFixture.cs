using System.Diagnostics;
using System.Net.Sockets;
using Berth.Testing;
using Proc = Berth.Testing.Cli;

namespace Berth.Cli.Tests;

/// <summary>
/// A Docker Engine API server on a private socket for the CLI's integration tests, with busybox:latest imported.
/// By default Debian's dockerd 20.10 (own data root, exec root, pidfile, its own managed containerd, no bridge,
/// no iptables); with BERTH_TEST_ENGINE=berth, `out/berth daemon` on a temp socket and root instead, so the same
/// tests check Berth's engine (BERTH_TEST_DAEMON=PATH takes the daemon from another build). Stops only what it started.
/// </summary>
public sealed class EngineFixture : IDisposable
{
    private readonly Process _daemon;
    private readonly string _root;

    /// <summary>Both engines turn ip_forward on for their bridges; the host gets its own value back at the end.</summary>
    private readonly string _ipForward = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();

    public EngineFixture()
    {
        Privileged.Require();
        // Short: unix socket paths are limited to 108 bytes.
        _root = Directory.CreateTempSubdirectory("bcli-").FullName;
        Socket = Path.Combine(_root, "engine.sock");
        Kind = Environment.GetEnvironmentVariable("BERTH_TEST_ENGINE") is "berth" ? "berth" : "dockerd";
        var log = Path.Combine(_root, "daemon.log");
        ProcessStartInfo psi;
        if (Kind == "berth")
        {
            // BERTH_TEST_DAEMON names another build's berth (its runtime and shim beside it); default out/berth.
            var daemon = Environment.GetEnvironmentVariable("BERTH_TEST_DAEMON") is { Length: > 0 } d ? d : Repo.Executable("berth");
            var dir = Path.GetDirectoryName(daemon)!;
            psi = new ProcessStartInfo(daemon)
            {
                // --bridge none: no default bridge network, like dockerd's --bridge=none below, so both engines run the same tests alike.
                ArgumentList = { "daemon", "-H", "unix://" + Socket, "--data-root", Path.Combine(_root, "data"), "--exec-root", Path.Combine(_root, "exec"), "--bridge", "none" },
            };
            // Name the runtime and shim beside the daemon, so another build's berth (BERTH_TEST_DAEMON) runs with its own.
            foreach (var (flag, exe) in new[] { ("--runtime", "berth-runtime"), ("--shim", "berth-shim") })
            {
                if (File.Exists(Path.Combine(dir, exe)))
                {
                    psi.ArgumentList.Add(flag);
                    psi.ArgumentList.Add(Path.Combine(dir, exe));
                }
            }
        }
        else
        {
            File.WriteAllText(Path.Combine(_root, "daemon.json"), "{}");
            psi = new ProcessStartInfo("/usr/sbin/dockerd")
            {
                ArgumentList =
                {
                    "-H", "unix://" + Socket, "--data-root", Path.Combine(_root, "data"), "--exec-root", Path.Combine(_root, "exec"),
                    "--pidfile", Path.Combine(_root, "dockerd.pid"), "--config-file", Path.Combine(_root, "daemon.json"),
                    "--bridge=none", "--iptables=false", "--ip6tables=false", "--log-level=warn",
                },
            };
            if (!File.Exists(psi.FileName))
            {
                throw new InvalidOperationException("/usr/sbin/dockerd is missing: apt-get install docker.io (deps/engine.apt)");
            }
        }
        psi.UseShellExecute = false;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        _daemon = Process.Start(psi)!;
        var logWriter = new StreamWriter(log) { AutoFlush = true };
        _daemon.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (logWriter) logWriter.WriteLine(e.Data); };
        _daemon.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (logWriter) logWriter.WriteLine(e.Data); };
        _daemon.BeginOutputReadLine();
        _daemon.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!CanConnect())
        {
            if (_daemon.HasExited || DateTime.UtcNow > deadline)
            {
                Dispose();
                throw new InvalidOperationException($"{Kind} did not come up on {Socket}; its log:\n" + SafeRead(log));
            }
            Thread.Sleep(100);
        }
        // busybox:latest from the host's busybox-static, imported through the docker CLI (a real client).
        var rootfs = BusyboxRootfs.Path;
        var import = Proc.Sh($"tar -C '{rootfs}' -c . | '{DockerCli}' -H 'unix://{Socket}' import - busybox:latest", TimeSpan.FromSeconds(120));
        if (import.ExitCode != 0)
        {
            Dispose();
            throw new InvalidOperationException("importing busybox failed: " + import.Stderr);
        }
    }

    /// <summary>dockerd or berth.</summary>
    public string Kind { get; }

    public string Socket { get; }

    public string Host => "unix://" + Socket;

    /// <summary>The docker CLI used to seed images (28 on the PATH, else Debian's).</summary>
    public static string DockerCli => File.Exists("/usr/local/bin/docker") ? "/usr/local/bin/docker" : "/usr/bin/docker";

    /// <summary>Runs out/berth against this engine.</summary>
    public Proc.Result Berth(params string[] args) => Berth(args, stdin: null);

    public Proc.Result Berth(string[] args, string? stdin, TimeSpan? timeout = null, string? workingDirectory = null) =>
        Proc.Run(Repo.Executable("berth"), args, stdin, timeout ?? TimeSpan.FromSeconds(120), workingDirectory,
            new Dictionary<string, string> { ["BERTH_HOST"] = Host, ["DOCKER_CONFIG"] = Path.Combine(_root, "docker-config") });

    /// <summary>A shell line with BERTH_HOST set (pipes, script -qec for a pty).</summary>
    public Proc.Result Shell(string script, TimeSpan? timeout = null) =>
        Proc.Run("/bin/sh", ["-c", script], timeout: timeout ?? TimeSpan.FromSeconds(120),
            env: new Dictionary<string, string> { ["BERTH_HOST"] = Host, ["BERTH"] = Repo.Executable("berth") });

    private bool CanConnect()
    {
        if (!File.Exists(Socket))
        {
            return false;
        }
        using var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(Socket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string SafeRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Dispose()
    {
        // Remove what the tests left (containers, networks), then stop the daemon we started (SIGTERM, then SIGKILL) and its containerd.
        if (!_daemon.HasExited)
        {
            Proc.Sh($"ids=$('{DockerCli}' -H 'unix://{Socket}' ps -aq); [ -z \"$ids\" ] || '{DockerCli}' -H 'unix://{Socket}' rm -f $ids", TimeSpan.FromSeconds(60));
            // Networks a failed test left: their bridges (and berth's isolation rules for them) go with them.
            Proc.Run(DockerCli, ["-H", Host, "network", "prune", "-f"], timeout: TimeSpan.FromSeconds(60));
            Proc.Run("/bin/kill", ["-TERM", _daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!_daemon.WaitForExit(30_000))
            {
                _daemon.Kill();
                _daemon.WaitForExit();
            }
        }
        var containerdPid = Path.Combine(_root, "exec", "containerd", "containerd.pid");
        if (File.Exists(containerdPid) && int.TryParse(File.ReadAllText(containerdPid).Trim(), out var pid) && pid > 0)
        {
            try
            {
                using var containerd = Process.GetProcessById(pid);
                if (containerd.ProcessName.Contains("containerd", StringComparison.Ordinal))
                {
                    containerd.Kill();
                    containerd.WaitForExit(10_000);
                }
            }
            catch (ArgumentException)
            {
                // Already gone with dockerd.
            }
        }
        // Mounts dockerd may leave under its roots (overlay, shm, netns) go before the directory does.
        Proc.Sh($"grep -o ' {_root}[^ ]*' /proc/self/mounts | sort -r | while read m; do umount -l \"$m\"; done; true");
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        _daemon.Dispose();
        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", _ipForward);
    }
}

[CollectionDefinition(Name)]
public sealed class EngineCollection : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
