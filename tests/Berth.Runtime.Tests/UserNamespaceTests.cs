using System.Runtime.InteropServices;
using System.Text.Json;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// Containers with a user namespace (through the berth-userns helper): container root is host uid 100000, the maps
/// are what the spec says, runc shows the same from inside, exec enters the same user namespace, and nothing is left.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public partial class UserNamespaceTests
{
    private const uint HostBase = 100000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    private static Bundle UserBundle(params string[] args)
    {
        var bundle = new Bundle(s =>
        {
            s.Process!.Args = [.. args];
            s.Linux!.Namespaces!.Add(new Namespace { Type = "user" });
            s.Linux.UidMappings = [new IdMapping { ContainerID = 0, HostID = HostBase, Size = 65536 }];
            s.Linux.GidMappings = [new IdMapping { ContainerID = 0, HostID = HostBase, Size = 65536 }];
        });
        // The init runs as the mapped root (host uid 100000): it must be able to read the bundle, as with runc.
        File.SetUnixFileMode(bundle.Path, (UnixFileMode)0x1ed);
        return bundle;
    }

    private static State StateOf(OciRuntime rt, string id) =>
        JsonSerializer.Deserialize(rt.Cmd("state", id).Ok().Stdout, OciJsonContext.Default.State)!;

    [Fact]
    public void ContainerRootIsTheMappedHostUid()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("sleep", "100");
        var id = Bundle.NewId();
        var before = HostSnapshot.Take(rt.Root, id);
        rt.Cmd("run", "--detach", "--bundle", bundle.Path, id).Ok();
        var pid = StateOf(rt, id).Pid;
        var status = File.ReadAllLines($"/proc/{pid}/status");
        Assert.Equal("Uid:\t100000\t100000\t100000\t100000", status.First(l => l.StartsWith("Uid:", StringComparison.Ordinal)));
        Assert.Equal("Gid:\t100000\t100000\t100000\t100000", status.First(l => l.StartsWith("Gid:", StringComparison.Ordinal)));
        Assert.NotEqual(File.ResolveLinkTarget("/proc/self/ns/user", false)!.Name, File.ResolveLinkTarget($"/proc/{pid}/ns/user", false)!.Name);
        Assert.Equal("0 100000 65536", Normalize(File.ReadAllText($"/proc/{pid}/uid_map")));

        // exec joins the same user namespace: root inside, 100000 outside.
        var r = rt.Cmd("exec", id, "sh", "-c", "id -u; id -g; cat /proc/self/uid_map; readlink /proc/self/ns/user; grep ^Uid: /proc/self/status");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("0", lines[0]);
        Assert.Equal("0", lines[1]);
        Assert.Equal("0 100000 65536", Normalize(lines[2]));
        Assert.Equal(File.ResolveLinkTarget($"/proc/{pid}/ns/user", false)!.Name, lines[3]);
        Assert.Equal("Uid:\t0\t0\t0\t0", lines[4]);
        var asUser = rt.Cmd("exec", "--user", "1000:1000", id, "id");
        Assert.True(asUser.ExitCode == 0, asUser.Stderr);
        Assert.Equal("uid=1000(user) gid=1000(user)\n", asUser.Stdout);

        rt.Cmd("delete", "--force", id).Ok();
        Assert.False(Directory.Exists($"/proc/{pid}/root/bin"), $"container process {pid} still exists");
        HostSnapshot.Take(rt.Root, id).AssertSameAs(before);
    }

    [Fact]
    public void SameViewAsRunc()
    {
        Privileged.Require();
        using var bundle = UserBundle("sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id; echo pid=$$; ls -ln /proc/self/status | awk '{print $3, $4}'; touch /dev/null && echo dev-null-ok");
        using var berth = OciRuntime.Berth();
        using var runc = OciRuntime.Runc();
        var r = runc.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        var b = berth.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, "runc failed: " + r.Stderr);
        Assert.True(b.ExitCode == 0, "berth-runtime failed: " + b.Stderr);
        Assert.Contains("uid=0(root) gid=0(root)", b.Stdout, StringComparison.Ordinal);
        Assert.Equal(r.Stdout, b.Stdout);
    }

    [Fact]
    public void MountTableAndDevicesMatchRunc()
    {
        Privileged.Require();
        // cgroup hierarchies left out: on a v1/v2 hybrid host the unified one differs with or without a user namespace.
        using var bundle = UserBundle("sh", "-c", "awk '{print $5, $(NF-2)}' /proc/self/mountinfo | grep -v '^/sys/fs/cgroup/' | sort; ls -l /dev | awk '{print $1, $NF}'");
        using var berth = OciRuntime.Berth();
        using var runc = OciRuntime.Runc();
        var r = runc.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        var b = berth.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, "runc failed: " + r.Stderr);
        Assert.True(b.ExitCode == 0, "berth-runtime failed: " + b.Stderr);
        Assert.Equal(r.Stdout, b.Stdout);
    }

    [Fact]
    public void WithoutAPidNamespaceSameViewAsRunc()
    {
        // No PID (or time) namespace: the helper execs the init itself instead of forking. A new proc is refused in a
        // user namespace that does not own the PID namespace, so /proc is the host's, bound.
        Privileged.Require();
        using var bundle = UserBundle("sh", "-c", "id; ls -ln /bin/busybox | awk '{print $3, $4}'; cat /proc/self/uid_map; touch /probe 2>/dev/null || echo root read-only");
        bundle.Spec.Linux!.Namespaces!.RemoveAll(n => n.Type == "pid");
        var proc = bundle.Spec.Mounts!.First(m => m.Destination == "/proc");
        proc.Type = "bind";
        proc.Source = "/proc";
        proc.Options = ["rbind", "nosuid", "nodev", "noexec"];
        bundle.Spec.Linux.MaskedPaths = [];
        bundle.Spec.Linux.ReadonlyPaths = [];
        bundle.Write();
        using var berth = OciRuntime.Berth();
        using var runc = OciRuntime.Runc();
        var r = runc.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        var b = berth.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, "runc failed: " + r.Stderr);
        Assert.True(b.ExitCode == 0, "berth-runtime failed: " + b.Stderr);
        Assert.Contains("65534 65534", b.Stdout, StringComparison.Ordinal); // host root is unmapped: the overflow ids
        Assert.Equal(r.Stdout, b.Stdout);
    }

    [Fact]
    public void ATimeNamespaceInsideTheUserNamespaceGetsItsOffsets()
    {
        // runc 1.1 has no time namespaces, so this one checks the kernel's view directly.
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("sh", "-c", "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime; id -u");
        bundle.Spec.Linux!.Namespaces!.Add(new Namespace { Type = "time" });
        bundle.Spec.Linux.TimeOffsets = new() { ["boottime"] = new TimeOffset { Secs = 10_000_000 }, ["monotonic"] = new TimeOffset { Secs = 3600 } };
        bundle.Write();
        var r = rt.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("monotonic 3600 0", Normalize(lines[0]));
        Assert.Equal("boottime 10000000 0", Normalize(lines[1]));
        Assert.True(long.Parse(lines[2], System.Globalization.CultureInfo.InvariantCulture) >= 10_000_000, "uptime without the boottime offset: " + lines[2]);
        Assert.Equal("0", lines[3]);
    }

    [Fact]
    public void JoiningAnotherContainersUserNamespace()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var first = UserBundle("sleep", "100");
        var firstId = Bundle.NewId();
        rt.Cmd("run", "--detach", "--bundle", first.Path, firstId).Ok();
        var pid = StateOf(rt, firstId).Pid;
        using var second = UserBundle("sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user");
        second.Spec.Linux!.Namespaces!.First(n => n.Type == "user").Path = $"/proc/{pid}/ns/user";
        second.Spec.Linux.UidMappings = null;
        second.Spec.Linux.GidMappings = null;
        second.Write();
        var r = rt.Cmd("run", "--bundle", second.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n');
        Assert.Equal("0", lines[0]);
        Assert.Equal("0 100000 65536", Normalize(lines[1]));
        Assert.Equal(File.ResolveLinkTarget($"/proc/{pid}/ns/user", false)!.Name, lines[2]);
        rt.Cmd("delete", "--force", firstId).Ok();
    }

    [Fact]
    public void RuntimeBinaryStaysReadOnlyThroughProcExe()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("sleep", "100");
        var id = Bundle.NewId();
        var pidFile = Path.Combine(bundle.Path, "pid");
        rt.Cmd("create", "--bundle", bundle.Path, "--pid-file", pidFile, id).Ok();
        var pid = File.ReadAllText(pidFile).Trim();
        var exeFd = open($"/proc/{pid}/exe", 0x200000 /* O_PATH */);
        Assert.True(exeFd >= 0, "open O_PATH of the init's exe failed");
        try
        {
            // The init's exe is the runtime binary (same inode; its name is not resolvable from the host's mount
            // namespace, the read-only bind being the root of its own mount in the container's).
            Assert.Equal(Inode(rt.Path), Inode($"/proc/{pid}/exe"));
            rt.Cmd("start", id).Ok();
            LifecycleTests.WaitFor(() => File.ResolveLinkTarget($"/proc/{pid}/exe", false)?.FullName.EndsWith("busybox", StringComparison.Ordinal) == true);
            // Even host root gets EROFS: the exec went through the read-only bind mount.
            // ETXTBSY is checked before EROFS: while another test's init still runs the binary, ask again.
            int writable;
            int errno;
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                writable = open($"/proc/self/fd/{exeFd}", 1 /* O_WRONLY */);
                errno = Marshal.GetLastPInvokeError();
                if (writable >= 0 || errno != 26 /* ETXTBSY */ || DateTime.UtcNow > deadline)
                {
                    break;
                }
                Thread.Sleep(50);
            }
            if (writable >= 0)
            {
                close(writable);
            }
            Assert.True(writable < 0, "the runtime binary could be opened for writing through /proc/PID/exe");
            Assert.Equal(30 /* EROFS */, errno);
        }
        finally
        {
            close(exeFd);
            rt.Cmd("delete", "--force", id);
        }
    }

    [Fact]
    public void WithoutAMappingForRootCreateFailsAndLeavesNothing()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = new Bundle(s =>
        {
            s.Process!.Args = ["true"];
            s.Linux!.Namespaces!.Add(new Namespace { Type = "user" });
            s.Linux.UidMappings = [new IdMapping { ContainerID = 1000, HostID = HostBase, Size = 10 }];
            s.Linux.GidMappings = [new IdMapping { ContainerID = 0, HostID = HostBase, Size = 10 }];
        });
        AssertCreateFailsAndLeavesNothing(rt, bundle, "container uid 0");
    }

    [Fact]
    public void ABundleTheMappedRootCannotReadFailsClearlyAndLeavesNothing()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("true");
        File.SetUnixFileMode(bundle.Path, (UnixFileMode)0x1c0); // 0700: host root only
        AssertCreateFailsAndLeavesNothing(rt, bundle, "is not readable by the container's init");
    }

    [Fact]
    public void IdmappedMountsAreRefusedAsUnsupported()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("true");
        bundle.Spec.Mounts!.Add(new Mount
        {
            Destination = "/mnt",
            Type = "bind",
            Source = bundle.Path,
            Options = ["rbind"],
            UidMappings = [new IdMapping { ContainerID = 0, HostID = HostBase, Size = 1 }],
            GidMappings = [new IdMapping { ContainerID = 0, HostID = HostBase, Size = 1 }],
        });
        bundle.Write();
        AssertCreateFailsAndLeavesNothing(rt, bundle, "not supported: idmapped mounts");
    }

    [Fact]
    public void WithAPidNamespaceTheProgramIsPid1()
    {
        Privileged.Require();
        using var rt = OciRuntime.Berth();
        using var bundle = UserBundle("sh", "-c", "echo pid=$$; cat /proc/1/cmdline | tr '\\0' ' '");
        var r = rt.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith("pid=1\nsh -c", r.Stdout, StringComparison.Ordinal);
    }

    private static string Inode(string path) =>
        Cli.Run("stat", ["-L", "-c", "%d:%i", path]).Ok().Stdout.Trim();

    private static string Normalize(string mapLine) =>
        string.Join(' ', mapLine.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));

    /// <summary>`create` fails, its error names the problem, and the host is as it was before (mounts, cgroups, state).</summary>
    private static void AssertCreateFailsAndLeavesNothing(OciRuntime rt, Bundle bundle, string expected)
    {
        var id = Bundle.NewId();
        var before = HostSnapshot.Take(rt.Root, id);
        var r = rt.Cmd("create", "--bundle", bundle.Path, id);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        HostSnapshot.Take(rt.Root, id).AssertSameAs(before);
    }
}
