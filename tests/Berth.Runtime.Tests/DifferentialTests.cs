using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Runtime.Tests;

/// <summary>
/// The same bundle run by runc and by berth-runtime must look the same from inside: each probe prints what a
/// container can observe, and the two outputs are compared line for line.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public class DifferentialTests
{
    private static (Cli.Result Berth, Cli.Result Runc) RunBoth(string script, Action<Spec>? configure = null)
    {
        Privileged.Require();
        using var bundle = new Bundle(spec =>
        {
            spec.Process!.Args = ["sh", "-c", script];
            configure?.Invoke(spec);
        });
        using var berth = OciRuntime.Berth();
        using var runc = OciRuntime.Runc();
        var b = berth.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        var r = runc.Cmd("run", "--bundle", bundle.Path, Bundle.NewId());
        return (b, r);
    }

    private static void AssertSame(string script, Action<Spec>? configure = null)
    {
        var (b, r) = RunBoth(script, configure);
        Assert.True(r.ExitCode == 0, "runc failed: " + r.Stderr);
        Assert.True(b.ExitCode == 0, "berth-runtime failed: " + b.Stderr);
        Assert.Equal(r.Stdout, b.Stdout);
    }

    [Fact]
    public void ProgramIsPid1WithTheSpecHostname() =>
        AssertSame("echo pid=$$; hostname", s => s.Hostname = "probe-host");

    [Fact]
    public void UserGroupsAndAdditionalGids() =>
        AssertSame("id; id -G", s => s.Process!.User = new User { Uid = 1000, Gid = 1000, AdditionalGids = [5, 20] });

    [Fact]
    public void CapabilitiesNoNewPrivsAndSeccompStatus() =>
        AssertSame("grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status");

    [Fact]
    public void CapabilitiesForANonRootUserWithAmbient() =>
        AssertSame("grep -E '^(Cap|NoNewPrivs)' /proc/self/status", s =>
        {
            s.Process!.User = new User { Uid = 1000, Gid = 1000 };
            List<string> caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
            s.Process.Capabilities = new Capabilities { Bounding = [.. caps, "CAP_CHOWN"], Effective = [.. caps], Permitted = [.. caps], Inheritable = [.. caps], Ambient = ["CAP_NET_BIND_SERVICE"] };
            s.Process.NoNewPrivileges = false;
        });

    [Fact]
    public void MountTableShape() =>
        AssertSame("awk '{print $5, $(NF-2)}' /proc/self/mountinfo | sort");

    [Fact]
    public void MaskedAndReadonlyPaths() =>
        AssertSame("""
            for p in /proc/kcore /proc/keys /sys/firmware /proc/acpi; do printf '%s:' $p; wc -c < $p 2>/dev/null || ls $p | wc -l; done
            for p in /proc/sys /proc/sysrq-trigger /proc/irq; do touch $p/x 2>/dev/null && echo "$p writable" || echo "$p read-only"; done
            touch /probe 2>/dev/null && echo "root writable" || echo "root read-only"
            """);

    [Fact]
    public void DevContents() =>
        AssertSame("ls -l /dev | awk '{print $1, $5, $6, $NF}'", s => s.Linux!.Devices = [new Device { Path = "/dev/fuse", Type = "c", Major = 10, Minor = 229, FileMode = 0x1b6 }]);

    [Fact]
    public void Rlimits() =>
        AssertSame("ulimit -n; ulimit -Hn; ulimit -s", s => s.Process!.Rlimits =
        [
            new Rlimit { Type = "RLIMIT_NOFILE", Soft = 512, Hard = 1000 },
            new Rlimit { Type = "RLIMIT_STACK", Soft = 4 << 20, Hard = 4 << 20 },
        ]);

    [Fact]
    public void CgroupLimitsSeenInside() =>
        AssertSame("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares",
            s => s.Linux!.Resources = new Resources
            {
                Devices = s.Linux.Resources?.Devices,
                Memory = new MemoryResources { Limit = 64 << 20 },
                Pids = new PidsResources { Limit = 50 },
                Cpu = new CpuResources { Quota = 50000, Period = 100000, Shares = 512 },
            });

    [Fact]
    public void OnlyLoopbackInANewNetworkNamespace() =>
        AssertSame("ls /sys/class/net; cat /sys/class/net/lo/operstate");

    [Fact]
    public void WorkingDirectoryEnvironmentAndUmask() =>
        AssertSame("pwd; echo $HOME $FOO; umask", s =>
        {
            s.Process!.Cwd = "/tmp";
            s.Process.Env = ["PATH=/bin", "FOO=bar"];
        });

    [Fact]
    public void SysctlInNamespaces() =>
        AssertSame("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax", s => s.Linux!.Sysctl = new() { ["net.ipv4.ip_forward"] = "1", ["kernel.msgmax"] = "4096" });

    [Fact]
    public void ExitCodesPassThrough()
    {
        var (b, r) = RunBoth("exit 42");
        Assert.Equal(42, r.ExitCode);
        Assert.Equal(r.ExitCode, b.ExitCode);
    }

    [Fact]
    public async Task KilledBySignalGives128PlusSignal()
    {
        Privileged.Require();
        using var bundle = new Bundle(s => s.Process!.Args = ["sleep", "100"]);
        var codes = new List<int>();
        foreach (var rt in OciRuntime.Both())
        {
            using (rt)
            {
                var id = Bundle.NewId();
                var run = Task.Run(() => rt.Cmd("run", "--bundle", bundle.Path, id));
                LifecycleTests.WaitFor(() => rt.Cmd("state", id).Stdout.Contains("\"running\"", StringComparison.Ordinal));
                rt.Cmd("kill", id, "KILL").Ok();
                codes.Add((await run).ExitCode);
            }
        }
        Assert.Equal([137, 137], codes);
    }

    [Fact]
    public void MissingProgramFailsAtCreate()
    {
        var (b, r) = RunBoth("true", s => s.Process!.Args = ["/no/such/program"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.NotEqual(0, b.ExitCode);
        Assert.Contains("/no/such/program", b.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void SeccompProfileDeniesASyscall() =>
        AssertSame("mkdir /scratch/x 2>&1 && echo made; touch /scratch/f && echo touched; grep -E '^Seccomp' /proc/self/status", s =>
        {
            s.Mounts!.Add(new Mount { Destination = "/scratch", Type = "tmpfs", Source = "tmpfs", Options = ["nosuid", "nodev"] });
            s.Linux!.Seccomp = new Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Architectures = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                Syscalls = [new SeccompSyscall { Names = ["mkdir", "mkdirat"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 1 }],
            };
        });

    [Fact]
    public void SeccompArgumentConditions() =>
        AssertSame("nice -n 5 true && echo nice-5-ok; nice -n 10 true 2>&1 || echo nice-10-denied", s =>
            s.Linux!.Seccomp = new Seccomp
            {
                DefaultAction = "SCMP_ACT_ALLOW",
                Syscalls = [new SeccompSyscall { Names = ["setpriority"], Action = "SCMP_ACT_ERRNO", ErrnoRet = 13, Args = [new SeccompArg { Index = 2, Value = 10, Op = "SCMP_CMP_EQ" }] }],
            });
}
