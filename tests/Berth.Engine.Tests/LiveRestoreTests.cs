using System.Diagnostics;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>A `berth daemon` process killed with SIGKILL and started again finds its containers through their shims.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class LiveRestoreTests
{
    [Fact]
    public async Task Killed_daemon_restarts_and_finds_running_containers_and_leaks_nothing()
    {
        Privileged.Require();
        using var dir = new TempDirectory("lr");
        string bridge;
        await using (var seed = await EngineFixture.StartEngineAsync(dir.Path))
        {
            // Seeds the busybox image into the data root; the daemon below is a separate process.
            bridge = seed.Networks.Get("bridge").Bridge!;
        }
        var socket = dir.Combine("s.sock");
        var daemon = StartDaemon(dir.Path, socket);
        try
        {
            var live = EngineFixture.RunOn(socket, "run", "-d", "--name", "live", "--network", "none", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.2; done").Ok().Stdout.Trim();
            var orphan = EngineFixture.RunOn(socket, "run", "-d", "--name", "orphan", "--network", "none", "busybox", "sleep", "1000").Ok().Stdout.Trim();
            var pid = int.Parse(EngineFixture.RunOn(socket, "inspect", "-f", "{{.State.Pid}}", "live").Ok().Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var orphanShim = Berth.Shim.ShimClient.ReadPid(Path.Combine(dir.Path, "exec", "containers", orphan[..32]));
            Assert.True(orphanShim > 0);

            daemon.Kill();
            await daemon.WaitForExitAsync();
            Assert.True(ProcessAlive(pid), "the container must survive the daemon's SIGKILL");
            // A shim that dies while the daemon is away: its container is reported exited and cleaned up.
            Cli.Run("kill", ["-9", orphanShim.ToString(System.Globalization.CultureInfo.InvariantCulture)]).Ok();

            daemon = StartDaemon(dir.Path, socket);
            Assert.Equal($"true {pid}", EngineFixture.RunOn(socket, "inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "live").Ok().Stdout.Trim());
            var before = EngineFixture.RunOn(socket, "logs", "live").Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            DockerCliTests.WaitFor(() => EngineFixture.RunOn(socket, "logs", "live").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > before + 3);
            Assert.Equal("exited", EngineFixture.RunOn(socket, "inspect", "-f", "{{.State.Status}}", "orphan").Ok().Stdout.Trim());
            Assert.Equal("hi\n", EngineFixture.RunOn(socket, "exec", "live", "echo", "hi").Ok().Stdout);
            EngineFixture.RunOn(socket, "stop", "-t", "1", "live").Ok();
            Assert.False(ProcessAlive(pid));
            EngineFixture.RunOn(socket, "rm", "live", "orphan").Ok();

            // Nothing left: no mounts under the roots, no cgroups, no shims.
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(dir.Path, StringComparison.Ordinal));
            foreach (var id in new[] { live, orphan })
            {
                Assert.False(Directory.Exists("/sys/fs/cgroup/memory/berth/" + id), "cgroup of " + id + " leaked");
                Assert.False(Directory.Exists("/sys/fs/cgroup/pids/berth/" + id), "cgroup of " + id + " leaked");
            }
            // A shim exits right after answering delete; give it a moment, then none may be left.
            try
            {
                DockerCliTests.WaitFor(() => ShimProcesses(dir.Path).Count == 0, TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                Assert.Fail("shims left: " + string.Join("; ", ShimProcesses(dir.Path).Select(p => File.ReadAllText($"/proc/{p}/cmdline").Replace('\0', ' '))));
            }
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
            daemon.Dispose();
            Cli.Run("ip", ["link", "delete", bridge]);
        }
    }

    internal static Process StartDaemon(string root, string socket, params string[] extra)
    {
        var psi = new ProcessStartInfo(Repo.Executable("berth"))
        {
            ArgumentList =
            {
                "daemon", "-H", "unix://" + socket, "--data-root", Path.Combine(root, "data"), "--exec-root", Path.Combine(root, "exec"),
                "--runtime", Repo.Executable("berth-runtime"), "--shim", Repo.Executable("berth-shim"),
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in extra)
        {
            psi.ArgumentList.Add(a);
        }
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        DockerCliTests.WaitFor(() => File.Exists(socket) && EngineFixture.RunOn(socket, "version").ExitCode == 0, TimeSpan.FromSeconds(30));
        return p;
    }

    private static bool ProcessAlive(int pid) => File.Exists($"/proc/{pid}/status") && !File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ", StringComparison.Ordinal);

    private static List<int> ShimProcesses(string root) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsDigit)).Select(n => int.Parse(n!, System.Globalization.CultureInfo.InvariantCulture))
            .Where(p =>
            {
                try
                {
                    var cmdline = File.ReadAllText($"/proc/{p}/cmdline");
                    return cmdline.Split('\0')[0].EndsWith("berth-shim", StringComparison.Ordinal) && cmdline.Contains(root, StringComparison.Ordinal);
                }
                catch (IOException)
                {
                    return false;
                }
            }).ToList();
}
