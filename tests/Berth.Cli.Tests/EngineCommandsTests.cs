using System.Text.Json;
using Berth.Testing;
using Proc = Berth.Testing.Cli;

namespace Berth.Cli.Tests;

/// <summary>
/// The berth CLI against a real Docker Engine API (dockerd 20.10 by default, berth daemon with
/// BERTH_TEST_ENGINE=berth): the commands people type, with docker's output and exit codes.
/// </summary>
[Collection(EngineCollection.Name)]
[Trait(Traits.Category, Traits.Privileged)]
public sealed class EngineCommandsTests(EngineFixture engine)
{
    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public void Run_rm_echo_prints_and_exits_zero()
    {
        var r = engine.Berth("run", "--rm", "--network", "none", "busybox", "echo", "hi").Ok();
        Assert.Equal("hi\n", r.Stdout);
    }

    [Fact]
    public void Run_keeps_stdout_and_stderr_apart()
    {
        var r = engine.Berth("run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2").Ok();
        Assert.Equal("out\n", r.Stdout);
        Assert.Contains("err\n", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Exit_codes_are_dockers()
    {
        Assert.Equal(3, engine.Berth("run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 3").ExitCode);

        var unknown = engine.Berth("run", "--no-such-flag", "busybox", "true");
        Assert.Equal(125, unknown.ExitCode);
        Assert.Contains("unknown flag: --no-such-flag", unknown.Stderr, StringComparison.Ordinal);

        var notFound = engine.Berth("run", "--rm", "--network", "none", "busybox", "no-such-command");
        Assert.Equal(127, notFound.ExitCode);
        Assert.StartsWith("berth: Error response from daemon: ", notFound.Stderr, StringComparison.Ordinal);

        Assert.Equal(126, engine.Berth("run", "--rm", "--network", "none", "busybox", "/etc").ExitCode);

        var noImage = engine.Berth("run", "--rm", "--pull", "never", "no-such-image:1", "true");
        Assert.Equal(125, noImage.ExitCode);
        Assert.Contains("No such image", noImage.Stderr, StringComparison.OrdinalIgnoreCase);

        var badMemory = engine.Berth("run", "--rm", "--memory", "lots", "busybox", "true");
        Assert.Equal(125, badMemory.ExitCode);
        Assert.Contains("--memory", badMemory.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Rm_run_leaves_no_container()
    {
        var name = Unique("rm");
        engine.Berth("run", "--rm", "--name", name, "--network", "none", "busybox", "true").Ok();
        Assert.Equal("", engine.Berth("ps", "-aq", "--filter", "name=" + name).Ok().Stdout);
    }

    [Fact]
    public void Detached_container_logs_exec_stop_rm()
    {
        var name = Unique("web");
        var id = engine.Berth("run", "-d", "--name", name, "-e", "GREETING=hello", "--memory", "64m", "--cpus", "0.5", "--network", "none",
            "-l", "suite=cli", "busybox", "sh", "-c", "echo started; exec sleep 300").Ok().Stdout.Trim();
        try
        {
            Assert.Matches("^[0-9a-f]{64}$", id);
            var ps = engine.Berth("ps", "--filter", "name=" + name).Ok().Stdout;
            Assert.StartsWith("CONTAINER ID   IMAGE     COMMAND", ps, StringComparison.Ordinal);
            Assert.Contains(id[..12], ps, StringComparison.Ordinal);

            WaitFor(() => engine.Berth("logs", name).Stdout == "started\n");

            var exec = engine.Berth("exec", name, "sh", "-c", "echo $GREETING; exit 4");
            Assert.Equal(4, exec.ExitCode);
            Assert.Equal("hello\n", exec.Stdout);
            Assert.Equal("/tmp\n", engine.Berth("exec", "-w", "/tmp", "-e", "X=1", name, "pwd").Ok().Stdout);

            var inspect = engine.Berth("inspect", "-f", "{{.State.Status}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{index .Config.Labels \"suite\"}}", name).Ok().Stdout;
            Assert.Equal("running 67108864 500000000 cli\n", inspect);

            Assert.Contains("sleep 300", engine.Berth("top", name).Ok().Stdout, StringComparison.Ordinal);
            var stats = engine.Berth("stats", "--no-stream", name).Ok().Stdout;
            Assert.Contains("64MiB", stats, StringComparison.Ordinal);

            Assert.Equal(name + "\n", engine.Berth("stop", "-t", "1", name).Ok().Stdout);
            Assert.Contains("exited", engine.Berth("inspect", "-f", "{{.State.Status}}", name).Ok().Stdout, StringComparison.Ordinal);
            // Stopping a stopped container is not an error (the daemon answers 304), as with docker.
            Assert.Equal(name + "\n", engine.Berth("stop", name).Ok().Stdout);

            var listing = engine.Shell($"\"$BERTH\" export {name} | tar -t").Ok().Stdout;
            Assert.Contains("bin/busybox", listing, StringComparison.Ordinal);
        }
        finally
        {
            engine.Berth("rm", "-f", name);
        }
        var gone = engine.Berth("rm", name);
        Assert.Equal(1, gone.ExitCode);
        Assert.Equal($"berth: Error response from daemon: No such container: {name}\n", gone.Stderr);
    }

    [Fact]
    public void Ps_filters_and_quiet()
    {
        var label = Unique("set");
        var exited = Unique("exited");
        var running = Unique("running");
        engine.Berth("run", "--name", exited, "-l", "set=" + label, "--network", "none", "busybox", "true").Ok();
        engine.Berth("run", "-d", "--name", running, "-l", "set=" + label, "--network", "none", "busybox", "sleep", "300").Ok();
        try
        {
            var all = engine.Berth("ps", "-a", "--filter", "label=set=" + label, "--format", "{{.Names}}").Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(new[] { exited, running }.Order(StringComparer.Ordinal), all.Order(StringComparer.Ordinal));
            Assert.Equal(running + "\n", engine.Berth("ps", "--filter", "label=set=" + label, "--format", "{{.Names}}").Ok().Stdout);
            Assert.Equal(exited + "\n", engine.Berth("ps", "-a", "--filter", "label=set=" + label, "--filter", "status=exited", "--format", "{{.Names}}").Ok().Stdout);
            var quiet = engine.Berth("ps", "-aq", "--filter", "label=set=" + label).Ok().Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, quiet.Length);
            Assert.All(quiet, q => Assert.Matches("^[0-9a-f]{12}$", q));
            var noTrunc = engine.Berth("ps", "-a", "--no-trunc", "-q", "--filter", "name=" + running).Ok().Stdout.Trim();
            Assert.Matches("^[0-9a-f]{64}$", noTrunc);
        }
        finally
        {
            engine.Berth("rm", "-f", exited, running);
        }
    }

    [Fact]
    public void Cp_both_ways_and_tar_streams()
    {
        using var dir = new TempDirectory();
        var name = Unique("cp");
        engine.Berth("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300").Ok();
        try
        {
            File.WriteAllText(dir.Combine("in.txt"), "into the container\n");
            Directory.CreateDirectory(dir.Combine("tree", "sub"));
            File.WriteAllText(dir.Combine("tree", "sub", "leaf.txt"), "leaf\n");
            engine.Berth("cp", dir.Combine("in.txt"), name + ":/tmp/").Ok();
            Assert.Equal("into the container\n", engine.Berth("exec", name, "cat", "/tmp/in.txt").Ok().Stdout);
            engine.Berth("cp", dir.Combine("in.txt"), name + ":/tmp/renamed.txt").Ok();
            Assert.Equal("into the container\n", engine.Berth("exec", name, "cat", "/tmp/renamed.txt").Ok().Stdout);
            engine.Berth("cp", dir.Combine("tree"), name + ":/tmp/").Ok();
            Assert.Equal("leaf\n", engine.Berth("exec", name, "cat", "/tmp/tree/sub/leaf.txt").Ok().Stdout);

            engine.Berth("cp", name + ":/etc/passwd", dir.Combine("passwd.out")).Ok();
            Assert.StartsWith("root:x:0:0", File.ReadAllText(dir.Combine("passwd.out")), StringComparison.Ordinal);
            Directory.CreateDirectory(dir.Combine("back"));
            engine.Berth("cp", name + ":/tmp/tree", dir.Combine("back")).Ok();
            Assert.Equal("leaf\n", File.ReadAllText(dir.Combine("back", "tree", "sub", "leaf.txt")));

            // `-` streams a tar: out of the container into tar(1), and from tar(1) into the container.
            var listing = engine.Shell($"\"$BERTH\" cp {name}:/tmp/tree - | tar -t").Ok().Stdout;
            Assert.Contains("tree/sub/leaf.txt", listing, StringComparison.Ordinal);
            engine.Shell($"tar -C '{dir.Path}' -c in.txt | \"$BERTH\" cp - {name}:/root").Ok();
            Assert.Equal("into the container\n", engine.Berth("exec", name, "cat", "/root/in.txt").Ok().Stdout);

            var missing = engine.Berth("cp", name + ":/no/such/file", dir.Combine("x"));
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("Error response from daemon", missing.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            engine.Berth("rm", "-f", name);
        }
    }

    [Fact]
    public void Interactive_tty_under_script()
    {
        var r = engine.Shell("script -qec '\"$BERTH\" run --rm -it --network none busybox sh -c \"tty; echo in-tty; exit 5\"' /dev/null", TimeSpan.FromSeconds(60));
        Assert.Equal(5, r.ExitCode);
        Assert.Contains("/dev/pts/", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("in-tty", r.Stdout, StringComparison.Ordinal);

        // Keystrokes typed into the pty reach the shell in the container; its exit status comes back.
        var typed = engine.Shell("(printf 'echo typed-$((6*7))\\n'; sleep 2; printf 'exit 6\\n') | script -qec '\"$BERTH\" run --rm -it --network none busybox sh' /dev/null", TimeSpan.FromSeconds(60));
        Assert.Equal(6, typed.ExitCode);
        Assert.Contains("typed-42", typed.Stdout, StringComparison.Ordinal);

        var name = Unique("tty");
        engine.Berth("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300").Ok();
        try
        {
            var exec = engine.Shell($"script -qec '\"$BERTH\" exec -it {name} sh -c \"tty; exit 9\"' /dev/null", TimeSpan.FromSeconds(60));
            Assert.Equal(9, exec.ExitCode);
            Assert.Contains("/dev/pts/", exec.Stdout, StringComparison.Ordinal);

            var notTty = engine.Berth(["exec", "-it", name, "true"], stdin: "");
            Assert.Equal(1, notTty.ExitCode);
            Assert.Contains("the input device is not a TTY", notTty.Stderr, StringComparison.Ordinal);
        }
        finally
        {
            engine.Berth("rm", "-f", name);
        }
    }

    [Fact]
    public void Interactive_stdin_without_tty()
    {
        var r = engine.Berth(["run", "--rm", "-i", "--network", "none", "busybox", "sh"], stdin: "echo from-stdin\nexit 7\n");
        Assert.Equal(7, r.ExitCode);
        Assert.Equal("from-stdin\n", r.Stdout);
        Assert.Equal("3\n", engine.Berth(["run", "--rm", "-i", "--network", "none", "busybox", "wc", "-l"], stdin: "a\nb\nc\n").Ok().Stdout.Trim() + "\n");
    }

    [Fact]
    public void Build_honours_dockerignore_and_build_args_then_runs()
    {
        using var ctx = new TempDirectory();
        Directory.CreateDirectory(ctx.Combine("sub"));
        File.WriteAllText(ctx.Combine("Dockerfile"), "FROM busybox\nARG MSG=none\nCOPY sub/ /data/\nRUN echo \"$MSG\" > /msg\nCMD [\"cat\", \"/msg\"]\n");
        File.WriteAllText(ctx.Combine("sub", "keep.txt"), "keep\n");
        File.WriteAllText(ctx.Combine("sub", "secret.txt"), "secret\n");
        File.WriteAllText(ctx.Combine(".dockerignore"), "# not sent\nsub/secret.txt\n");
        var tag = Unique("built") + ":1";
        try
        {
            var build = engine.Berth("build", "-t", tag, "--build-arg", "MSG=hello", "--network", "none", ctx.Path).Ok();
            Assert.Contains("Successfully tagged " + tag, build.Stdout, StringComparison.Ordinal);
            Assert.Equal("hello\n", engine.Berth("run", "--rm", "--network", "none", tag).Ok().Stdout);
            Assert.Equal("keep.txt\n", engine.Berth("run", "--rm", "--network", "none", tag, "ls", "/data").Ok().Stdout);

            var quiet = engine.Berth("build", "-q", "--network", "none", "-f", ctx.Combine("Dockerfile"), ctx.Path).Ok();
            Assert.Matches("^sha256:[0-9a-f]{64}\n$", quiet.Stdout);

            var broken = engine.Berth("build", "--network", "none", "-f", "-", ctx.Path);
            Assert.NotEqual(0, broken.ExitCode);
        }
        finally
        {
            engine.Berth("rmi", "-f", tag);
        }
    }

    [Fact]
    public void Save_load_round_trip_and_image_commands()
    {
        using var dir = new TempDirectory();
        var tag = Unique("saved") + ":v1";
        engine.Berth("tag", "busybox", tag).Ok();
        var archive = dir.Combine("img.tar");
        engine.Berth("save", "-o", archive, tag).Ok();
        Assert.True(new FileInfo(archive).Length > 1_000_000);
        var rmi = engine.Berth("rmi", tag).Ok().Stdout;
        Assert.Contains("Untagged: " + tag, rmi, StringComparison.Ordinal);
        Assert.Equal(1, engine.Berth("inspect", "--type", "image", tag).ExitCode);

        var load = engine.Berth("load", "-i", archive).Ok();
        Assert.Contains("Loaded image: " + tag, load.Stdout, StringComparison.Ordinal);
        var images = engine.Berth("images").Ok().Stdout;
        Assert.StartsWith("REPOSITORY", images, StringComparison.Ordinal);
        Assert.Contains(tag.Split(':')[0], images, StringComparison.Ordinal);
        Assert.NotEqual("", engine.Berth("history", "-q", tag).Ok().Stdout);
        Assert.Equal("hi\n", engine.Berth("run", "--rm", "--network", "none", tag, "echo", "hi").Ok().Stdout);

        // save to stdout through a pipe gives the same kind of archive.
        var piped = engine.Shell($"\"$BERTH\" save {tag} | tar -t | grep -c manifest.json").Ok().Stdout.Trim();
        Assert.Equal("1", piped);
        engine.Berth("rmi", tag).Ok();
    }

    [Fact]
    public void Inspect_prints_docker_json()
    {
        var name = Unique("insp");
        engine.Berth("create", "--name", name, "--network", "none", "-e", "A=1", "busybox", "true").Ok();
        try
        {
            var json = JsonDocument.Parse(engine.Berth("inspect", name).Ok().Stdout).RootElement;
            Assert.Equal(JsonValueKind.Array, json.ValueKind);
            Assert.Equal("/" + name, json[0].GetProperty("Name").GetString());
            Assert.Equal("created", json[0].GetProperty("State").GetProperty("Status").GetString());
            Assert.Contains("A=1", json[0].GetProperty("Config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()));

            var both = JsonDocument.Parse(engine.Berth("inspect", name, "busybox").Ok().Stdout).RootElement;
            Assert.Equal(2, both.GetArrayLength());
            Assert.StartsWith("sha256:", both[1].GetProperty("Id").GetString(), StringComparison.Ordinal);

            var missing = engine.Berth("inspect", "no-such-thing-" + name);
            Assert.Equal(1, missing.ExitCode);
            Assert.Equal("[]\n", missing.Stdout);
        }
        finally
        {
            engine.Berth("rm", "-f", name);
        }
    }

    [Fact]
    public void Version_info_and_negotiation()
    {
        var version = engine.Berth("version").Ok().Stdout;
        Assert.Contains("Server:", version, StringComparison.Ordinal);
        Assert.Matches(@"API version:\s+1\.\d+", version);
        Assert.Contains("Containers:", engine.Berth("info").Ok().Stdout, StringComparison.Ordinal);
        Assert.StartsWith("TYPE", engine.Berth("system", "df").Ok().Stdout, StringComparison.Ordinal);

        var unreachable = Proc.Run(Repo.Executable("berth"), ["-H", "unix:///nonexistent/berth.sock", "ps"]);
        Assert.Equal(1, unreachable.ExitCode);
        Assert.Contains("Cannot connect to the daemon at unix:///nonexistent/berth.sock", unreachable.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Restart_kill_wait_rename_update()
    {
        var name = Unique("life");
        engine.Berth("run", "-d", "--name", name, "--network", "none", "busybox", "sleep", "300").Ok();
        var renamed = name + "-2";
        try
        {
            engine.Berth("update", "--memory", "32m", "--memory-swap", "64m", name).Ok();
            Assert.Equal("33554432\n", engine.Berth("inspect", "-f", "{{.HostConfig.Memory}}", name).Ok().Stdout);
            engine.Berth("rename", name, renamed).Ok();
            engine.Berth("restart", "-t", "1", renamed).Ok();
            Assert.Equal("running\n", engine.Berth("inspect", "-f", "{{.State.Status}}", renamed).Ok().Stdout);
            engine.Berth("kill", "-s", "KILL", renamed).Ok();
            Assert.Equal("137\n", engine.Berth("wait", renamed).Ok().Stdout);
        }
        finally
        {
            engine.Berth("rm", "-f", name, renamed);
        }
    }

    private static void WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in 20 s");
            Thread.Sleep(100);
        }
    }
}
