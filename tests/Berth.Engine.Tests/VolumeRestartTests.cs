using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>A `berth daemon` process killed and started again still has its volumes, their data and their users.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class VolumeRestartTests
{
    [Fact]
    public async Task Volumes_survive_a_daemon_restart_and_leave_no_mounts()
    {
        Privileged.Require();
        using var dir = new TempDirectory("vr");
        await using (await EngineFixture.StartEngineAsync(dir.Path, bridge: "none"))
        {
            // Seeds the busybox image into the data root; the daemon below is a separate process. No default bridge:
            // these containers run with --network none, and no bridge is left on the host.
        }
        var socket = dir.Combine("s.sock");
        var daemon = LiveRestoreTests.StartDaemon(dir.Path, socket, "--bridge", "none");
        try
        {
            EngineFixture.RunOn(socket, "volume", "create", "--label", "keep=yes", "kept").Ok();
            EngineFixture.RunOn(socket, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "scratch").Ok();
            EngineFixture.RunOn(socket, "run", "--rm", "--network", "none", "-v", "kept:/data", "busybox", "sh", "-c", "echo before-restart > /data/f").Ok();
            EngineFixture.RunOn(socket, "run", "-d", "--name", "user", "--network", "none", "-v", "kept:/data", "-v", "scratch:/s", "-v", "/anon", "busybox", "sleep", "1000").Ok();
            var anon = EngineFixture.RunOn(socket, "inspect", "-f", "{{range .Mounts}}{{if eq .Destination \"/anon\"}}{{.Name}}{{end}}{{end}}", "user").Ok().Stdout.Trim();

            daemon.Kill();
            await daemon.WaitForExitAsync();
            daemon.Dispose();
            daemon = LiveRestoreTests.StartDaemon(dir.Path, socket, "--bridge", "none");

            Assert.Equal("yes", EngineFixture.RunOn(socket, "volume", "inspect", "-f", "{{index .Labels \"keep\"}}", "kept").Ok().Stdout.Trim());
            Assert.Equal("before-restart\n", EngineFixture.RunOn(socket, "exec", "user", "cat", "/data/f").Ok().Stdout);
            var inUse = EngineFixture.RunOn(socket, "volume", "rm", "kept");
            Assert.Contains("volume is in use", inUse.Stderr, StringComparison.Ordinal);
            EngineFixture.RunOn(socket, "rm", "-f", "-v", "user").Ok();
            var names = EngineFixture.RunOn(socket, "volume", "ls", "-q").Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["kept", "scratch"], names.Order(StringComparer.Ordinal));
            Assert.DoesNotContain(anon, names);
            EngineFixture.RunOn(socket, "volume", "rm", "kept", "scratch").Ok();
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(dir.Path, "data", "volumes")));
            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mountinfo"), l => l.Contains(dir.Path, StringComparison.Ordinal));
        }
        finally
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                await daemon.WaitForExitAsync();
            }
            daemon.Dispose();
        }
    }
}
