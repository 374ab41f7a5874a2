using System.Text;
using System.Text.Json;
using Berth.Core;
using Berth.Linux;
using Berth.Testing;

namespace Berth.Shim.Tests;

[Trait(Traits.Category, Traits.Privileged)]
public class LifecycleTests
{
    [Theory]
    [InlineData("berth-runtime")]
    [InlineData("runc")]
    public async Task OutputReachesTheLogAndAClientAttachedBeforeStartWithItsStreamIds(string runtime)
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 0"], runtime);
        var shim = await h.StartShimAsync();
        Assert.Equal(ShimState.Created, (await shim.StatusAsync(ShimHarness.Timeout())).State);
        await using var stream = await shim.AttachAsync(stdin: false, stdout: true, stderr: true, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        var (stdout, stderr, frames) = await ShimHarness.ReadAllAsync(stream);
        Assert.Equal("out1\nout2\n", stdout);
        Assert.Equal("err1\n", stderr);
        Assert.All(frames, f => Assert.InRange(f.Stream, 1, 2));
        var exit = await shim.WaitAsync(ShimHarness.Timeout());
        Assert.Equal(0, exit.ExitCode);
        Assert.False(exit.OomKilled);
        Assert.Equal(exit, ShimClient.ReadExit(h.StateDir));

        var lines = File.ReadAllLines(h.LogPath);
        Assert.Equal(3, lines.Length);
        var entries = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(new[] { "err1\n", "out1\n", "out2\n" }, entries.Select(e => e.GetProperty("log").GetString()!).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal("stderr", entries.Single(e => e.GetProperty("log").GetString() == "err1\n").GetProperty("stream").GetString());
        Assert.All(entries.Where(e => e.GetProperty("log").GetString()!.StartsWith("out", StringComparison.Ordinal)),
            e => Assert.Equal("stdout", e.GetProperty("stream").GetString()));
        Assert.All(lines, l => Assert.Matches("\"time\":\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d{1,9})?Z\"}$", l));

        await shim.DeleteAsync(ShimHarness.Timeout());
        Assert.False(Directory.Exists(h.StateDir));
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
    }

    [Fact]
    public async Task ExitCodeIsRecordedInExitJsonBeforeWaitersAreAnswered()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", "exit 3"]);
        var shim = await h.StartShimAsync();
        var wait = shim.WaitAsync(ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        var exit = await wait;
        Assert.Equal(3, exit.ExitCode);
        Assert.Equal(exit, ShimClient.ReadExit(h.StateDir));
        Assert.True(exit.FinishedAt > DateTimeOffset.UtcNow.AddMinutes(-1));
        var status = await shim.StatusAsync(ShimHarness.Timeout());
        Assert.Equal(ShimState.Stopped, status.State);
        Assert.Equal(3, status.Exit!.ExitCode);
        // A wait after the end answers at once.
        Assert.Equal(3, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
        var kill = await Assert.ThrowsAsync<BerthException>(() => shim.KillAsync(9, false, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.FailedPrecondition, kill.Code);
    }

    [Fact]
    public async Task SignalsReachTheContainer()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", "trap 'exit 7' USR1; echo ready; while :; do sleep 0.05; done"]);
        var shim = await h.StartShimAsync();
        await using var stream = await shim.AttachAsync(false, true, true, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        await ShimHarness.ReadUntilAsync(stream, "ready");
        await shim.KillAsync(Signals.SIGUSR1, all: false, ShimHarness.Timeout());
        Assert.Equal(7, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);

        await using var h2 = new ShimHarness(s => s.Process!.Args = ["sleep", "100"]);
        var shim2 = await h2.StartShimAsync();
        await shim2.StartAsync(ShimHarness.Timeout());
        await shim2.KillAsync(Signals.SIGKILL, all: true, ShimHarness.Timeout());
        Assert.Equal(137, (await shim2.WaitAsync(ShimHarness.Timeout())).ExitCode);
        var bad = await Assert.ThrowsAsync<BerthException>(() => shim2.KillAsync(99, false, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.InvalidArgument, bad.Code);
    }

    [Fact]
    public async Task StdinRoundTripsThroughCatAndStdinOnceClosesItForTheFirstClient()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["cat"]);
        var shim = await h.StartShimAsync(h.Options(openStdin: true, stdinOnce: true));
        await using var stream = await shim.AttachAsync(stdin: true, stdout: true, stderr: true, ShimHarness.Timeout());
        await using var watcher = await shim.AttachAsync(stdin: false, stdout: true, stderr: false, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        await stream.WriteStdinAsync("hello\n"u8.ToArray(), ShimHarness.Timeout());
        Assert.Equal("hello\n", await ShimHarness.ReadUntilAsync(stream, "hello\n"));
        var big = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20000).Select(i => i.ToString("D7", System.Globalization.CultureInfo.InvariantCulture) + "\n")));
        var reader = ShimHarness.ReadAllAsync(stream);
        await stream.WriteStdinAsync(big, ShimHarness.Timeout());
        await stream.CloseStdinAsync(ShimHarness.Timeout());
        Assert.Equal(0, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
        Assert.Equal(Encoding.ASCII.GetString(big), (await reader).Stdout);
        Assert.Equal("hello\n" + Encoding.ASCII.GetString(big), (await ShimHarness.ReadAllAsync(watcher)).Stdout);
    }

    [Fact]
    public async Task WithoutStdinOnceADetachingClientLeavesStdinOpen()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["cat"]);
        var shim = await h.StartShimAsync(h.Options(openStdin: true, stdinOnce: false));
        await shim.StartAsync(ShimHarness.Timeout());
        await using (var first = await shim.AttachAsync(true, true, true, ShimHarness.Timeout()))
        {
            await first.WriteStdinAsync("one\n"u8.ToArray(), ShimHarness.Timeout());
            await ShimHarness.ReadUntilAsync(first, "one\n");
            await first.CloseStdinAsync(ShimHarness.Timeout());
        }
        await Task.Delay(300);
        Assert.Equal(ShimState.Running, (await shim.StatusAsync(ShimHarness.Timeout())).State);
        await using var second = await shim.AttachAsync(true, true, true, ShimHarness.Timeout());
        await second.WriteStdinAsync("two\n"u8.ToArray(), ShimHarness.Timeout());
        await ShimHarness.ReadUntilAsync(second, "two\n");
        Assert.Contains("{\"log\":\"two\\n\",\"stream\":\"stdout\"", File.ReadAllText(h.LogPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATerminalIsResizedAndCarriesInputAndOutput()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s =>
        {
            s.Process!.Terminal = true;
            s.Process.Args = ["sh", "-c", "read line; echo \"got $line\"; stty size; tty"];
        });
        var shim = await h.StartShimAsync(h.Options(openStdin: true));
        await using var stream = await shim.AttachAsync(true, true, true, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        await shim.ResizeAsync(33, 111, ShimHarness.Timeout());
        await stream.WriteStdinAsync("abc\n"u8.ToArray(), ShimHarness.Timeout());
        var (stdout, stderr, frames) = await ShimHarness.ReadAllAsync(stream);
        Assert.Contains("got abc\r\n", stdout, StringComparison.Ordinal);
        Assert.Contains("33 111\r\n", stdout, StringComparison.Ordinal);
        Assert.Contains("/dev/pts/", stdout, StringComparison.Ordinal);
        Assert.Equal("", stderr);
        Assert.All(frames, f => Assert.Equal(1, f.Stream));
        Assert.Equal(0, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
        Assert.Contains("33 111", File.ReadAllText(h.LogPath), StringComparison.Ordinal);

        await using var plain = new ShimHarness(s => s.Process!.Args = ["true"]);
        var noTty = await plain.StartShimAsync();
        var e = await Assert.ThrowsAsync<BerthException>(() => noTty.ResizeAsync(1, 1, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
    }

    [Theory]
    [InlineData("berth-runtime")]
    [InlineData("runc")]
    public async Task ExecRunsThroughTheShimWithItsOwnStreamsAndExitCode(string runtime)
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sleep", "100"], runtime);
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        var process = new Oci.Runtime.Process { Args = ["sh", "-c", "echo hi; echo oops >&2; read x; echo \"in:$x\"; exit 5"], Env = ["PATH=/bin"], Cwd = "/" };
        await using var exec = await shim.ExecAsync("e1", process, openStdin: true, ShimHarness.Timeout());
        await exec.StartAsync(ShimHarness.Timeout());
        Assert.True(exec.Pid > 0);
        await exec.Stream.WriteStdinAsync("data\n"u8.ToArray(), ShimHarness.Timeout());
        var (stdout, stderr, _) = await ShimHarness.ReadAllAsync(exec.Stream);
        Assert.Equal("hi\nin:data\n", stdout);
        Assert.Equal("oops\n", stderr);
        Assert.Equal(5, await exec.WaitAsync(ShimHarness.Timeout()));
        Assert.DoesNotContain("oops", File.ReadAllText(h.LogPath), StringComparison.Ordinal);

        var missing = new Oci.Runtime.Process { Args = ["no-such-program"], Env = ["PATH=/bin"], Cwd = "/" };
        await using var bad = await shim.ExecAsync("e2", missing, openStdin: false, ShimHarness.Timeout());
        var error = await Assert.ThrowsAsync<BerthException>(() => bad.StartAsync(ShimHarness.Timeout()));
        Assert.Contains("no-such-program", error.Message, StringComparison.Ordinal);
        Assert.Null(await bad.Stream.ReadAsync(ShimHarness.Timeout()));

        var tty = new Oci.Runtime.Process { Terminal = true, Args = ["sh", "-c", "tty; stty size"], Env = ["PATH=/bin"], Cwd = "/", ConsoleSize = new Oci.Runtime.Box { Height = 20, Width = 70 } };
        await using var t = await shim.ExecAsync("e3", tty, openStdin: false, ShimHarness.Timeout());
        await t.StartAsync(ShimHarness.Timeout());
        var ttyOut = await ShimHarness.ReadAllAsync(t.Stream);
        Assert.Contains("/dev/pts/", ttyOut.Stdout, StringComparison.Ordinal);
        Assert.Contains("20 70", ttyOut.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, await t.WaitAsync(ShimHarness.Timeout()));

        var dup = await Assert.ThrowsAsync<BerthException>(() => shim.ExecAsync("e1", process, false, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.AlreadyExists, dup.Code);
        await shim.DeleteAsync(ShimHarness.Timeout());
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
    }

    [Fact]
    public async Task PauseFreezesTheContainerAndResumeThawsIt()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sleep", "100"]);
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        var pid = (await shim.StatusAsync(ShimHarness.Timeout())).Pid;
        var freezer = File.ReadAllLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).Single(p => p[1] == "freezer")[2];
        var state = $"/sys/fs/cgroup/freezer{freezer}/freezer.state";
        await shim.PauseAsync(ShimHarness.Timeout());
        Assert.Equal(ShimState.Paused, (await shim.StatusAsync(ShimHarness.Timeout())).State);
        Assert.Equal("FROZEN", File.ReadAllText(state).Trim());
        await Assert.ThrowsAsync<BerthException>(() => shim.PauseAsync(ShimHarness.Timeout()));
        await shim.ResumeAsync(ShimHarness.Timeout());
        Assert.Equal(ShimState.Running, (await shim.StatusAsync(ShimHarness.Timeout())).State);
        Assert.Equal("THAWED", File.ReadAllText(state).Trim());
    }

    [Fact]
    public async Task TheRuntimesErrorTextSurfacesFromStartAndNothingIsLeft()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["nosuch"]);
        var e = await Assert.ThrowsAsync<BerthException>(() => h.StartShimAsync());
        Assert.Contains("executable file not found", e.Message, StringComparison.Ordinal);
        Assert.Contains("nosuch", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(h.StateDir));
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
    }

