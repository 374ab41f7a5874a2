using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Cgroups.Tests;

/// <summary>
/// The same linux.resources given to runc (a real container, busybox rootfs) and to the v1 driver: every cgroup
/// file both write must end up with the same value, in every hierarchy runc uses.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class RuncDifferentialTests : IDisposable
{
    private readonly TestCgroups cg;
    private readonly TempDirectory temp = new("berth-cgroups-runc");
    private readonly string runcRoot;
    private string? runcId;

    public RuncDifferentialTests()
    {
        Privileged.Require();
        cg = new TestCgroups();
        runcRoot = temp.Combine("runc-state");
    }

    public void Dispose()
    {
        if (runcId is not null)
        {
            Run("runc", "--root", runcRoot, "delete", "--force", runcId);
        }
        cg.Dispose();
        temp.Dispose();
    }

    private static readonly string[] Files =
    [
        "memory/memory.limit_in_bytes", "memory/memory.soft_limit_in_bytes", "memory/memory.memsw.limit_in_bytes",
        "memory/memory.swappiness", "memory/memory.oom_control", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us",
        "cpu/cpu.cfs_period_us", "cpuset/cpuset.cpus", "cpuset/cpuset.mems", "pids/pids.max", "devices/devices.list",
        "blkio/blkio.bfq.weight",
    ];

    [Fact]
    public void Runc_and_berth_write_the_same_v1_values_for_the_same_resources()
    {
        var resources = new Resources
        {
            Devices = [new DeviceCgroup { Allow = false, Access = "rwm" }, new DeviceCgroup { Allow = true, Type = "c", Major = 10, Minor = 229, Access = "rw" }],
            Memory = new MemoryResources { Limit = 96 << 20, Reservation = 48 << 20, Swap = 192 << 20, Swappiness = 20, DisableOomKiller = false },
            Cpu = new CpuResources { Shares = 700, Quota = 30000, Period = 150000, Cpus = "0", Mems = "0" },
            Pids = new PidsResources { Limit = 42 },
            BlockIO = new BlockIoResources { Weight = 300 },
        };

        // runc: a real container with these resources.
        var bundle = MakeBundle(resources, cg.PathOf("runc1"));
        runcId = "berth-cg-" + Guid.NewGuid().ToString("N")[..8];
        var (code, output) = Run("runc", "--root", runcRoot, "run", "--detach", "--bundle", bundle, runcId);
        Assert.True(code == 0, "runc run failed: " + output);

        // Berth: the same resources plus the device rules runc adds for every container.
        var ours = cg.Manager("berth1");
        ours.Create(DeviceRules.ContainerResources(new Berth.Oci.Runtime.Linux { Resources = resources }));

        AssertSameFiles();

        // runc update (growing memory above the old memory+swap, so the write order matters) vs Update.
        var (updateCode, updateOutput) = Run("runc", "--root", runcRoot, "update", "--memory", "268435456", "--memory-swap", "536870912",
            "--cpu-quota", "60000", "--cpu-period", "120000", "--cpu-share", "900", "--pids-limit", "17", runcId);
        Assert.True(updateCode == 0, "runc update failed: " + updateOutput);
        ours.Update(new Resources
        {
            Memory = new MemoryResources { Limit = 256 << 20, Swap = 512 << 20 },
            Cpu = new CpuResources { Quota = 60000, Period = 120000, Shares = 900 },
            Pids = new PidsResources { Limit = 17 },
        });
        AssertSameFiles();

        // The hierarchies runc's init joined are the ones ours would.
        var pid = int.Parse(JsonNode.Parse(Run("runc", "--root", runcRoot, "state", runcId).Output)!["pid"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture);
        var runcJoined = File.ReadAllLines($"/proc/{pid}/cgroup").Where(l => l.EndsWith(cg.PathOf("runc1"), StringComparison.Ordinal))
            .Select(l => l.Split(':')[1]).Select(k => k.Length == 0 ? "unified" : k).Order().ToArray();
        Assert.Equal(ours.Directories.Keys.Order().ToArray(), runcJoined);
    }

    private void AssertSameFiles()
    {
        var differences = new List<string>();
        foreach (var file in Files)
        {
            var controller = file[..file.IndexOf('/')];
            var name = file[(file.IndexOf('/') + 1)..];
            var h = cg.Layout.FindV1(controller)!;
            var theirs = Normalize(File.ReadAllText(Path.Combine(h.DirectoryOf(cg.PathOf("runc1")), name)));
            var mine = Normalize(File.ReadAllText(Path.Combine(h.DirectoryOf(cg.PathOf("berth1")), name)));
            if (theirs != mine)
            {
                differences.Add($"{file}: runc '{theirs}' berth '{mine}'");
            }
        }
        Assert.True(differences.Count == 0, string.Join("\n", differences));
    }

    // devices.list order is the kernel's insertion order, which differs with the write sequence: compare as sets.
    private static string Normalize(string content) =>
        string.Join("\n", content.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith("under_oom", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

    private string MakeBundle(Resources resources, string cgroupsPath)
    {
        var bundle = temp.Combine("bundle");
        var bin = Path.Combine(bundle, "rootfs", "bin");
        Directory.CreateDirectory(bin);
        File.Copy("/bin/busybox", Path.Combine(bin, "busybox"));
        File.CreateSymbolicLink(Path.Combine(bin, "sh"), "busybox");
        File.CreateSymbolicLink(Path.Combine(bin, "sleep"), "busybox");
        var (code, output) = Run("runc", "spec", "--bundle", bundle);
        Assert.True(code == 0, output);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")))!;
        config["process"]!["terminal"] = false;
        config["process"]!["args"] = new JsonArray("sleep", "1000");
        config["linux"]!["cgroupsPath"] = cgroupsPath;
        config["linux"]!["resources"] = JsonNode.Parse(JsonSerializer.Serialize(resources, OciJsonContext.Default.Resources));
        File.WriteAllText(Path.Combine(bundle, "config.json"), config.ToJsonString());
        return bundle;
    }

    // Output goes to a file, not a pipe: a detached container inherits runc's stdio and would hold a pipe open.
    private (int Code, string Output) Run(string file, params string[] args)
    {
        var log = temp.Combine("run-" + Guid.NewGuid().ToString("N")[..8] + ".log");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$0\" \"$@\" >\"$LOG\" 2>&1 </dev/null");
        psi.ArgumentList.Add(file);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment["LOG"] = log;
        using var p = System.Diagnostics.Process.Start(psi)!;
        Assert.True(p.WaitForExit(30000), file + " timed out");
        return (p.ExitCode, File.Exists(log) ? File.ReadAllText(log) : "");
    }
}
