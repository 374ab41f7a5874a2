using Berth.Core;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Cgroups.Tests;

/// <summary>
/// The v2 driver for real, on the cgroup2 hierarchy this hybrid host mounts at /sys/fs/cgroup/unified (only
/// hugetlb is a controller there, but joining, freezing, cgroup.kill, cpu.stat and removal are core cgroup2 features).
/// Enabling hugetlb in the root's cgroup.subtree_control is undone afterwards if it was not on before.
/// </summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class UnifiedHierarchyTests : IDisposable
{
    private readonly TestCgroups cg;
    private readonly string root;
    private readonly bool hugetlbWasEnabled;

    public UnifiedHierarchyTests()
    {
        Privileged.Require();
        var host = CgroupLayout.Detect();
        Assert.True(host.Unified is not null, "this test needs a cgroup2 hierarchy (hybrid or unified host)");
        root = host.Unified!.MountPoint;
        var own = host.Unified.OwnPath;
        cg = new TestCgroups(host.Mode == CgroupMode.Unified ? host : CgroupLayout.ForUnified(root, own));
        hugetlbWasEnabled = File.ReadAllText(root + "/cgroup.subtree_control").Split(' ', '\n').Contains("hugetlb");
    }

    public void Dispose()
    {
        cg.Dispose();
        if (!hugetlbWasEnabled && File.ReadAllText(root + "/cgroup.subtree_control").Split(' ', '\n').Contains("hugetlb"))
        {
            CgroupFs.TryWrite(root + "/cgroup.subtree_control", "-hugetlb");
        }
    }

    [Fact]
    public void Create_join_freeze_thaw_kill_and_destroy_on_a_real_cgroup2_hierarchy()
    {
        var m = cg.Manager("c1");
        Assert.Equal(CgroupMode.Unified, m.Mode);
        m.Create(new Resources
        {
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 2 << 21 }],
            Unified = new() { ["cgroup.max.descendants"] = "5" },
        });
        var dir = m.Directories["unified"];
        Assert.Equal("4194304", File.ReadAllText(dir + "/hugetlb.2MB.max").Trim());
        Assert.Equal("5", File.ReadAllText(dir + "/cgroup.max.descendants").Trim());

        var sleep = cg.StartSleep(m);
        Assert.Contains($"0::{cg.PathOf("c1")}", File.ReadAllLines($"/proc/{sleep.Id}/cgroup"));
        Assert.Equal([sleep.Id], m.GetPids());

        m.Freeze();
        Assert.Contains("frozen 1", File.ReadAllText(dir + "/cgroup.events"));
        Assert.Equal(FreezerState.Frozen, m.GetFreezerState());
        m.Thaw();
        Assert.Contains("frozen 0", File.ReadAllText(dir + "/cgroup.events"));
        Assert.Equal(FreezerState.Thawed, m.GetFreezerState());

        var stats = m.GetStats();
        Assert.NotNull(stats.Cpu);
        Assert.Null(stats.Memory); // no memory controller on this hierarchy
        Assert.Equal(0, stats.OomKills);

        m.KillAll(9); // cgroup.kill
        Assert.True(sleep.WaitForExit(5000));
        m.Destroy();
        Assert.False(Directory.Exists(dir));
    }

    private static readonly DeviceCgroup DenyAll = new() { Allow = false, Access = "rwm" };
    private static readonly DeviceCgroup Null = new() { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" };
    private static readonly DeviceCgroup Zero = new() { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "rwm" };
    private static readonly DeviceCgroup Full = new() { Allow = true, Type = "c", Major = 1, Minor = 7, Access = "rwm" };

    [Fact]
    public void Device_rules_are_enforced_by_an_ebpf_program_and_an_update_replaces_it()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Devices = [DenyAll, Null, Zero] });
        Assert.Single(Berth.Cgroups.V2.DeviceFilter.Query(m.Directories["unified"]));

        const string script = "head -c 1 /dev/zero >/dev/null && echo zero-ok; : >/dev/full && echo full-ok";
        var sh = cg.StartInside(m, script);
        Assert.True(sh.WaitForExit(10000));
        Assert.Equal("zero-ok", sh.StandardOutput.ReadToEnd().Trim());
        Assert.Contains("Operation not permitted", sh.StandardError.ReadToEnd()); // the open itself was refused

        m.Update(new Resources { Devices = [DenyAll, Null, Zero, Full] });
        Assert.Single(Berth.Cgroups.V2.DeviceFilter.Query(m.Directories["unified"]));
        var again = cg.StartInside(m, script);
        Assert.True(again.WaitForExit(10000));
        Assert.Equal("zero-ok\nfull-ok", again.StandardOutput.ReadToEnd().Trim()); // allowed now
        m.Destroy();
    }

    [Fact]
    public void A_controller_the_hierarchy_lacks_is_named_and_create_undoes_itself()
    {
        var m = cg.Manager("c1");
        var e = Assert.Throws<CgroupIOException>(() => m.Create(new Resources { Pids = new PidsResources { Limit = 5 } }));
        Assert.Equal(
            $"linux.resources.pids.limit needs the pids controller, which is not enabled for {cg.PathOf("c1")} (not in the parent's cgroup.subtree_control): write {root}{cg.PathOf("c1")}/pids.max: ENOENT (No such file or directory)",
            e.Message);
        Assert.False(Directory.Exists(root + cg.Parent));
    }

    [Fact]
    public void Destroy_with_kill_removes_a_frozen_cgroup_with_children()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        var sleep = cg.StartSleep(m);
        m.Freeze();
        Directory.CreateDirectory(m.Directories["unified"] + "/inner");

        m.Destroy(killProcesses: true);

        Assert.True(sleep.WaitForExit(5000));
        Assert.False(Directory.Exists(m.Directories["unified"]));
    }

    [Fact]
    public void Hugepage_limits_on_a_hybrid_host_go_to_the_cgroup2_hierarchy_when_v1_has_no_hugetlb()
    {
        var host = CgroupLayout.Detect();
        if (host.Mode != CgroupMode.Hybrid || host.FindV1("hugetlb") is not null)
        {
            throw new InvalidOperationException("this test is about hybrid hosts whose hugetlb controller is on cgroup2 (this machine kind)");
        }
        using var hybrid = new TestCgroups(host);
        var m = hybrid.Manager("h1");
        try
        {
            m.Create(new Resources { HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 4 << 21 }] });
            Assert.Equal("8388608", File.ReadAllText(m.Directories["unified"] + "/hugetlb.2MB.max").Trim());

            var e = Assert.Throws<BerthException>(() => m.Update(new Resources { HugepageLimits = [new HugepageLimit { PageSize = "4MB", Limit = 1 }] }));
            Assert.Equal(ErrorCode.InvalidArgument, e.Code);
            Assert.Contains("page size \"4MB\" is not supported by this host", e.Message);
        }
        finally
        {
            m.Destroy(killProcesses: true);
        }
        foreach (var h in host.All)
        {
            Assert.False(Directory.Exists(h.DirectoryOf(hybrid.PathOf("h1"))));
        }
    }
}
