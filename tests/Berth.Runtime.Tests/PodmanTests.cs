using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>A real engine drives berth-runtime: podman (with conmon) runs, execs into and stops containers.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class PodmanTests : IDisposable
{
    private readonly TempDirectory _dir = new("berth-podman");
    private readonly Dictionary<string, string> _env;
    private readonly string[] _global;

    public PodmanTests()
    {
        var hardNofile = Cli.Sh("ulimit -Hn").Ok().Stdout.Trim();
        var conf = _dir.Combine("containers.conf");
        // This machine kind has no systemd and no CAP_SYS_RESOURCE: cgroupfs, file events, ulimits within the hard limits.
        File.WriteAllText(conf, $"""
            [containers]
            default_ulimits = ["nofile={hardNofile}:{hardNofile}", "nproc=32768:32768"]
            [engine]
            cgroup_manager = "cgroupfs"
            events_logger = "file"
            """);
        _env = new Dictionary<string, string> { ["CONTAINERS_CONF"] = conf };
        _global = ["--root", _dir.Combine("storage"), "--runroot", _dir.Combine("run"), "--tmpdir", _dir.Combine("tmp"), "--runtime", Repo.Executable("berth-runtime")];
    }

    private Cli.Result Podman(params string[] args) => Cli.Run("/usr/bin/podman", [.. _global, .. args], timeout: TimeSpan.FromSeconds(120), env: _env);

    [Fact]
    public void RunExecAndStopThroughPodman()
    {
        Privileged.Require();
        var tar = _dir.Combine("rootfs.tar");
        Cli.Run("/bin/tar", ["-C", BusyboxRootfs.Path, "-cf", tar, "."]).Ok();
        Podman("import", tar, "localhost/berth-busybox:test").Ok();

        var run = Podman("run", "--rm", "--network", "none", "localhost/berth-busybox:test", "sh", "-c", "echo hello from $$; grep -c Seccomp_filters /proc/self/status");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Equal("hello from 1\n1\n", run.Stdout);

        var exit = Podman("run", "--rm", "--network", "none", "localhost/berth-busybox:test", "sh", "-c", "exit 3");
        Assert.Equal(3, exit.ExitCode);

        var id = Podman("run", "-d", "--network", "none", "--memory", "64m", "localhost/berth-busybox:test", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done").Ok().Stdout.Trim();
        var exec = Podman("exec", id, "sh", "-c", "echo exec-ok; cat /sys/fs/cgroup/memory/memory.limit_in_bytes");
        Assert.True(exec.ExitCode == 0, exec.Stderr);
        Assert.Equal("exec-ok\n67108864\n", exec.Stdout);
        Podman("stop", "-t", "5", id).Ok();
        var state = Podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", id).Ok().Stdout.Trim();
        Assert.Equal("exited 0", state);
        Podman("rm", id).Ok();
    }

    public void Dispose()
    {
        Podman("rm", "--all", "--force");
        Podman("rmi", "--all", "--force");
        Cli.Run("/bin/sh", ["-c", $"grep -o ' {_dir.Path}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"]);
        _dir.Dispose();
    }
}
