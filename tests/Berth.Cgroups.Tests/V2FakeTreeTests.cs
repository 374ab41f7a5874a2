using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.Tests;

public sealed class V2FakeTreeTests : IDisposable
{
    private readonly FakeCgroup2Tree tree = new();

    public void Dispose() => tree.Dispose();

    private static void AssertFiles(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual) =>
        Assert.Equal(Show(expected), Show(actual));

    private static string Show(SortedDictionary<string, string> files) =>
        string.Join("\n", files.Select(kv => kv.Key + " = " + kv.Value.Replace("\n", "\\n", StringComparison.Ordinal)));

    private ICgroupManager Manager(string? path = "/berth/c1", CgroupOptions? options = null) =>
        CgroupManager.For(tree.Layout(), path, "c1", options);

    [Fact]
    public void Create_writes_exactly_the_files_the_spec_asks_for_with_v2_values()
    {
        tree.AddCgroup("/berth/c1");
        var r = new Resources
        {
            Memory = new MemoryResources { Limit = 64 << 20, Reservation = 32 << 20, Swap = 128 << 20 },
            Cpu = new CpuResources { Shares = 512, Quota = 50000, Period = 100000, Cpus = "0-1", Mems = "0" },
            Pids = new PidsResources { Limit = 100 },
            BlockIO = new BlockIoResources { Weight = 200 },
            HugepageLimits = [new HugepageLimit { PageSize = "2MB", Limit = 4 << 21 }],
            Unified = new() { ["memory.high"] = "50000000" },
        };

        var m = Manager();
        m.Create(r);

        var all = "+cpuset +cpu +io +memory +hugetlb +pids";
        AssertFiles(
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["cgroup.subtree_control"] = all,
                ["berth/cgroup.subtree_control"] = all,
                ["berth/c1/memory.max"] = "67108864",
                ["berth/c1/memory.low"] = "33554432",
                ["berth/c1/memory.swap.max"] = "67108864",
                ["berth/c1/memory.high"] = "50000000",
                ["berth/c1/cpu.weight"] = "20",
                ["berth/c1/cpu.max"] = "50000 100000",
                ["berth/c1/cpuset.cpus"] = "0-1",
                ["berth/c1/cpuset.mems"] = "0",
                ["berth/c1/pids.max"] = "100",
                ["berth/c1/io.weight"] = "1920",
                ["berth/c1/hugetlb.2MB.max"] = "8388608",
            },
            tree.Written());
        Assert.Equal(CgroupMode.Unified, m.Mode);
        Assert.Equal("/berth/c1", m.SavedPath);
    }

    [Fact]
    public void Create_without_resources_only_enables_controllers()
    {
        tree.AddCgroup("/berth/c1");
        tree.Set("/berth", "cgroup.subtree_control", "cpuset cpu io memory hugetlb pids\n");
        Manager().Create(null);
        AssertFiles(
            new SortedDictionary<string, string>(StringComparer.Ordinal)
            {
                ["cgroup.subtree_control"] = "+cpuset +cpu +io +memory +hugetlb +pids",
                ["berth/cgroup.subtree_control"] = "cpuset cpu io memory hugetlb pids\n", // already enabled: not written
            },
            tree.Written());
    }

    [Fact]
    public void Unlimited_values_are_written_as_max()
    {
        tree.AddCgroup("/berth/c1");
        Manager().Create(new Resources
        {
            Memory = new MemoryResources { Limit = -1 },
            Cpu = new CpuResources { Quota = -1 },
            Pids = new PidsResources { Limit = 0 },
        });
        Assert.Equal("max", tree.Read("/berth/c1", "memory.max"));
        Assert.Equal("max", tree.Read("/berth/c1", "memory.swap.max"));
        Assert.Equal("max", tree.Read("/berth/c1", "cpu.max"));
        Assert.Equal("max", tree.Read("/berth/c1", "pids.max"));
    }

    [Fact]
    public void Swap_equal_to_limit_disables_swap()
    {
        tree.AddCgroup("/berth/c1");
        Manager().Create(new Resources { Memory = new MemoryResources { Limit = 1 << 20, Swap = 1 << 20 } });
        Assert.Equal("0", tree.Read("/berth/c1", "memory.swap.max"));
    }

    [Fact]
    public void Update_of_the_period_alone_keeps_the_quota_in_force()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        m.Create(new Resources { Cpu = new CpuResources { Quota = 20000, Period = 100000 } });
        Assert.Equal("20000 100000", tree.Read("/berth/c1", "cpu.max"));
        m.Update(new Resources { Cpu = new CpuResources { Period = 50000 } });
        Assert.Equal("20000 50000", tree.Read("/berth/c1", "cpu.max"));
    }

    [Fact]
    public void Update_below_current_usage_is_refused_naming_the_field_and_changes_nothing()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        m.Create(new Resources { Memory = new MemoryResources { Limit = 100 << 20 } });
        tree.Set("/berth/c1", "memory.current", "52428800\n");

        var e = Assert.Throws<BerthException>(() => m.Update(new Resources { Memory = new MemoryResources { Limit = 10 << 20 } }));

        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Equal("linux.resources.memory.limit: 10485760 is below the container's current usage 52428800; use a limit of at least 52428800 bytes or -1 for unlimited", e.Message);
        Assert.Equal("104857600", tree.Read("/berth/c1", "memory.max"));
    }

    [Fact]
    public void Update_of_swap_alone_converts_against_the_limit_in_force()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        m.Create(new Resources { Memory = new MemoryResources { Limit = 100 } });
        m.Update(new Resources { Memory = new MemoryResources { Swap = 300 } });
        Assert.Equal("200", tree.Read("/berth/c1", "memory.swap.max"));
        Assert.Equal("100", tree.Read("/berth/c1", "memory.max"));
    }

    [Fact]
    public void A_missing_controller_is_named_and_a_failed_create_leaves_nothing()
    {
        // Only the root exists: Create makes /berth and /berth/c1 as plain empty directories, so memory.max is missing.
        var m = Manager();
        var e = Assert.Throws<CgroupIOException>(() => m.Create(new Resources { Memory = new MemoryResources { Limit = 1 << 20 } }));

        Assert.Equal(ErrorCode.NotFound, e.Code);
        Assert.Equal(
            $"linux.resources.memory.limit needs the memory controller, which is not enabled for /berth/c1 (not in the parent's cgroup.subtree_control): write {tree.Root}/berth/c1/memory.max: ENOENT (No such file or directory)",
            e.Message);
        Assert.False(Directory.Exists(tree.Dir("/berth/c1")));
        Assert.False(Directory.Exists(tree.Dir("/berth")));
    }

    [Fact]
    public void Relative_path_goes_below_our_own_cgroup()
    {
        tree.AddCgroup("/user.slice/me/sub");
        var m = CgroupManager.For(tree.Layout("/user.slice/me"), "sub", "c1");
        m.Create(new Resources { Pids = new PidsResources { Limit = 7 } });
        Assert.Equal("/user.slice/me/sub", m.Path);
        Assert.Equal("7", tree.Read("/user.slice/me/sub", "pids.max"));
    }

    [Fact]
    public void An_existing_cgroup_with_processes_is_not_reused()
    {
        tree.AddCgroup("/berth/c1");
        tree.Set("/berth/c1", "cgroup.procs", "4242\n");
        var e = Assert.Throws<BerthException>(() => Manager().Create(null));
        Assert.Equal(ErrorCode.AlreadyExists, e.Code);
        Assert.Contains("cgroup /berth/c1 already exists and has processes (4242)", e.Message);
        Assert.True(Directory.Exists(tree.Dir("/berth/c1")));
    }

    [Fact]
    public void Apply_writes_the_pid_to_cgroup_procs()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        m.Create(null);
        m.Apply(1234);
        Assert.Equal("1234", tree.Read("/berth/c1", "cgroup.procs"));
        Assert.Equal([1234], m.GetPids(recursive: false));
    }

    [Fact]
    public void Stats_and_oom_kills_come_from_the_v2_files()
    {
        tree.AddCgroup("/berth/c1");
        tree.Set("/berth/c1", "memory.current", "1000\n");
        tree.Set("/berth/c1", "memory.max", "max\n");
        tree.Set("/berth/c1", "memory.peak", "4000\n");
        tree.Set("/berth/c1", "memory.events", "low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n");
        tree.Set("/berth/c1", "memory.swap.current", "0\n");
        tree.Set("/berth/c1", "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 250\n");
        tree.Set("/berth/c1", "pids.current", "3\n");
        tree.Set("/berth/c1", "pids.max", "max\n");

        var m = Manager();
        var s = m.GetStats();

        Assert.Equal(1000, s.Memory!.Usage);
        Assert.Equal(-1, s.Memory.Limit);
        Assert.Equal(4000, s.Memory.MaxUsage);
        Assert.Equal(7, s.Memory.Failcnt);
        Assert.Equal(2, s.OomKills);
        Assert.Equal(2, m.GetOomKillCount());
        Assert.Equal(1_500_000, s.Cpu!.UsageNanoseconds);
        Assert.Equal(1_000_000, s.Cpu.UserNanoseconds);
        Assert.Equal(500_000, s.Cpu.SystemNanoseconds);
        Assert.Equal(3, s.Cpu.ThrottledPeriods);
        Assert.Equal(250_000, s.Cpu.ThrottledNanoseconds);
        Assert.Equal(3, s.Pids!.Current);
        Assert.Equal(-1, s.Pids.Limit);
    }

    [Fact]
    public void Freeze_writes_cgroup_freeze_and_waits_for_cgroup_events()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager(options: new CgroupOptions { FreezeTimeout = TimeSpan.FromMilliseconds(200) });
        tree.Set("/berth/c1", "cgroup.events", "populated 1\nfrozen 1\n");

        m.Freeze();
        Assert.Equal("1", tree.Read("/berth/c1", "cgroup.freeze"));
        Assert.Equal(FreezerState.Frozen, m.GetFreezerState());

        // The "kernel" never reports thawed: Thaw gives up with a clear error after the timeout.
        var e = Assert.Throws<BerthException>(m.Thaw);
        Assert.Equal(ErrorCode.Unavailable, e.Code);
        Assert.Contains("thawing cgroup /berth/c1 did not finish", e.Message);

        tree.Set("/berth/c1", "cgroup.events", "populated 1\nfrozen 0\n");
        m.Thaw();
        Assert.Equal("0", tree.Read("/berth/c1", "cgroup.freeze"));
        Assert.Equal(FreezerState.Thawed, m.GetFreezerState());
    }

    [Fact]
    public void A_freeze_that_never_settles_is_undone()
    {
        tree.AddCgroup("/berth/c1");
        tree.Set("/berth/c1", "cgroup.events", "populated 1\nfrozen 0\n");
        var m = Manager(options: new CgroupOptions { FreezeTimeout = TimeSpan.FromMilliseconds(100) });
        var e = Assert.Throws<BerthException>(m.Freeze);
        Assert.Contains("it was thawed again", e.Message);
        Assert.Equal("0", tree.Read("/berth/c1", "cgroup.freeze"));
    }

    [Fact]
    public void Kill_all_with_sigkill_uses_cgroup_kill()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        m.KillAll(9);
        Assert.Equal("1", tree.Read("/berth/c1", "cgroup.kill"));
    }

    [Fact]
    public void Swap_without_a_limit_is_refused_on_create()
    {
        tree.AddCgroup("/berth/c1");
        var e = Assert.Throws<BerthException>(() => Manager().Create(new Resources { Memory = new MemoryResources { Swap = 1 << 30 } }));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("linux.resources.memory.swap: 1073741824 needs linux.resources.memory.limit", e.Message);
    }

    [Fact]
    public void Update_of_a_deleted_cgroup_is_not_found()
    {
        var e = Assert.Throws<BerthException>(() => Manager().Update(new Resources { Pids = new PidsResources { Limit = 1 } }));
        Assert.Equal(ErrorCode.NotFound, e.Code);
        Assert.False(Manager().Exists());
    }

    [Fact]
    public void A_v2_cgroup_cannot_take_a_thread_and_asking_writes_nothing()
    {
        tree.AddCgroup("/berth/c1");
        var m = Manager();
        var before = tree.Written();
        Assert.False(m.CanJoinCurrentThread());
        AssertFiles(before, tree.Written());
        var e = Assert.Throws<BerthException>(m.JoinCurrentThread);
        Assert.Equal(ErrorCode.FailedPrecondition, e.Code);
        AssertFiles(before, tree.Written());
        // Nothing was born in it: Apply after a (v2: impossible) join still moves the process into the whole cgroup.
        m.Apply(1234, threadJoined: true);
        Assert.Equal("1234", tree.Read("/berth/c1", "cgroup.procs"));
    }
}
