using System.Diagnostics;
using Berth.Testing;
using Proc = Berth.Testing.Cli;

namespace Berth.Cli.Tests;

/// <summary>
/// out/berth is NativeAOT (no CoreCLR, no JIT in the running daemon) and hands `berth server` to berth-server
/// (ReadyToRun) with execve: the same process id, its stdio and its signals. Needs `make cli` outputs in out/.
/// </summary>
public sealed class NativeAotHostTests
{
    private static readonly string[] ManagedRuntimeLibraries = ["libcoreclr.so", "libclrjit.so", "libhostfxr.so", "System.Private.CoreLib.dll"];

    [Fact]
    [Trait(Traits.Category, Traits.Privileged)]
    public void The_daemon_runs_without_the_managed_runtime_or_the_jit()
    {
        Privileged.Require();
        using var root = new TempDirectory("baot");
        var socket = root.Combine("d.sock");
        var psi = new ProcessStartInfo(Repo.Executable("berth"))
        {
            ArgumentList = { "daemon", "-H", "unix://" + socket, "--data-root", root.Combine("data"), "--exec-root", root.Combine("exec"), "--bridge", "none" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var daemon = Process.Start(psi)!;
        try
        {
            WaitFor(() => File.Exists(socket), daemon, "the daemon's socket");
            var maps = File.ReadAllText($"/proc/{daemon.Id}/maps");
            Assert.Contains(Path.GetFullPath(Repo.Executable("berth")), maps, StringComparison.Ordinal);
            foreach (var library in ManagedRuntimeLibraries)
            {
                Assert.DoesNotContain(library, maps, StringComparison.Ordinal);
            }
            // And it serves: the CLI (also NativeAOT) lists no containers.
            var ps = Proc.Run(Repo.Executable("berth"), ["-H", "unix://" + socket, "ps", "-q"]).Ok();
            Assert.Equal("", ps.Stdout.Trim());
        }
        finally
        {
            Stop(daemon);
        }
        Assert.Equal(0, daemon.ExitCode);
    }

    [Fact]
    public void Server_help_is_answered_by_berth_server()
    {
        var help = Proc.Run(Repo.Executable("berth"), ["server", "--help"]).Ok();
        Assert.Contains("Usage: berth server", help.Stdout, StringComparison.Ordinal);
        Assert.Contains("--datastore-endpoint", help.Stdout, StringComparison.Ordinal);
        var typo = Proc.Run(Repo.Executable("berth"), ["server", "--no-such-flag"]);
        Assert.Equal(1, typo.ExitCode);
        Assert.Contains("berth: server: unknown option --no-such-flag", typo.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_berth_server_beside_it_berth_server_fails_with_the_fix()
    {
        using var dir = new TempDirectory("baot");
        var alone = dir.Combine("berth");
        File.Copy(Repo.Executable("berth"), alone);
        File.SetUnixFileMode(alone, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var result = Proc.Run(alone, ["server", "--help"]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"berth-server: not found next to {alone}", result.Stderr, StringComparison.Ordinal);
        // The other commands do not need it.
        Proc.Run(alone, ["--help"]).Ok();
    }

    [Fact]
    [Trait(Traits.Category, Traits.Privileged)]
    public async Task Server_keeps_the_process_id_stdio_and_signals_of_the_berth_that_was_started()
    {
        Privileged.Require();
        using var root = new TempDirectory("baot");
        var kubeconfig = root.Combine("admin.kubeconfig");
        var psi = new ProcessStartInfo(Repo.Executable("berth"))
        {
            ArgumentList = { "server", "--data-dir", root.Combine("server"), "--https-listen-port", "0", "--write-kubeconfig", kubeconfig },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var server = Process.Start(psi)!;
        var stdout = server.StandardOutput.ReadToEndAsync();
        var stderr = server.StandardError.ReadToEndAsync();
        try
        {
            WaitFor(() => File.Exists(kubeconfig), server, "the kubeconfig");
            // The pid we started is now berth-server (R2R on CoreCLR), not berth.
            var exe = new FileInfo($"/proc/{server.Id}/exe").ResolveLinkTarget(returnFinalTarget: false)!.FullName;
            Assert.Equal("berth-server", Path.GetFileName(exe));
            Assert.Contains("libcoreclr.so", File.ReadAllText($"/proc/{server.Id}/maps"), StringComparison.Ordinal);
            var ns = Proc.Run("kubectl", ["--kubeconfig", kubeconfig, "get", "ns", "default", "-o", "name"], timeout: TimeSpan.FromSeconds(60)).Ok();
            Assert.Equal("namespace/default", ns.Stdout.Trim());
        }
        finally
        {
            Stop(server);
        }
        Assert.Equal(0, server.ExitCode);
        var output = await stdout;
        Assert.Contains("berth server: listening on https://127.0.0.1:", output, StringComparison.Ordinal);
        Assert.Contains("berth server: stopping", output, StringComparison.Ordinal);
        Assert.DoesNotContain("berth-server", await stderr, StringComparison.Ordinal);
    }

    private static void WaitFor(Func<bool> condition, Process process, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!condition())
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the process exited ({process.ExitCode}) before {what} appeared: {process.StandardError.ReadToEnd()}");
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what} did not appear in 90 s");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>SIGTERM (what `kill` and systemd send), then wait; SIGKILL only if it does not stop.</summary>
    private static void Stop(Process process)
    {
        if (process.HasExited)
        {
            return;
        }
        Berth.Linux.Sys.Kill(process.Id, 15);
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill();
            process.WaitForExit();
        }
    }
}