    [Fact]
    public async Task TheContainerOutlivesTheStartersProcessAndANewClientReattaches()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"]);
        Directory.CreateDirectory(h.StateDir);
        File.WriteAllBytes(Path.Combine(h.StateDir, "shim.json"), JsonSerializer.SerializeToUtf8Bytes(h.Options(), Protocol.ShimJsonContext.Default.ShimOptions));
        // A stand-in daemon: a shell that starts the shim, then is SIGKILLed with its whole process group.
        var daemon = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", "\"$0\" start \"$1\"; sleep 100", ShimHarness.ShimPath, h.StateDir])
        {
            RedirectStandardOutput = true,
        })!;
        Assert.StartsWith("ok", await daemon.StandardOutput.ReadLineAsync(ShimHarness.Timeout()), StringComparison.Ordinal);
        var shimPid = h.ShimPid;
        var stat = File.ReadAllText($"/proc/{shimPid}/stat").Split(' ');
        Assert.Equal(shimPid.ToString(System.Globalization.CultureInfo.InvariantCulture), stat[5]); // session leader of its own session
        Assert.NotEqual(daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), stat[3]); // not the starter's child
        var first = await ShimClient.ConnectAsync(h.StateDir, ShimHarness.Timeout());
        await first.StartAsync(ShimHarness.Timeout());
        await using (var s1 = await first.AttachAsync(false, true, true, ShimHarness.Timeout()))
        {
            await ShimHarness.ReadUntilAsync(s1, "tick 2");
        }
        daemon.Kill(entireProcessTree: true);
        await daemon.WaitForExitAsync(ShimHarness.Timeout());

        var again = await ShimClient.ConnectAsync(h.StateDir, ShimHarness.Timeout());
        Assert.Equal(ShimState.Running, (await again.StatusAsync(ShimHarness.Timeout())).State);
        await using (var s2 = await again.AttachAsync(false, true, true, ShimHarness.Timeout()))
        {
            var text = await ShimHarness.ReadUntilAsync(s2, "\n");
            Assert.StartsWith("tick ", text, StringComparison.Ordinal);
        }
        await again.DeleteAsync(ShimHarness.Timeout());
        Assert.False(Directory.Exists(h.StateDir));
        WaitUntil(() => !Directory.Exists($"/proc/{shimPid}"));
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
    }

    [Fact]
    public async Task AKilledShimLeavesAContainerTheEngineCanClean()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sleep", "100"]);
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        var pid = (await shim.StatusAsync(ShimHarness.Timeout())).Pid;
        var shimPid = h.ShimPid;
        Sys.Kill(shimPid, Signals.SIGKILL);
        WaitUntil(() => !Directory.Exists($"/proc/{shimPid}"));
        Assert.True(Directory.Exists($"/proc/{pid}"));
        var e = await Assert.ThrowsAsync<BerthException>(() => ShimClient.ConnectAsync(h.StateDir, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        Assert.Null(ShimClient.ReadExit(h.StateDir));
        // What the engine does then: runtime delete --force.
        h.Runtime("delete", "--force", h.Id).Ok();
        WaitUntil(() => !Directory.Exists($"/proc/{pid}"));
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
    }

    [Fact]
    public async Task TheLogRotatesBySizeKeepingMaxFiles()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sh", "-c", "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; done"]);
        var shim = await h.StartShimAsync(h.Options(logMaxSize: 2000, logMaxFiles: 3));
        await shim.StartAsync(ShimHarness.Timeout());
        await shim.WaitAsync(ShimHarness.Timeout());
        await shim.DeleteAsync(ShimHarness.Timeout());
        Assert.True(File.Exists(h.LogPath));
        Assert.True(File.Exists(h.LogPath + ".1"));
        Assert.True(File.Exists(h.LogPath + ".2"));
        Assert.False(File.Exists(h.LogPath + ".3"));
        foreach (var f in new[] { h.LogPath + ".2", h.LogPath + ".1" })
        {
            Assert.InRange(new FileInfo(f).Length, 2000, 2000 + 100);
        }
        var numbers = new[] { h.LogPath + ".2", h.LogPath + ".1", h.LogPath }
            .SelectMany(File.ReadAllLines)
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("log").GetString()!)
            .Select(l => int.Parse(l["line ".Length..].TrimEnd('\n'), System.Globalization.CultureInfo.InvariantCulture))
            .ToArray();
        Assert.Equal(300, numbers[^1]);
        Assert.Equal(Enumerable.Range(numbers[0], numbers.Length), numbers);
    }

    [Fact]
    public async Task AnOomKillIsRecorded()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s =>
        {
            s.Process!.Args = ["sh", "-c", "tail /dev/zero"];
            s.Linux!.Resources!.Memory = new Oci.Runtime.MemoryResources { Limit = 16 << 20, Swap = 16 << 20 };
        });
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        var exit = await shim.WaitAsync(ShimHarness.Timeout(60));
        Assert.True(exit.OomKilled, $"exit {exit.ExitCode} without an OOM kill");
        Assert.Equal(137, exit.ExitCode);
    }

    [Fact]
    public async Task DeletingARunningContainerKillsItAnswersWaitersAndLeavesNothing()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["sleep", "100"]);
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        var process = new Oci.Runtime.Process { Args = ["sleep", "100"], Env = ["PATH=/bin"], Cwd = "/" };
        await using var exec = await shim.ExecAsync("long", process, false, ShimHarness.Timeout());
        await exec.StartAsync(ShimHarness.Timeout());
        var execWait = exec.WaitAsync(ShimHarness.Timeout());
        await exec.KillAsync(Signals.SIGKILL, ShimHarness.Timeout());
        Assert.Equal(137, await execWait);
        var wait = shim.WaitAsync(ShimHarness.Timeout());
        await using var stream = await shim.AttachAsync(false, true, true, ShimHarness.Timeout());
        var shimPid = h.ShimPid;
        await shim.DeleteAsync(ShimHarness.Timeout());
        Assert.Equal(137, (await wait).ExitCode);
        Assert.Null(await stream.ReadAsync(ShimHarness.Timeout()));
        Assert.False(Directory.Exists(h.StateDir));
        WaitUntil(() => !Directory.Exists($"/proc/{shimPid}"));
        WaitUntil(() => h.Now().Processes.Length == 0);
        h.Now().AssertNoneSince(h.Before);
        Assert.False(Directory.Exists(Path.Combine(h.RuntimeRoot, h.Id)));
    }

    [Fact]
    public async Task BadOptionsAndAnUnrunnableShimAreClearErrors()
    {
        Privileged.Require();
        await using var h = new ShimHarness(s => s.Process!.Args = ["true"]);
        var notExecutable = Path.Combine(h.BundleDir, "config.json");
        var e = await Assert.ThrowsAsync<BerthException>(() => ShimProcess.StartAsync(notExecutable, h.Options(), ShimHarness.Timeout()));
        Assert.Contains("cannot start berth-shim", e.Message, StringComparison.Ordinal);
        var bad = await Assert.ThrowsAsync<BerthException>(() =>
            ShimProcess.StartAsync(ShimHarness.ShimPath, h.Options(logMaxSize: -1) with { BundleDir = "/nonexistent" }, ShimHarness.Timeout()));
        Assert.Equal(ErrorCode.InvalidArgument, bad.Code);
        Assert.Contains("/nonexistent has no config.json", bad.Message, StringComparison.Ordinal);
        Assert.Contains("must not be negative", bad.Message, StringComparison.Ordinal);
    }

    internal static void WaitUntil(Func<bool> condition, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not reached in time");
            }
            Thread.Sleep(20);
        }
    }
}
