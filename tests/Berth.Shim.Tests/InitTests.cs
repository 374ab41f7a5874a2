using System.Text.RegularExpressions;
using Berth.Testing;

namespace Berth.Shim.Tests;

/// <summary>out/berth-init as PID 1 of a real container (Docker's --init): zombies reaped, signals forwarded, status kept.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public class InitTests : IDisposable
{
    private readonly TempDirectory _rootfs = new("berth-init-rootfs");

    public InitTests()
    {
        BusyboxRootfs.Create(_rootfs.Path);
        Directory.CreateDirectory(_rootfs.Combine("sbin"));
        File.Copy(Repo.Executable("berth-init"), _rootfs.Combine("sbin", "berth-init"));
    }

    private ShimHarness Container(params string[] command) => new(s =>
    {
        s.Root = new Oci.Runtime.Root { Path = _rootfs.Path, Readonly = true };
        s.Process!.Args = ["/sbin/berth-init", "--", .. command];
    });

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OrphansAreReapedAndTheCommandsExitCodeIsKept(bool withInit)
    {
        Privileged.Require();
        // The inner shell leaves a background sleep behind and the command becomes `sleep`, which never waits: the
        // orphan, adopted by PID 1, stays a zombie unless PID 1 is an init that reaps. The control runs without one.
        string[] command = ["sh", "-c", "sh -c 'sleep 0.2 &'; exec sleep 1.5"];
        await using var h = withInit ? Container(command) : new ShimHarness(s =>
        {
            s.Root = new Oci.Runtime.Root { Path = _rootfs.Path, Readonly = true };
            s.Process!.Args = [.. command];
        });
        var shim = await h.StartShimAsync();
        await shim.StartAsync(ShimHarness.Timeout());
        await Task.Delay(700);
        var probe = new Oci.Runtime.Process { Args = ["sh", "-c", "cat /proc/1/comm /proc/[0-9]*/stat"], Env = ["PATH=/bin"], Cwd = "/" };
        await using var exec = await shim.ExecAsync("probe", probe, openStdin: false, ShimHarness.Timeout());
        await exec.StartAsync(ShimHarness.Timeout());
        var (stdout, _, _) = await ShimHarness.ReadAllAsync(exec.Stream);
        Assert.StartsWith(withInit ? "berth-init\n" : "sleep\n", stdout, StringComparison.Ordinal);
        Assert.Equal(withInit ? 0 : 1, Regex.Matches(stdout, @"\) Z ").Count);
        Assert.Equal(0, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
        if (withInit)
        {
            await using var h2 = Container("sh", "-c", "exit 3");
            var shim2 = await h2.StartShimAsync();
            await shim2.StartAsync(ShimHarness.Timeout());
            Assert.Equal(3, (await shim2.WaitAsync(ShimHarness.Timeout())).ExitCode);
        }
    }

    [Fact]
    public async Task SignalsAreForwardedToTheCommand()
    {
        Privileged.Require();
        // Without an init, SIGTERM to a PID 1 shell without a handler would do nothing; here the shell gets it.
        await using var h = Container("sh", "-c", "trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done");
        var shim = await h.StartShimAsync();
        await using var stream = await shim.AttachAsync(false, true, true, ShimHarness.Timeout());
        await shim.StartAsync(ShimHarness.Timeout());
        await ShimHarness.ReadUntilAsync(stream, "ready");
        await shim.KillAsync(Linux.Signals.SIGTERM, all: false, ShimHarness.Timeout());
        var (stdout, _, _) = await ShimHarness.ReadAllAsync(stream);
        Assert.Contains("got TERM", stdout, StringComparison.Ordinal);
        Assert.Equal(42, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
    }

    [Fact]
    public async Task AKilledCommandAndAMissingOneGiveShellStyleCodes()
    {
        Privileged.Require();
        await using (var h = Container("sh", "-c", "kill -KILL $$"))
        {
            var shim = await h.StartShimAsync();
            await shim.StartAsync(ShimHarness.Timeout());
            Assert.Equal(137, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
        }
        await using (var h = Container("no-such-command"))
        {
            var shim = await h.StartShimAsync();
            await using var stream = await shim.AttachAsync(false, true, true, ShimHarness.Timeout());
            await shim.StartAsync(ShimHarness.Timeout());
            var (_, stderr, _) = await ShimHarness.ReadAllAsync(stream);
            Assert.Equal(127, (await shim.WaitAsync(ShimHarness.Timeout())).ExitCode);
            Assert.Contains("berth-init: exec no-such-command", stderr, StringComparison.Ordinal);
        }
    }

    public void Dispose() => _rootfs.Dispose();
}
