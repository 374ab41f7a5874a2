using Berth.Core;
using Berth.Oci.Runtime;
using Berth.Testing;

namespace Berth.Cgroups.Tests;

/// <summary>The v1 driver on this host's real hierarchies (a v1 hybrid machine kind).</summary>
[Trait(Traits.Category, Traits.Privileged)]
public sealed class V1PrivilegedTests : IDisposable
{
    private readonly TestCgroups cg;

    public V1PrivilegedTests()
    {
        Privileged.Require();
        cg = new TestCgroups();
        Assert.NotEqual(CgroupMode.Unified, cg.Layout.Mode);
    }

    public void Dispose() => cg.Dispose();

    private string V1Dir(string controller, string name) => cg.Layout.FindV1(controller)!.DirectoryOf(cg.PathOf(name));

    private string ReadV1(string controller, string name, string file) => File.ReadAllText(Path.Combine(V1Dir(controller, name), file)).Trim();

    [Fact]
    public void Create_writes_every_requested_resource_into_the_v1_files()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources
        {
            Memory = new MemoryResources { Limit = 64 << 20, Reservation = 32 << 20, Swap = 128 << 20, Swappiness = 10 },
            Cpu = new CpuResources { Shares = 512, Quota = 50000, Period = 200000, Cpus = "0", Mems = "0", Burst = 1000 },
            Pids = new PidsResources { Limit = 50 },
            BlockIO = new BlockIoResources { Weight = 200 },
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "r" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 136, Access = "rw" },
            ],
        });

        foreach (var dir in cg.DirectoriesOf(cg.PathOf("c1")))
        {
            Assert.True(Directory.Exists(dir), dir);
        }
        Assert.Equal("67108864", ReadV1("memory", "c1", "memory.limit_in_bytes"));
        Assert.Equal("33554432", ReadV1("memory", "c1", "memory.soft_limit_in_bytes"));
        Assert.Equal("134217728", ReadV1("memory", "c1", "memory.memsw.limit_in_bytes"));
        Assert.Equal("10", ReadV1("memory", "c1", "memory.swappiness"));
        Assert.Equal("512", ReadV1("cpu", "c1", "cpu.shares"));
        Assert.Equal("50000", ReadV1("cpu", "c1", "cpu.cfs_quota_us"));
        Assert.Equal("200000", ReadV1("cpu", "c1", "cpu.cfs_period_us"));
        Assert.Equal("1000", ReadV1("cpu", "c1", "cpu.cfs_burst_us"));
        Assert.Equal("0", ReadV1("cpuset", "c1", "cpuset.cpus"));
        Assert.Equal("0", ReadV1("cpuset", "c1", "cpuset.mems"));
        Assert.Equal("50", ReadV1("pids", "c1", "pids.max"));
        Assert.Equal("200", ReadV1("blkio", "c1", "blkio.bfq.weight"));
        Assert.Equal("c 1:3 rwm\nc 1:5 r\nc 136:* rw", ReadV1("devices", "c1", "devices.list"));
        // The intermediate cpuset cgroup got its parent's cpus/mems, or nothing could join below it.
        Assert.Equal(File.ReadAllText(cg.Layout.FindV1("cpuset")!.MountPoint + "/cpuset.cpus").Trim(),
            File.ReadAllText(cg.Layout.FindV1("cpuset")!.DirectoryOf(cg.Parent) + "/cpuset.cpus").Trim());
        // Nothing that was not asked for: the OOM killer stays on, no rt budget.
        Assert.StartsWith("oom_kill_disable 0", ReadV1("memory", "c1", "memory.oom_control"));
    }

    [Fact]
    public void A_process_joins_every_hierarchy_and_is_listed_measured_frozen_thawed_and_killed()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Pids = new PidsResources { Limit = 10 } });
        var sleep = cg.StartSleep(m);

        var own = File.ReadAllLines($"/proc/{sleep.Id}/cgroup");
        foreach (var h in cg.Layout.All)
        {
            var key = h.IsUnified ? "" : h.Key;
            Assert.Contains(own, l => l.Split(':', 3)[1] == key && l.Split(':', 3)[2] == cg.PathOf("c1"));
        }
        Assert.Equal([sleep.Id], m.GetPids());

        var stats = m.GetStats();
        Assert.Equal(1, stats.Pids!.Current);
        Assert.Equal(10, stats.Pids.Limit);
        Assert.True(stats.Memory!.Usage >= 0);
        Assert.Equal(-1, stats.Memory.Limit);
        Assert.NotNull(stats.Cpu);
        Assert.Equal(0, stats.OomKills);

        m.Freeze();
        Assert.Equal("FROZEN", ReadV1("freezer", "c1", "freezer.state"));
        Assert.Equal(FreezerState.Frozen, m.GetFreezerState());
        Assert.Equal('D', TestCgroups.State(sleep.Id)); // a v1-frozen task shows as D (disk sleep)

        m.Thaw();
        Assert.Equal("THAWED", ReadV1("freezer", "c1", "freezer.state"));
        TestCgroups.WaitForState(sleep.Id, 'S');

        m.KillAll(15);
        Assert.True(sleep.WaitForExit(5000));
        Assert.Equal(FreezerState.Thawed, m.GetFreezerState());

        m.Destroy();
        foreach (var dir in cg.DirectoriesOf(cg.PathOf("c1")))
        {
            Assert.False(Directory.Exists(dir), dir);
        }
        Assert.False(m.Exists());
        m.Destroy(); // already gone: not an error
    }

    [Fact]
    public void Pids_limit_bounds_a_fork_loop()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Pids = new PidsResources { Limit = 5 } });
        var sh = cg.StartInside(m, "i=0; while [ $i -lt 20 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done; echo all-forked");

        Assert.True(sh.WaitForExit(10000));
        var stderr = sh.StandardError.ReadToEnd();
        Assert.DoesNotContain("all-forked", sh.StandardOutput.ReadToEnd());
        Assert.Contains("Cannot fork", stderr);
        Assert.NotEqual(0, sh.ExitCode);
        Assert.True(m.GetStats().Pids!.Current <= 5);
        Assert.Equal(4, m.GetPids().Count); // the shell is gone, the 4 sleeps it managed to start are not
        Assert.Matches("max [1-9]", ReadV1("pids", "c1", "pids.events"));

        m.Destroy(killProcesses: true);
        Assert.False(Directory.Exists(V1Dir("pids", "c1")));
    }

    [Fact]
    public void A_process_over_the_memory_limit_is_oom_killed_and_stats_report_it()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Memory = new MemoryResources { Limit = 16 << 20 } });
        Assert.Equal(0, m.GetOomKillCount());

        // dd's 64 MiB buffer is filled by the kernel, so every page is charged to the cgroup.
        var dd = cg.StartInside(m, "exec dd if=/dev/zero of=/dev/null bs=64M count=1");

        Assert.True(dd.WaitForExit(20000));
        Assert.Equal(137, dd.ExitCode); // SIGKILL
        Assert.True(m.GetOomKillCount() >= 1);
        var stats = m.GetStats();
        Assert.True(stats.OomKills >= 1);
        Assert.True(stats.Memory!.Failcnt > 0);
        Assert.Equal(16 << 20, stats.Memory.Limit);
        Assert.True(stats.Memory.MaxUsage > 15 << 20, "max usage " + stats.Memory.MaxUsage);
        m.Destroy();
    }

    [Fact]
    public void Update_grows_and_shrinks_memory_and_swap_in_the_order_the_kernel_accepts()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Memory = new MemoryResources { Limit = 64 << 20, Swap = 128 << 20 } });

        // Growing: the new limit (256M) is above the old memsw (128M), so memsw must go first.
        m.Update(new Resources { Memory = new MemoryResources { Limit = 256 << 20, Swap = 512 << 20 } });
        Assert.Equal("268435456", ReadV1("memory", "c1", "memory.limit_in_bytes"));
        Assert.Equal("536870912", ReadV1("memory", "c1", "memory.memsw.limit_in_bytes"));

        // Shrinking: the new memsw (48M) is below the old limit (256M), so the limit must go first.
        m.Update(new Resources { Memory = new MemoryResources { Limit = 32 << 20, Swap = 48 << 20 } });
        Assert.Equal("33554432", ReadV1("memory", "c1", "memory.limit_in_bytes"));
        Assert.Equal("50331648", ReadV1("memory", "c1", "memory.memsw.limit_in_bytes"));

        // Unlimited memory with swap unset: both unlimited.
        m.Update(new Resources { Memory = new MemoryResources { Limit = -1 } });
        Assert.Equal(-1, m.GetStats().Memory!.Limit);
        Assert.True(long.Parse(ReadV1("memory", "c1", "memory.memsw.limit_in_bytes"), System.Globalization.CultureInfo.InvariantCulture) > 1L << 62);

        m.Update(new Resources { Cpu = new CpuResources { Shares = 300 }, Pids = new PidsResources { Limit = -1 } });
        Assert.Equal("300", ReadV1("cpu", "c1", "cpu.shares"));
        Assert.Equal("max", ReadV1("pids", "c1", "pids.max"));
    }

    [Fact]
    public void Update_below_current_usage_is_refused_naming_the_field()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources { Memory = new MemoryResources { Limit = 256 << 20 } });
        // The shell keeps ~8 MB in a variable and then waits.
        var sh = cg.StartInside(m, "x=$(head -c 8000000 /dev/zero | tr '\\0' a); echo ready; sleep 1000");
        Assert.Equal("ready", sh.StandardOutput.ReadLine());

        var e = Assert.Throws<BerthException>(() => m.Update(new Resources { Memory = new MemoryResources { Limit = 1 << 20 } }));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.StartsWith("linux.resources.memory.limit: 1048576 is below the container's current usage ", e.Message);
        Assert.Equal("268435456", ReadV1("memory", "c1", "memory.limit_in_bytes"));
        m.Destroy(killProcesses: true);
    }

    [Fact]
    public void Device_rules_are_enforced()
    {
        var m = cg.Manager("c1");
        m.Create(new Resources
        {
            Devices =
            [
                new DeviceCgroup { Allow = false, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 3, Access = "rwm" },
                new DeviceCgroup { Allow = true, Type = "c", Major = 1, Minor = 5, Access = "rwm" },
            ],
        });
        var sh = cg.StartInside(m, "head -c 1 /dev/zero >/dev/null && echo zero-ok; : >/dev/full && echo full-ok");

        Assert.True(sh.WaitForExit(10000));
        Assert.Equal("zero-ok", sh.StandardOutput.ReadToEnd().Trim());
        Assert.Contains("Operation not permitted", sh.StandardError.ReadToEnd()); // the open itself was refused
        m.Destroy();
    }

    [Fact]
    public void Updating_device_rules_of_a_running_container_writes_the_difference_and_keeps_what_both_lists_allow()
    {
        var deny = new DeviceCgroup { Allow = false, Access = "rwm" };
        DeviceCgroup Allow(long major, long? minor, string access = "rwm") => new() { Allow = true, Type = "c", Major = major, Minor = minor, Access = access };
        var m = cg.Manager("c1");
        m.Create(new Resources { Devices = [deny, Allow(1, 3), Allow(1, 5), Allow(136, null, "rw")] });
        // Opens /dev/null as fast as it can while the rules change underneath it (a probe: a deny-all rewrite's
        // window is microseconds, so this rarely catches one; the lists below are the exact check).
        var sh = cg.StartInside(m, "echo started; i=0; while [ $i -lt 20000 ]; do : >/dev/null || echo DENIED; i=$((i+1)); done; echo done");
        Assert.Equal("started", sh.StandardOutput.ReadLine());

        for (var i = 0; i < 50; i++)
        {
            m.Update(new Resources { Devices = [deny, Allow(1, 3), Allow(1, 7), Allow(136, null, "rwm")] });
            m.Update(new Resources { Devices = [deny, Allow(1, 3), Allow(1, 5), Allow(136, null, "rw")] });
        }
        m.Update(new Resources { Devices = [deny, Allow(1, 3), Allow(1, 7), Allow(136, null, "rwm")] });

        Assert.True(sh.WaitForExit(60000));
        Assert.Equal("done", sh.StandardOutput.ReadToEnd().Trim());
        Assert.Equal(["c 136:* rwm", "c 1:3 rwm", "c 1:7 rwm"], ReadV1("devices", "c1", "devices.list").Split('\n').Order(StringComparer.Ordinal));

        // Switching to allow-all and back is a full rewrite.
        m.Update(new Resources { Devices = [new DeviceCgroup { Allow = true, Access = "rwm" }] });
        Assert.Equal("a *:* rwm", ReadV1("devices", "c1", "devices.list"));
        m.Update(new Resources { Devices = [deny, Allow(1, 3)] });
        Assert.Equal("c 1:3 rwm", ReadV1("devices", "c1", "devices.list"));
    }

    [Fact]
    public void Destroy_waits_for_processes_and_says_which_are_left_unless_asked_to_kill()
    {
        var m = cg.Manager("c1", new CgroupOptions { DestroyTimeout = TimeSpan.FromMilliseconds(200) });
        m.Create(null);
        var sleep = cg.StartSleep(m);

        var e = Assert.Throws<CgroupIOException>(() => m.Destroy());
        Assert.Equal(16, e.Errno);
        Assert.Contains($"still has processes {sleep.Id}", e.Message);
        Assert.Contains("EBUSY (Device or resource busy)", e.Message);

        m.Destroy(killProcesses: true);
        Assert.True(sleep.WaitForExit(5000));
        foreach (var dir in cg.DirectoriesOf(cg.PathOf("c1")))
        {
            Assert.False(Directory.Exists(dir), dir);
        }
    }

    [Fact]
    public void Destroy_with_kill_also_handles_a_frozen_cgroup_and_child_cgroups()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        var sleep = cg.StartSleep(m);
        // A nested cgroup the container made for itself.
        Directory.CreateDirectory(V1Dir("memory", "c1") + "/inner");
        m.Freeze();

        m.Destroy(killProcesses: true);

        Assert.True(sleep.WaitForExit(5000));
        Assert.False(Directory.Exists(V1Dir("memory", "c1")));
    }

    [Fact]
    public void A_failed_create_leaves_nothing_behind_and_names_file_and_errno()
    {
        var m = cg.Manager("c1");
        var e = Assert.Throws<CgroupIOException>(() => m.Create(new Resources
        {
            Memory = new MemoryResources { Limit = 64 << 20 },
            Cpu = new CpuResources { Cpus = "0-511" }, // well-formed, but this host has no CPU 511
        }));

        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        // The kernel answers ERANGE for CPUs beyond nr_cpu_ids.
        Assert.Equal($"linux.resources.cpu.cpus \"0-511\": write {V1Dir("cpuset", "c1")}/cpuset.cpus: ERANGE (Numerical result out of range)", e.Message);
        foreach (var dir in cg.DirectoriesOf(cg.Parent))
        {
            Assert.False(Directory.Exists(dir), dir); // the parent Create made is gone too
        }
    }

    [Fact]
    public void Realtime_cpu_period_is_written_and_a_runtime_beyond_the_parents_budget_is_explained()
    {
        var m = cg.Manager("c1");
        var e = Assert.Throws<CgroupIOException>(() => m.Create(new Resources { Cpu = new CpuResources { RealtimePeriod = 500000, RealtimeRuntime = 1000 } }));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Equal(
            $"linux.resources.cpu.realtimeRuntime: 1000 exceeds the realtime budget of the parent cgroup (raise its cpu.rt_runtime_us first): write {V1Dir("cpu", "c1")}/cpu.rt_runtime_us: EINVAL (Invalid argument)",
            e.Message);

        m.Create(new Resources { Cpu = new CpuResources { RealtimePeriod = 500000 } });
        Assert.Equal("500000", ReadV1("cpu", "c1", "cpu.rt_period_us"));
    }

    [Fact]
    public void Invalid_resources_are_refused_before_anything_is_made()
    {
        var m = cg.Manager("c1");
        var e = Assert.Throws<BerthException>(() => m.Create(new Resources { Memory = new MemoryResources { Limit = -5 } }));
        Assert.Equal("linux.resources.memory.limit: -5 is invalid; use a positive number of bytes or -1 for unlimited", e.Message);
        Assert.All(cg.DirectoriesOf(cg.Parent), d => Assert.False(Directory.Exists(d), d));
    }

    [Fact]
    public void An_existing_cgroup_with_processes_is_not_reused_but_an_empty_one_is()
    {
        var first = cg.Manager("c1");
        first.Create(null);
        var sleep = cg.StartSleep(first);

        var e = Assert.Throws<BerthException>(() => cg.Manager("c1").Create(null));
        Assert.Equal(ErrorCode.AlreadyExists, e.Code);
        Assert.Contains($"has processes ({sleep.Id})", e.Message);

        first.Destroy(killProcesses: true);
        var empty = cg.Manager("c1");
        empty.Create(null);
        empty.Create(new Resources { Pids = new PidsResources { Limit = 3 } });
        Assert.Equal("3", ReadV1("pids", "c1", "pids.max"));
    }

    [Fact]
    public void A_loaded_manager_finds_the_same_cgroup()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        var sleep = cg.StartSleep(m);

        var loaded = CgroupManager.Load(CgroupLayout.Detect(), m.SavedPath);

        Assert.Equal(m.Directories, loaded.Directories);
        Assert.True(loaded.Exists());
        Assert.Equal([sleep.Id], loaded.GetPids());
        loaded.Destroy(killProcesses: true);
        Assert.False(m.Exists());
    }

    [Fact]
    public void A_relative_path_is_created_below_our_own_cgroup_in_each_hierarchy()
    {
        var name = "berth-rel-" + Guid.NewGuid().ToString("N")[..8];
        var m = CgroupManager.For(cg.Layout, name, name);
        try
        {
            m.Create(null);
            var memory = cg.Layout.FindV1("memory")!;
            Assert.Equal(memory.DirectoryOf(memory.OwnPath.TrimEnd('/') + "/" + name), m.Directories["memory"]);
            Assert.True(Directory.Exists(m.Directories["memory"]));
            foreach (var h in cg.Layout.All)
            {
                Assert.Equal(h.DirectoryOf(h.OwnPath.TrimEnd('/') + "/" + name), m.Directories[h.Key]);
            }
        }
        finally
        {
            m.Destroy(killProcesses: true);
        }
        Assert.All(m.Directories.Values, d => Assert.False(Directory.Exists(d), d));
    }

    [Fact]
    public void Kill_all_reaches_every_process_including_children()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        var sh = cg.StartInside(m, "sleep 1000 & sleep 1000 & echo started; wait");
        Assert.Equal("started", sh.StandardOutput.ReadLine());
        Assert.Equal(3, m.GetPids().Count);

        m.KillAll(9);

        Assert.True(sh.WaitForExit(5000));
        for (var i = 0; i < 100 && m.GetPids().Count > 0; i++)
        {
            Thread.Sleep(20);
        }
        Assert.Empty(m.GetPids());
        m.Destroy();
    }

    /// <summary>The line of /proc/.../cgroup for hierarchy <paramref name="h"/>: "4:memory:/path" or "0::/path".</summary>
    private static string LineOf(string text, CgroupHierarchy h) =>
        text.Split('\n').Single(l => l.Length > 0 && l.Split(':', 3)[1] == (h.IsUnified ? "" : h.Key));

    [Fact]
    public void A_thread_joins_the_v1_cgroups_alone_and_returns_to_its_own()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        Assert.True(m.CanJoinCurrentThread()); // this machine kind: v1 plus a controller-less cgroup2 tree
        string? before = null, joined = null, leaderWhileJoined = null, after = null;
        IReadOnlyList<int>? pidsWhileJoined = null;
        var thread = new Thread(() =>
        {
            before = File.ReadAllText("/proc/thread-self/cgroup");
            m.JoinCurrentThread();
            joined = File.ReadAllText("/proc/thread-self/cgroup");
            leaderWhileJoined = File.ReadAllText($"/proc/{Environment.ProcessId}/task/{Environment.ProcessId}/cgroup");
            pidsWhileJoined = m.GetPids();
            cg.Layout.ReturnCurrentThread();
            after = File.ReadAllText("/proc/thread-self/cgroup");
        });
        thread.Start();
        thread.Join();

        Assert.Equal(before, after);
        Assert.Equal(before, leaderWhileJoined); // only the thread moved, not the process
        foreach (var h in cg.Layout.V1)
        {
            Assert.EndsWith(":" + cg.PathOf("c1"), LineOf(joined!, h), StringComparison.Ordinal);
        }
        // cgroup2 cannot take one thread: that line is left as it was.
        Assert.Equal(LineOf(before!, cg.Layout.Unified!), LineOf(joined!, cg.Layout.Unified!));
        Assert.Equal([Environment.ProcessId], pidsWhileJoined);
        Assert.Empty(m.GetPids());
        m.Destroy();
    }

    [Fact]
    public void Apply_after_a_thread_join_moves_the_process_into_the_cgroup2_hierarchy_only()
    {
        var m = cg.Manager("c1");
        m.Create(null);
        using var sleep = System.Diagnostics.Process.Start("/bin/sleep", "100");
        try
        {
            var before = File.ReadAllText($"/proc/{sleep.Id}/cgroup");
            m.Apply(sleep.Id, threadJoined: true);
            var after = File.ReadAllText($"/proc/{sleep.Id}/cgroup");
            foreach (var h in cg.Layout.V1)
            {
                Assert.Equal(LineOf(before, h), LineOf(after, h));
            }
            Assert.Equal("0::" + cg.PathOf("c1"), LineOf(after, cg.Layout.Unified!));
        }
        finally
        {
            sleep.Kill();
            sleep.WaitForExit();
        }
        m.Destroy();
    }
}
