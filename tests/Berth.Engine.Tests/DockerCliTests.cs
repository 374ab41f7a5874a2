using System.Text.Json;
using Berth.Testing;

namespace Berth.Engine.Tests;

/// <summary>The real docker CLI 28 against berth daemon on a temp socket.</summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class DockerCliTests(EngineFixture f)
{
    private static readonly string[] NoNet = ["--network", "none"];

    [Fact]
    public void Version_negotiates_the_api_version_from_ping()
    {
        var r = f.Run("version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}").Ok();
        Assert.Equal("1.47 1.47", r.Stdout.Trim());
    }

    [Fact]
    public void Run_rm_prints_the_output_and_removes_the_container()
    {
        var r = f.Run(["run", "--rm", .. NoNet, "busybox", "echo", "hi"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("hi\n", r.Stdout);
        Assert.Equal("", f.Run("ps", "-aq", "--filter", "ancestor=busybox", "--filter", "status=exited").Ok().Stdout.Trim());
    }

    [Fact]
    public void Run_exit_codes_are_dockers()
    {
        Assert.Equal(3, f.Run(["run", "--rm", .. NoNet, "busybox", "sh", "-c", "exit 3"]).ExitCode);
        var missing = f.Run(["run", "--rm", .. NoNet, "busybox", "nosuchcommand"]);
        Assert.Equal(127, missing.ExitCode);
        Assert.Contains("nosuchcommand", missing.Stderr, StringComparison.Ordinal);
        // Not here, and no registry is reachable from this machine: the pull fails, docker run says so with 125.
        var badImage = f.Run(["run", "--rm", .. NoNet, "127.0.0.1:9/nosuchimage"]);
        Assert.Equal(125, badImage.ExitCode);
        Assert.Contains("nosuchimage", badImage.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_without_network_flag_gets_the_default_bridge()
    {
        var r = f.Run("run", "--rm", "busybox", "cat", "/proc/net/dev");
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("not supported", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("eth0", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Detached_httpd_exec_logs_stop_start_rm()
    {
        var name = "web-" + Guid.NewGuid().ToString("N")[..6];
        var id = f.Run(["run", "-d", "--name", name, .. NoNet, "busybox", "sh", "-c", "echo started; echo to-stderr >&2; mkdir /www; echo page > /www/index.html; exec httpd -f -v -p 8080 -h /www"]).Ok().Stdout.Trim();
        Assert.Equal(64, id.Length);
        WaitFor(() => f.Run("exec", name, "wget", "-qO-", "http://127.0.0.1:8080/").Stdout == "page\n");
        Assert.Equal("page\n", f.Run("exec", name, "wget", "-qO-", "http://127.0.0.1:8080/").Ok().Stdout);
        Assert.Equal(5, f.Run("exec", name, "sh", "-c", "exit 5").ExitCode);
        Assert.Equal("/tmp\n", f.Run("exec", "-w", "/tmp", "-e", "X=1", name, "sh", "-c", "pwd").Ok().Stdout);
        Assert.Equal("1\n", f.Run("exec", "-e", "X=1", name, "sh", "-c", "echo $X").Ok().Stdout);
        Assert.Equal("nobody\n", f.Run("exec", "-u", "nobody", name, "whoami").Ok().Stdout);
        var logs = f.Run("logs", name).Ok();
        Assert.Contains("started", logs.Stdout, StringComparison.Ordinal);
        Assert.Contains("to-stderr", logs.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("to-stderr", logs.Stdout, StringComparison.Ordinal);
        Assert.Contains("started", f.Run("logs", "--tail", "10", "-t", name).Ok().Stdout, StringComparison.Ordinal);
        var ps = f.Run("ps", "--filter", "name=" + name, "--format", "{{.Names}} {{.State}}").Ok().Stdout.Trim();
        Assert.Equal(name + " running", ps);
        var inspect = JsonDocument.Parse(f.Run("inspect", name).Ok().Stdout).RootElement[0];
        Assert.True(inspect.GetProperty("State").GetProperty("Running").GetBoolean());
        Assert.True(inspect.GetProperty("State").GetProperty("Pid").GetInt32() > 0);
        Assert.Contains("httpd", f.Run("top", name).Ok().Stdout, StringComparison.Ordinal);
        var stats = f.Run("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", name).Ok().Stdout.Trim();
        Assert.Equal(name + " 1", stats);
        f.Run("stop", "-t", "1", name).Ok();
        Assert.Equal("exited", f.Run("inspect", "-f", "{{.State.Status}}", name).Ok().Stdout.Trim());
        Assert.Equal(1, f.Run("exec", name, "true").ExitCode);
        f.Run("start", name).Ok();
        WaitFor(() => f.Run("exec", name, "wget", "-qO-", "http://127.0.0.1:8080/").Stdout == "page\n");
        var rm = f.Run("rm", name);
        Assert.NotEqual(0, rm.ExitCode);
        Assert.Contains("stop the container before removing or force remove", rm.Stderr, StringComparison.Ordinal);
        f.Run("rm", "-f", name).Ok();
        Assert.Contains("No such container: " + name, f.Run("container", "inspect", name).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_validates_names_and_reports_conflicts()
    {
        var name = "dup-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["create", "--name", name, .. NoNet, "busybox", "true"]).Ok();
        var again = f.Run(["create", "--name", name, .. NoNet, "busybox", "true"]);
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("is already in use by container", again.Stderr, StringComparison.Ordinal);
        var bad = f.Run(["create", "--name", "bad name!", .. NoNet, "busybox"]);
        Assert.Contains("Invalid container name", bad.Stderr, StringComparison.Ordinal);
        var badCap = f.Run(["create", "--cap-add", "NOPE", .. NoNet, "busybox"]);
        Assert.Contains("unknown capability", badCap.Stderr, StringComparison.Ordinal);
        f.Run("rm", name).Ok();
    }

    [Fact]
    public void Cp_copies_in_and_out()
    {
        using var dir = new TempDirectory("cp");
        File.WriteAllText(dir.Combine("in.txt"), "from the host\n");
        var name = "cp-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "-d", "--name", name, .. NoNet, "busybox", "sleep", "1000"]).Ok();
        f.Run("cp", dir.Combine("in.txt"), name + ":/tmp/").Ok();
        Assert.Equal("from the host\n", f.Run("exec", name, "cat", "/tmp/in.txt").Ok().Stdout);
        f.Run("exec", name, "sh", "-c", "mkdir -p /data/sub && echo inside > /data/sub/f").Ok();
        f.Run("cp", name + ":/data", dir.Combine("out")).Ok();
        Assert.Equal("inside\n", File.ReadAllText(dir.Combine("out", "sub", "f")));
        Assert.NotEqual(0, f.Run("cp", name + ":/nonexistent", dir.Combine("x")).ExitCode);
        f.Run("rm", "-f", name).Ok();
    }

    [Fact]
    public void Run_it_under_script_gets_a_pty()
    {
        var cmd = $"{EngineFixture.Docker} -H unix://{f.Socket} run -it --rm --network none busybox sh -c 'tty; stty size; echo done'";
        var r = Cli.Run("script", ["-qec", cmd, "/dev/null"], timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("/dev/pts/0", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("done", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_i_passes_stdin_through()
    {
        var r = Cli.Run(EngineFixture.Docker, ["-H", "unix://" + f.Socket, "run", "-i", "--rm", "--network", "none", "busybox", "sh", "-c", "tr a-z A-Z"], stdin: "shout\n", timeout: TimeSpan.FromSeconds(60));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("SHOUT\n", r.Stdout);
    }

    [Fact]
    public void Restart_policy_on_failure_restarts_then_gives_up()
    {
        var name = "rp-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "-d", "--name", name, "--restart", "on-failure:2", .. NoNet, "busybox", "sh", "-c", "echo run; exit 1"]).Ok();
        WaitFor(() => f.Run("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", name).Stdout.Trim() == "2 exited", TimeSpan.FromSeconds(30));
        Assert.Equal(3, f.Run("logs", name).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        f.Run("rm", "-f", name).Ok();
    }

    [Fact]
    public void Restart_policy_always_restarts_after_a_crash_but_not_after_stop()
    {
        var name = "ra-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "-d", "--name", name, "--restart", "always", .. NoNet, "busybox", "sleep", "1000"]).Ok();
        var pid = f.Run("inspect", "-f", "{{.State.Pid}}", name).Ok().Stdout.Trim();
        // A crash: the container's process is killed from outside.
        Cli.Run("kill", ["-9", pid]).Ok();
        WaitFor(() => f.Run("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", name).Stdout.Trim() == "1 true", TimeSpan.FromSeconds(20));
        f.Run("stop", "-t", "1", name).Ok();
        Thread.Sleep(1500);
        Assert.Equal("exited 1", f.Run("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name).Ok().Stdout.Trim());
        f.Run("rm", name).Ok();
    }

    [Fact]
    public void Healthcheck_goes_healthy_then_unhealthy_with_events()
    {
        var name = "hc-" + Guid.NewGuid().ToString("N")[..6];
        var since = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            f.Run(["run", "-d", "--name", name, "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1", "--health-timeout", "2s",
                .. NoNet, "busybox", "sh", "-c", "touch /tmp/ok; exec sleep 1000"]).Ok();
            WaitFor(() => f.Run("inspect", "-f", "{{.State.Health.Status}}", name).Stdout.Trim() == "healthy", TimeSpan.FromSeconds(20));
            Assert.Contains("(healthy)", f.Run("ps", "--filter", "name=" + name).Ok().Stdout, StringComparison.Ordinal);
            f.Run("exec", name, "rm", "/tmp/ok").Ok();
            WaitFor(() => f.Run("inspect", "-f", "{{.State.Health.Status}}", name).Stdout.Trim() == "unhealthy", TimeSpan.FromSeconds(20));
            var events = f.Run("events", "--since", since, "--until", DateTimeOffset.UtcNow.AddSeconds(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--filter", "container=" + name, "--format", "{{.Action}}").Ok().Stdout;
            Assert.Contains("health_status: healthy", events, StringComparison.Ordinal);
            Assert.Contains("health_status: unhealthy", events, StringComparison.Ordinal);
        }
        finally
        {
            // A failed assertion must not leave a running busybox container behind for the collection's other tests.
            f.Run("rm", "-f", name).Ok();
        }
    }

    [Fact]
    public void Events_with_an_until_already_past_still_returns_the_history()
    {
        var name = "ev-" + Guid.NewGuid().ToString("N")[..6];
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            f.Run(["create", "--name", name, .. NoNet, "busybox", "true"]).Ok();
            var until = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1;
            // The window is closed before the request is made: the events in it are history only.
            while (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() < (until * 1000) + 300)
            {
                Thread.Sleep(100);
            }
            var events = f.Run("events", "--since", now.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--until", until.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--filter", "container=" + name, "--format", "{{.Action}}").Ok().Stdout;
            Assert.Equal("create", events.Trim());
        }
        finally
        {
            f.Run("rm", "-f", name).Ok();
        }
    }

    [Fact]
    public void Resources_and_security_options_reach_the_container()
    {
        var r = f.Run(["run", "--rm", .. NoNet, "--memory", "64m", "--pids-limit", "50", "--cap-drop", "ALL", "--read-only", "--hostname", "h1", "--add-host", "db:10.1.2.3",
            "--tmpfs", "/scratch", "busybox", "sh", "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; grep CapEff /proc/self/status; hostname; grep db /etc/hosts; touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs-ok"]);
        Assert.Equal(0, r.ExitCode);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("67108864", lines[0]);
        Assert.Equal("50", lines[1]);
        Assert.Contains("0000000000000000", lines[2], StringComparison.Ordinal);
        Assert.Equal("h1", lines[3]);
        Assert.Contains("10.1.2.3\tdb", lines[4], StringComparison.Ordinal);
        Assert.Equal("ro", lines[5]);
        Assert.Equal("tmpfs-ok", lines[6]);
    }

    [Fact]
    public void Bind_mounts_and_kill_and_pause()
    {
        using var dir = new TempDirectory("bind");
        File.WriteAllText(dir.Combine("f"), "bound\n");
        var name = "bk-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "-d", "--name", name, "-v", dir.Path + ":/mnt:ro", .. NoNet, "busybox", "sleep", "1000"]).Ok();
        Assert.Equal("bound\n", f.Run("exec", name, "cat", "/mnt/f").Ok().Stdout);
        Assert.NotEqual(0, f.Run("exec", name, "touch", "/mnt/g").ExitCode);
        f.Run("pause", name).Ok();
        Assert.Equal("paused", f.Run("inspect", "-f", "{{.State.Status}}", name).Ok().Stdout.Trim());
        f.Run("unpause", name).Ok();
        // docker kill sends SIGKILL by default (PID 1 would ignore an unhandled TERM, as in Docker).
        f.Run("exec", name, "true").Ok();
        f.Run("kill", name).Ok();
        WaitFor(() => f.Run("inspect", "-f", "{{.State.Status}}", name).Stdout.Trim() == "exited");
        Assert.Equal("137", f.Run("inspect", "-f", "{{.State.ExitCode}}", name).Ok().Stdout.Trim());
        Assert.Contains("is not running", f.Run("kill", name).Stderr, StringComparison.Ordinal);
        f.Run("rm", name).Ok();
    }

    [Fact]
    public void Images_save_load_tag_rmi_history()
    {
        using var dir = new TempDirectory("img");
        var tag = "copy-" + Guid.NewGuid().ToString("N")[..6] + ":v1";
        f.Run("tag", "busybox", tag).Ok();
        Assert.Contains(tag.Split(':')[0], f.Run("images").Ok().Stdout, StringComparison.Ordinal);
        f.Run("save", "-o", dir.Combine("img.tar"), tag).Ok();
        f.Run("rmi", tag).Ok();
        Assert.Contains("Loaded image: " + tag, f.Run("load", "-i", dir.Combine("img.tar")).Ok().Stdout, StringComparison.Ordinal);
        Assert.NotEmpty(f.Run("history", "-q", tag).Ok().Stdout.Trim());
        var name = "use-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["create", "--name", name, .. NoNet, tag, "true"]).Ok();
        var inUse = f.Run("rmi", tag);
        Assert.NotEqual(0, inUse.ExitCode);
        Assert.Contains("is using its referenced image", inUse.Stderr, StringComparison.Ordinal);
        f.Run("rm", name).Ok();
        f.Run("rmi", tag).Ok();
        Assert.Contains("No such image", f.Run("image", "inspect", tag).Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Init_is_pid_1_and_forwards_the_stop_signal()
    {
        var name = "init-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "-d", "--init", "--name", name, .. NoNet, "busybox", "sleep", "1000"]).Ok();
        Assert.Contains("docker-init", f.Run("exec", name, "cat", "/proc/1/cmdline").Ok().Stdout, StringComparison.Ordinal);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        f.Run("stop", "-t", "20", name).Ok();
        // sleep as PID 1 would ignore SIGTERM and wait for the SIGKILL after 20 s; under the init it gets the TERM.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"stop took {watch.Elapsed}");
        Assert.Equal("143", f.Run("inspect", "-f", "{{.State.ExitCode}}", name).Ok().Stdout.Trim());
        f.Run("rm", name).Ok();
    }

    [Fact]
    public void Privileged_gets_every_capability_and_the_host_devices()
    {
        var r = f.Run(["run", "--rm", "--privileged", .. NoNet, "busybox", "sh", "-c", "grep CapEff /proc/self/status; ls /dev | wc -l; mount | grep ' /sys ' | grep -c rw"]).Ok();
        var lines = r.Stdout.Split('\n');
        var bounding = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapBnd:", StringComparison.Ordinal))[7..].Trim();
        Assert.Equal("CapEff:\t" + bounding, lines[0]);
        Assert.True(int.Parse(lines[1], System.Globalization.CultureInfo.InvariantCulture) > 20, "host devices: " + lines[1]);
        Assert.Equal("1", lines[2]);
    }

    [Fact]
    public void Logs_rotate_by_max_size_and_docker_logs_reads_across_the_files()
    {
        var name = "log-" + Guid.NewGuid().ToString("N")[..6];
        f.Run(["run", "--name", name, "--log-opt", "max-size=2k", "--log-opt", "max-file=2", .. NoNet, "busybox", "sh", "-c", "for i in $(seq 1 200); do echo line-$i; done"]).Ok();
        var logPath = f.Run("inspect", "-f", "{{.LogPath}}", name).Ok().Stdout.Trim();
        Assert.True(File.Exists(logPath + ".1"), "rotated file");
        Assert.False(File.Exists(logPath + ".2"), "max-file=2 keeps two files");
        Assert.True(new FileInfo(logPath).Length <= 2048 + 200);
        var logs = f.Run("logs", name).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("line-200", logs[^1]);
        Assert.True(logs.Length < 200, "old lines were rotated away");
        Assert.Equal(["line-199", "line-200"], f.Run("logs", "--tail", "2", name).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        f.Run("rm", name).Ok();
    }

    [Fact]
    public void Push_to_and_pull_from_a_berth_registry()
    {
        using var dir = new TempDirectory("reg");
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var registry = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Repo.Executable("berth"))
        {
            ArgumentList = { "registry", "--addr", "127.0.0.1:" + port, "--root", dir.Path },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var name = $"127.0.0.1:{port}/engine/bb:v1";
            f.Run("tag", "busybox", name).Ok();
            WaitFor(() => f.Run("push", name).ExitCode == 0, TimeSpan.FromSeconds(20));
            Assert.Contains("digest: sha256:", f.Run("push", name).Ok().Stdout, StringComparison.Ordinal);
            f.Run("rmi", name).Ok();
            Assert.Contains("Status:", f.Run("pull", name).Ok().Stdout, StringComparison.Ordinal);
            Assert.Equal("pulled\n", f.Run("run", "--rm", "--network", "none", name, "echo", "pulled").Ok().Stdout);
            Assert.NotEqual(0, f.Run("pull", $"127.0.0.1:{port}/engine/nosuch:v1").ExitCode);
            f.Run("rmi", name).Ok();
        }
        finally
        {
            registry.Kill();
            registry.WaitForExit();
        }
    }

    internal static void WaitFor(Func<bool> condition, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!condition())
        {
            if (DateTime.UtcNow > until)
            {
                throw new TimeoutException("condition not met in time");
            }
            Thread.Sleep(200);
        }
    }
}

[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class DockerBuildTests(EngineFixture f)
{
    [Fact]
    public void Build_from_a_dockerfile_and_run_the_result()
    {
        using var dir = new TempDirectory("ctx");
        File.WriteAllText(dir.Combine("Dockerfile"), "FROM busybox\nCOPY msg.txt /msg.txt\nRUN echo built >> /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n");
        File.WriteAllText(dir.Combine("msg.txt"), "copied\n");
        var tag = "built-" + Guid.NewGuid().ToString("N")[..6] + ":1";
        var build = f.Run("build", "-t", tag, dir.Path);
        Assert.True(build.ExitCode == 0, build.Stderr + build.Stdout);
        Assert.Contains("Step 3/4 : RUN echo built >> /msg.txt", build.Stdout, StringComparison.Ordinal);
        Assert.Contains("Successfully tagged " + tag, build.Stdout, StringComparison.Ordinal);
        Assert.Equal("copied\nbuilt\n", f.Run("run", "--rm", "--network", "none", tag).Ok().Stdout);
        Assert.StartsWith("sha256:", f.Run("build", "-q", dir.Path).Ok().Stdout.Trim(), StringComparison.Ordinal);
        File.WriteAllText(dir.Combine("Dockerfile.bad"), "FROM busybox\nRUN exit 4\n");
        var bad = f.Run("build", "-f", dir.Combine("Dockerfile.bad"), dir.Path);
        Assert.NotEqual(0, bad.ExitCode);
        f.Run("rmi", tag).Ok();
    }
}
