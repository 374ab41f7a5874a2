using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>Bad input gets a clear error, a non-zero exit, and leaves nothing behind.</summary>
[Trait(Traits.Category, Traits.Privileged)]
public class BadInputTests
{
    private static Cli.Result CreateExpectingFailure(Action<Spec> configure, string expected)
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(configure);
        var id = Bundle.NewId();
        var before = HostSnapshot.Take(rt.Root, id);
        var r = rt.Cmd("create", "--bundle", bundle.Path, id);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        HostSnapshot.Take(rt.Root, id).AssertSameAs(before);
        return r;
    }

    [Fact]
    public void InvalidFieldsAreAllNamed()
    {
        var r = CreateExpectingFailure(s =>
        {
            s.Process!.Cwd = "relative";
            s.Process.Rlimits = [new Rlimit { Type = "RLIMIT_BOGUS", Soft = 1, Hard = 1 }];
            s.Linux!.Namespaces!.Add(new Namespace { Type = "bogus" });
        }, "process.cwd: \"relative\" must be an absolute path");
        Assert.Contains("process.rlimits[0].type: \"RLIMIT_BOGUS\" is unknown", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("linux.namespaces[6].type: \"bogus\" is unknown", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingRootfs() =>
        CreateExpectingFailure(s => s.Root = new Root { Path = "/nonexistent/rootfs" }, "root.path: /nonexistent/rootfs does not exist");

    [Fact]
    public void MissingProgram() =>
        CreateExpectingFailure(s => s.Process!.Args = ["not-here"], "exec: \"not-here\": executable file not found in $PATH");

    [Fact]
    public void DirectoryAsProgram() =>
        CreateExpectingFailure(s => s.Process!.Args = ["/etc"], "exec: \"/etc\": permission denied");

    [Fact]
    public void MissingProgramByPath() =>
        CreateExpectingFailure(s => s.Process!.Args = ["/no/such"], "exec: \"/no/such\": stat /no/such: no such file or directory");

    [Fact]
    public void FailingMountLeavesNoMountsCgroupsOrState() =>
        CreateExpectingFailure(s => s.Mounts!.Add(new Mount { Destination = "/mnt", Type = "bind", Source = "/nonexistent-source", Options = ["rbind"] }),
            "bind mount source /nonexistent-source does not exist");

    [Fact]
    public void ImpossibleResourceValue() =>
        CreateExpectingFailure(s => s.Linux!.Resources!.Memory = new MemoryResources { Limit = -5 }, "linux.resources.memory.limit");

    [Fact]
    public void MalformedJson()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle();
        File.WriteAllText(Path.Combine(bundle.Path, "config.json"), "{\"ociVersion\": \"1.2.0\", \"process\": {\"args\": [1,}");
        var r = rt.Cmd("create", "--bundle", bundle.Path, Bundle.NewId());
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("invalid JSON", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ExistingIdUnknownIdAndUnknownSignal()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(s => s.Process!.Args = ["sleep", "100"]);
        var id = Bundle.NewId();
        rt.Cmd("create", "--bundle", bundle.Path, id).Ok();
        var again = rt.Cmd("create", "--bundle", bundle.Path, id);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Stderr, StringComparison.Ordinal);
        var badSignal = rt.Cmd("kill", id, "SIGNOPE");
        Assert.Equal(1, badSignal.ExitCode);
        Assert.Contains("unknown signal \"SIGNOPE\"", badSignal.Stderr, StringComparison.Ordinal);
        var unknown = rt.Cmd("state", "no-such-container");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("container \"no-such-container\" does not exist", unknown.Stderr, StringComparison.Ordinal);
        var badId = rt.Cmd("state", "../etc");
        Assert.Equal(1, badId.ExitCode);
        Assert.Contains("invalid container id", badId.Stderr, StringComparison.Ordinal);
        rt.Cmd("delete", id).Ok(); // a created (never started) container may be deleted without --force
        Assert.Equal(1, rt.Cmd("delete", id).ExitCode);
        rt.Cmd("delete", "--force", id).Ok();
    }

    [Fact]
    public void UnsupportedFlagsSaySo()
    {
        using var rt = OciRuntime.Berth();
        var r = rt.Cmd("--systemd-cgroup", "list");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not supported", r.Stderr, StringComparison.Ordinal);
        var unknownFlag = rt.Cmd("create", "--bogus", "x");
        Assert.Equal(1, unknownFlag.ExitCode);
        Assert.Contains("unknown flag --bogus", unknownFlag.Stderr, StringComparison.Ordinal);
    }
}
