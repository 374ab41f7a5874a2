using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

[Trait(Traits.Category, Traits.Privileged)]
public class LifecycleTests
{
    private static State StateOf(OciRuntime rt, string id) =>
        JsonSerializer.Deserialize(rt.Cmd("state", id).Ok().Stdout, OciJsonContext.Default.State)!;

    [Fact]
    public void CreateStartKillDeleteMovesThroughTheStates()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(s => s.Process!.Args = ["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"]);
        var id = Bundle.NewId();
        var before = HostSnapshot.Take(rt.Root, id);
        var pidFile = Path.Combine(bundle.Path, "pid");
        rt.Cmd("create", "--bundle", bundle.Path, "--pid-file", pidFile, id).Ok();
        var created = StateOf(rt, id);
        Assert.Equal("created", created.Status);
        Assert.Equal(File.ReadAllText(pidFile), created.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(bundle.Path, created.Bundle);
        rt.Cmd("start", id).Ok();
        Assert.Equal("running", StateOf(rt, id).Status);
        var list = rt.Cmd("list", "--format", "json").Ok().Stdout;
        Assert.Contains(id, list, StringComparison.Ordinal);
        var ps = rt.Cmd("ps", "--format", "json", id).Ok().Stdout;
        Assert.Contains(created.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), ps, StringComparison.Ordinal);
        rt.Cmd("pause", id).Ok();
        Assert.Equal("paused", StateOf(rt, id).Status);
        rt.Cmd("resume", id).Ok();
        Assert.Equal("running", StateOf(rt, id).Status);
        var deleteRunning = rt.Cmd("delete", id);
        Assert.Equal(1, deleteRunning.ExitCode);
        Assert.Contains("use --force", deleteRunning.Stderr, StringComparison.Ordinal);
        rt.Cmd("kill", id, "TERM").Ok();
        WaitFor(() => StateOf(rt, id).Status == "stopped");
        var killStopped = rt.Cmd("kill", id, "KILL");
        Assert.Equal(1, killStopped.ExitCode);
        Assert.Contains("not running", killStopped.Stderr, StringComparison.Ordinal);
        rt.Cmd("delete", id).Ok();
        HostSnapshot.Take(rt.Root, id).AssertSameAs(before);
    }

    [Fact]
    public void DeleteForceRemovesARunningContainerAndItsCgroup()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(s =>
        {
            s.Process!.Args = ["sleep", "100"];
            s.Linux!.Resources!.Memory = new MemoryResources { Limit = 32 << 20 };
        });
        var id = Bundle.NewId();
        var before = HostSnapshot.Take(rt.Root, id);
        rt.Cmd("run", "--detach", "--bundle", bundle.Path, id).Ok();
        Assert.Equal("running", StateOf(rt, id).Status);
        Assert.NotEqual(before.Cgroups, HostSnapshot.Take(rt.Root, id).Cgroups);
        rt.Cmd("delete", "--force", id).Ok();
        HostSnapshot.Take(rt.Root, id).AssertSameAs(before);
    }

    [Fact]
    public void ExecRunsInTheContainersNamespacesAndCgroup()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(s =>
        {
            s.Hostname = "exec-probe";
            s.Process!.Args = ["sleep", "100"];
        });
        var id = Bundle.NewId();
        rt.Cmd("run", "--detach", "--bundle", bundle.Path, id).Ok();
        var r = rt.Cmd("exec", "--env", "X=y", "--cwd", "/tmp", id, "sh", "-c", "hostname; echo $X; pwd; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /sys/class/net");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("exec-probe\ny\n/tmp\nsleep 100 \nlo\n", r.Stdout);
        var code = rt.Cmd("exec", id, "sh", "-c", "exit 9");
        Assert.Equal(9, code.ExitCode);
        var missing = rt.Cmd("exec", id, "no-such-program");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("executable file not found", missing.Stderr, StringComparison.Ordinal);
        // Seen from inside (one cgroup-namespace view), the exec'd process sits in the same cgroups as the init.
        var views = rt.Cmd("exec", id, "sh", "-c", "cat /proc/1/cgroup; echo --; cat /proc/self/cgroup").Ok().Stdout.Split("--\n");
        var memory = (string text) => text.Split('\n').Single(l => l.Contains(":memory:", StringComparison.Ordinal));
        Assert.Equal(memory(views[0]), memory(views[1]));
        // Every hierarchy, not only memory: a hybrid host's controller-less cgroup2 line ("0::") too.
        Assert.Equal(views[0], views[1]);
        var hostView = File.ReadAllText($"/proc/{StateOf(rt, id).Pid}/cgroup");
        Assert.Contains(id, memory(hostView), StringComparison.Ordinal);
        // Seen from the host, the init sits in the container's cgroup in every hierarchy, the cgroup2 one included.
        Assert.All(hostView.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.EndsWith(id, l, StringComparison.Ordinal));
        rt.Cmd("delete", "--force", id).Ok();
    }

    private const string IdentityProbe =
        "id -u; id -g; id -G; pwd; ulimit -n; ulimit -c; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status";

    /// <summary>
    /// exec (berth-runtime's direct path: the program spawned from a thread that dropped privileges) gives the program
    /// the same user, groups, cwd, rlimits, capabilities and no_new_privs as runc's exec does; and so does the helper
    /// path (exec-init), which an address-space limit needs (it would bind the runtime itself on the direct path).
    /// </summary>
    [Fact]
    public void ExecDropsPrivilegesAndAppliesLimitsAsRuncDoes()
    {
        Privileged.Require();
        var outputs = new List<string>();
        foreach (var rt in OciRuntime.Both())
        {
            using (rt)
            {
                var berth = rt.Name == "berth-runtime";
                string Exec(string id, bool direct, string[] options, string script)
                {
                    string[] args = ["exec", .. options, id, "sh", "-c", script];
                    var r = (berth ? rt.CmdTimed(args) : rt.Cmd(args)).Ok();
                    if (berth)
                    {
                        // The path really taken, from the phase marks: the direct one spawns no exec-init.
                        Assert.Equal(direct, r.Stderr.Contains("exec: program spawned", StringComparison.Ordinal));
                        Assert.Equal(!direct, r.Stderr.Contains("exec-init: start", StringComparison.Ordinal));
                    }
                    return r.Stdout;
                }
                using var bundle = new Bundle(s =>
                {
                    s.Process!.Args = ["sleep", "100"];
                    s.Process.Rlimits = [new Rlimit { Type = "RLIMIT_NOFILE", Soft = 512, Hard = 512 }, new Rlimit { Type = "RLIMIT_CORE", Soft = 0, Hard = 0 }];
                });
                var id = Bundle.NewId();
                rt.Cmd("run", "--detach", "--bundle", bundle.Path, id).Ok();
                var asRoot = Exec(id, direct: true, [], IdentityProbe);
                var asUser = Exec(id, direct: true, ["--user", "1000:1001", "--additional-gids", "5", "--cwd", "/tmp"], IdentityProbe);
                rt.Cmd("delete", "--force", id).Ok();
                using var limited = new Bundle(s =>
                {
                    s.Process!.Args = ["sleep", "100"];
                    s.Process.Rlimits = [new Rlimit { Type = "RLIMIT_AS", Soft = 1UL << 40, Hard = 1UL << 40 }, new Rlimit { Type = "RLIMIT_NOFILE", Soft = 256, Hard = 256 }];
                });
                var limitedId = Bundle.NewId();
                rt.Cmd("run", "--detach", "--bundle", limited.Path, limitedId).Ok();
                var helper = Exec(limitedId, direct: false, ["--user", "1000:1001"], IdentityProbe + "; ulimit -v");
                rt.Cmd("delete", "--force", limitedId).Ok();
                outputs.Add(rt.Name + ":\n" + asRoot + "--\n" + asUser + "--\n" + helper);
            }
        }
        Assert.Contains("1000\n1001\n1001 5\n/tmp\n512\n0\n", outputs[0], StringComparison.Ordinal);
        Assert.Contains("\n256\n", outputs[0].Split("--\n")[2], StringComparison.Ordinal);
        Assert.EndsWith("\n1073741824\n", outputs[0], StringComparison.Ordinal);
        Assert.Equal(outputs[1].Replace("runc:", "berth-runtime:", StringComparison.Ordinal), outputs[0]);
    }

    [Fact]
    public void SignalsReachTheProgramUnderRunAndKill()
    {
        Privileged.Require();
        foreach (var rt in OciRuntime.Both())
        {
            using (rt)
            {
                using var bundle = new Bundle(s => s.Process!.Args = ["sh", "-c", "trap 'exit 7' USR1; while :; do sleep 0.05; done"]);
                var id = Bundle.NewId();
                rt.Cmd("run", "--detach", "--bundle", bundle.Path, id).Ok();
                var pid = StateOf(rt, id).Pid;
                rt.Cmd("kill", id, "SIGUSR1").Ok();
                WaitFor(() => StateOf(rt, id).Status == "stopped");
                rt.Cmd("delete", id).Ok();
                Assert.False(Directory.Exists($"/proc/{pid}/root/bin"), $"{rt}: container process {pid} still exists");
            }
        }
    }

    internal static void WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the container");
            Thread.Sleep(20);
        }
    }
}
