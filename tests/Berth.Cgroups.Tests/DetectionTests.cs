using Berth.Core;
using Berth.Testing;

namespace Berth.Cgroups.Tests;

public class DetectionTests
{
    // This machine kind: each v1 controller on its own, cgroup2 at /sys/fs/cgroup/unified.
    private const string HybridMountInfo = """
        22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/root rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """;

    private const string HybridProcCgroup = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/0fd15d
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/
        """;

    [Fact]
    public void Hybrid_layout_of_this_machine_kind_is_parsed_with_separate_cpu_and_cpuacct()
    {
        var layout = CgroupLayout.Parse(HybridMountInfo, HybridProcCgroup);

        Assert.Equal(CgroupMode.Hybrid, layout.Mode);
        Assert.Equal(9, layout.V1.Count);
        Assert.Equal("/sys/fs/cgroup/cpu", layout.FindV1("cpu")!.MountPoint);
        Assert.Equal("/sys/fs/cgroup/cpuacct", layout.FindV1("cpuacct")!.MountPoint);
        Assert.NotSame(layout.FindV1("cpu"), layout.FindV1("cpuacct"));
        Assert.Equal("/process_api/0fd15d", layout.FindV1("memory")!.OwnPath);
        Assert.Equal("/sys/fs/cgroup/systemd", layout.V1.Single(h => h.Key == "name=systemd").MountPoint);
        Assert.Equal("/sys/fs/cgroup/unified", layout.Unified!.MountPoint);
        Assert.Equal(10, layout.All.Count());
    }

    [Fact]
    public void Pure_v1_with_cpu_and_cpuacct_comounted_is_one_hierarchy()
    {
        const string mountInfo = """
            25 22 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs ro,mode=755
            27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
            28 25 0:25 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
            29 25 0:26 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
            """;
        const string procCgroup = """
            3:cpu,cpuacct:/user.slice
            2:memory:/user.slice
            1:name=systemd:/user.slice/session-1.scope
            """;

        var layout = CgroupLayout.Parse(mountInfo, procCgroup);

        Assert.Equal(CgroupMode.Legacy, layout.Mode);
        Assert.Null(layout.Unified);
        Assert.Same(layout.FindV1("cpu"), layout.FindV1("cpuacct"));
        Assert.Equal("cpu,cpuacct", layout.FindV1("cpu")!.Key);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", layout.FindV1("cpuacct")!.MountPoint);
    }

    [Fact]
    public void Unified_layout_takes_our_path_from_the_zero_line()
    {
        const string mountInfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
        var layout = CgroupLayout.Parse(mountInfo, "0::/user.slice/user-0.slice/session-3.scope\n");

        Assert.Equal(CgroupMode.Unified, layout.Mode);
        Assert.Empty(layout.V1);
        Assert.Equal("/sys/fs/cgroup", layout.Unified!.MountPoint);
        Assert.Equal("/user.slice/user-0.slice/session-3.scope", layout.Unified.OwnPath);
    }

    [Fact]
    public void Mount_points_with_escaped_spaces_are_unescaped()
    {
        const string mountInfo = @"30 23 0:26 / /tmp/my\040cgroup rw - cgroup2 cgroup2 rw";
        var layout = CgroupLayout.Parse(mountInfo, "0::/\n");
        Assert.Equal("/tmp/my cgroup", layout.Unified!.MountPoint);
    }

    [Fact]
    public void A_bind_mount_from_below_the_root_maps_our_path_into_the_mount()
    {
        const string mountInfo = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory";
        var layout = CgroupLayout.Parse(mountInfo, "4:memory:/docker/abc/inner\n");
        var memory = layout.FindV1("memory")!;
        Assert.Equal("/sys/fs/cgroup/memory/inner", memory.DirectoryOf("/docker/abc/inner"));
    }

    [Fact]
    public void No_cgroup_mount_is_a_clear_not_supported_error()
    {
        var e = Assert.Throws<BerthException>(() => CgroupLayout.Parse("22 1 259:1 / / rw - ext4 /dev/root rw\n", "0::/\n"));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("no cgroup filesystem is mounted", e.Message);
    }

    [Fact]
    public void Detect_reads_injected_files()
    {
        using var tmp = new TempDirectory();
        File.WriteAllText(tmp.Combine("mountinfo"), HybridMountInfo);
        File.WriteAllText(tmp.Combine("cgroup"), HybridProcCgroup);
        var layout = CgroupLayout.Detect(tmp.Combine("mountinfo"), tmp.Combine("cgroup"));
        Assert.Equal(CgroupMode.Hybrid, layout.Mode);
    }

    [Fact]
    [Trait(Traits.Category, Traits.Privileged)]
    public void Detect_on_this_host_finds_the_v1_hierarchies_and_our_own_memory_cgroup()
    {
        Privileged.Require();
        var layout = CgroupLayout.Detect();
        var ownMemory = File.ReadAllLines("/proc/self/cgroup").Single(l => l.Split(':')[1] == "memory").Split(':')[2];

        Assert.NotEqual(CgroupMode.Unified, layout.Mode);
        foreach (var controller in new[] { "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio" })
        {
            var h = layout.FindV1(controller);
            Assert.NotNull(h);
            Assert.True(Directory.Exists(h!.MountPoint), h.MountPoint);
        }
        Assert.Equal(ownMemory, layout.FindV1("memory")!.OwnPath);
    }
}
