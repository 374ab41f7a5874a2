using System.Globalization;
using Berth.Cgroups.Interop;
using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.V1;

/// <summary>
/// The cgroup v1 driver (pure v1 and hybrid hosts): one directory per mounted hierarchy, plus the cgroup2 one on a
/// hybrid host so the container's /proc/self/cgroup is consistent and hugetlb works where only cgroup2 carries it.
/// </summary>
internal sealed class CgroupV1Manager : CgroupManagerBase
{
    private static readonly string Unlimited = "-1";

    private readonly CgroupEntry? memory;
    private readonly CgroupEntry? cpu;
    private readonly CgroupEntry? cpuacct;
    private readonly CgroupEntry? cpuset;
    private readonly CgroupEntry? devices;
    private readonly CgroupEntry? freezer;
    private readonly CgroupEntry? pids;
    private readonly CgroupEntry? blkio;
    private readonly CgroupEntry? hugetlb;
    private readonly CgroupEntry? unified;

    public CgroupV1Manager(CgroupLayout layout, Dictionary<string, string> paths, CgroupOptions options)
        : base(layout, paths, options)
    {
        foreach (var e in Entries)
        {
            if (e.Hierarchy.IsUnified)
            {
                unified = e;
                continue;
            }
            foreach (var c in e.Hierarchy.Controllers)
            {
                switch (c)
                {
                    case "memory": memory = e; break;
                    case "cpu": cpu = e; break;
                    case "cpuacct": cpuacct = e; break;
                    case "cpuset": cpuset = e; break;
                    case "devices": devices = e; break;
                    case "freezer": freezer = e; break;
                    case "pids": pids = e; break;
                    case "blkio": blkio = e; break;
                    case "hugetlb": hugetlb = e; break;
                }
            }
        }
    }

    public override CgroupMode Mode => Layout.Mode;

    public override string Path => (memory ?? Entries[0]).CgroupPath;

    protected override string ProcsDirectory => (memory ?? pids ?? Entries[0]).Directory;

    protected override bool CanFreeze => freezer is not null;

    public override void Create(Resources? resources)
    {
        ResourceValidator.Validate(resources, Mode);
        var created = new List<string>();
        try
        {
            var checkedExisting = false;
            foreach (var e in Entries)
            {
                var before = created.Count;
                CgroupFs.MakeDirectories(e.Directory, created);
                var madeLeaf = created.Count > before && created[^1] == e.Directory;
                if (!madeLeaf && !checkedExisting)
                {
                    EnsureNoProcesses(e.Directory, e.CgroupPath);
                    checkedExisting = true;
                }
                if (ReferenceEquals(e, cpuset))
                {
                    // A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks until they are filled.
                    for (var i = before; i < created.Count; i++)
                    {
                        InitCpuset(created[i], e.Hierarchy.MountPoint);
                    }
                }
            }
            Set(resources, fresh: true);
        }
        catch
        {
            Undo(created);
            throw;
        }
    }

    public override void Update(Resources resources)
    {
        ArgumentNullException.ThrowIfNull(resources);
        ResourceValidator.Validate(resources, Mode);
        if (!Exists())
        {
            throw BerthException.NotFound($"cgroup {Path} does not exist ({ProcsDirectory}); the container may have been deleted");
        }
        Set(resources, fresh: false);
    }

    private static void InitCpuset(string dir, string mountPoint)
    {
        var parent = System.IO.Path.GetDirectoryName(dir)!;
        CgroupFs.Write(dir + "/cpuset.cpus", CpusetValue(parent, "cpuset.cpus", mountPoint));
        CgroupFs.Write(dir + "/cpuset.mems", CpusetValue(parent, "cpuset.mems", mountPoint));
    }

    // The value a parent has; an empty parent (made by someone else) is filled from its own parent first.
    private static string CpusetValue(string dir, string file, string mountPoint)
    {
        var value = CgroupFs.Read(dir + "/" + file).Trim();
        if (value.Length == 0 && dir.Length > mountPoint.Length)
        {
            value = CpusetValue(System.IO.Path.GetDirectoryName(dir)!, file, mountPoint);
            CgroupFs.Write(dir + "/" + file, value);
        }
        return value;
    }

    private void Set(Resources? r, bool fresh)
    {
        if (r is null)
        {
            return;
        }
        if (r.Cpu is { } c && (!string.IsNullOrEmpty(c.Cpus) || !string.IsNullOrEmpty(c.Mems)))
        {
            var dir = (cpuset ?? throw Missing("linux.resources.cpu.cpus/mems", "cpuset")).Directory;
            if (!string.IsNullOrEmpty(c.Cpus))
            {
                CgroupFs.Write(dir + "/cpuset.cpus", c.Cpus, $"linux.resources.cpu.cpus \"{c.Cpus}\"");
            }
            if (!string.IsNullOrEmpty(c.Mems))
            {
                CgroupFs.Write(dir + "/cpuset.mems", c.Mems, $"linux.resources.cpu.mems \"{c.Mems}\"");
            }
        }
        if (r.Devices is { } rules)
        {
            if (fresh || !UpdateDevices(rules))
            {
                SetDevices(rules);
            }
        }
        if (r.Memory is { } m)
        {
            SetMemory(m, fresh);
        }
        if (r.Cpu is { } cpuResources)
        {
            SetCpu(cpuResources);
        }
        if (r.Pids is { } p)
        {
            var dir = (pids ?? throw Missing("linux.resources.pids", "pids")).Directory;
            CgroupFs.Write(dir + "/pids.max", p.Limit > 0 ? p.Limit.ToString(CultureInfo.InvariantCulture) : "max", "linux.resources.pids.limit");
        }
        if (r.BlockIO is { } b)
        {
            SetBlockIo(b);
        }
        if (r.HugepageLimits is { Count: > 0 } hl)
        {
            SetHugepages(hl);
        }
    }

    private void SetDevices(List<DeviceCgroup> rules)
    {
        var dir = (devices ?? throw Missing("linux.resources.devices", "devices")).Directory;
        // Deny everything, then the rules in order: the result is exactly what the spec allows.
        CgroupFs.Write(dir + "/devices.deny", "a");
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var line = CgroupConvert.DeviceRule(rule);
            CgroupFs.Write(dir + (rule.Allow ? "/devices.allow" : "/devices.deny"), line, $"linux.resources.devices[{i}] \"{line}\"");
        }
    }

    /// <summary>
    /// Changes the device rules of a running container without a moment of deny-all: in allow-list mode it adds
    /// what the new list has first, then takes away what it no longer has. Returns false when the default itself
    /// changes (allow-all involved), which only the full rewrite can do.
    /// </summary>
    private bool UpdateDevices(List<DeviceCgroup> rules)
    {
        var dir = (devices ?? throw Missing("linux.resources.devices", "devices")).Directory;
        var (defaultAllow, target) = V2.DeviceFilter.Emulate(rules);
        var listed = CgroupFs.Read(dir + "/devices.list");
        if (defaultAllow || listed.Contains("a *:* rwm", StringComparison.Ordinal))
        {
            return false;
        }
        var current = new List<(int Type, long Major, long Minor, int Access)>();
        foreach (var range in listed.AsSpan().Split('\n'))
        {
            var line = listed.AsSpan()[range].Trim();
            if (line.Length > 0 && ParseListed(line) is { } e)
            {
                current.Add(e);
            }
        }
        var allow = dir + "/devices.allow";
        var deny = dir + "/devices.deny";
        foreach (var t in target)
        {
            var have = current.Find(c => c.Type == t.Type && c.Major == t.Major && c.Minor == t.Minor);
            var missing = t.Access & ~have.Access;
            if (missing != 0)
            {
                var line = DeviceLine(t.Type, t.Major, t.Minor, missing);
                CgroupFs.Write(allow, line, $"linux.resources.devices \"{line}\"");
            }
        }
        foreach (var c in current)
        {
            var keep = target.Find(t => t.Type == c.Type && t.Major == c.Major && t.Minor == c.Minor);
            var extra = c.Access & ~keep.Access;
            if (extra != 0)
            {
                var line = DeviceLine(c.Type, c.Major, c.Minor, extra);
                CgroupFs.Write(deny, line, $"linux.resources.devices \"{line}\"");
            }
        }
        return true;
    }

    // "c 1:3 rwm", "c 136:* rw" as devices.list prints them; type 1 block, 2 char; access bits m=1 r=2 w=4.
    private static (int Type, long Major, long Minor, int Access)? ParseListed(ReadOnlySpan<char> line)
    {
        var parts = line.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[0] is not ("c" or "b"))
        {
            return null;
        }
        var numbers = parts[1].Split(':');
        if (numbers.Length != 2)
        {
            return null;
        }
        static long Number(string s) => s == "*" ? -1 : long.Parse(s, CultureInfo.InvariantCulture);
        var access = 0;
        foreach (var ch in parts[2])
        {
            access |= ch switch { 'm' => 1, 'r' => 2, 'w' => 4, _ => 0 };
        }
        return (parts[0] == "b" ? 1 : 2, Number(numbers[0]), Number(numbers[1]), access);
    }

    private static string DeviceLine(int type, long major, long minor, int access)
    {
        var a = ((access & 2) != 0 ? "r" : "") + ((access & 4) != 0 ? "w" : "") + ((access & 1) != 0 ? "m" : "");
        return (type == 1 ? "b " : "c ") + (major < 0 ? "*" : major.ToString(CultureInfo.InvariantCulture)) + ":"
            + (minor < 0 ? "*" : minor.ToString(CultureInfo.InvariantCulture)) + " " + a;
    }

    private void SetMemory(MemoryResources m, bool fresh)
    {
        var dir = (memory ?? throw Missing("linux.resources.memory", "memory")).Directory;
        var limit = m.Limit ?? 0;
        var swap = m.Swap ?? 0;
        var memsw = dir + "/memory.memsw.limit_in_bytes";

        if (!fresh && limit > 0)
        {
            var usage = CgroupFs.ReadLong(dir + "/memory.usage_in_bytes");
            if (limit < usage)
            {
                throw BelowUsage(limit, usage);
            }
        }
        // Unlimited memory with no explicit swap: unlimited memory+swap too (as runc), where swap is accounted.
        if (limit == -1 && swap == 0 && File.Exists(memsw))
        {
            swap = -1;
        }
        // The kernel keeps memsw >= limit at every step: grow memsw first, shrink the limit first.
        if (limit != 0 && swap != 0)
        {
            var current = fresh ? long.MaxValue : CgroupFs.ReadLong(dir + "/memory.limit_in_bytes");
            if (swap == -1 || current < swap)
            {
                WriteSwap(memsw, swap);
                WriteLimit(dir, limit);
            }
            else
            {
                WriteLimit(dir, limit);
                WriteSwap(memsw, swap);
            }
        }
        else if (limit != 0)
        {
            WriteLimit(dir, limit);
        }
        else if (swap != 0)
        {
            WriteSwap(memsw, swap);
        }

        if (m.Reservation is { } reservation && reservation != 0)
        {
            CgroupFs.Write(dir + "/memory.soft_limit_in_bytes", Bytes(reservation), "linux.resources.memory.reservation");
        }
        if (m.Swappiness is { } swappiness && swappiness != ulong.MaxValue)
        {
            CgroupFs.Write(dir + "/memory.swappiness", swappiness.ToString(CultureInfo.InvariantCulture), "linux.resources.memory.swappiness");
        }
        if (m.DisableOomKiller is { } disable && (disable || !fresh))
        {
            CgroupFs.Write(dir + "/memory.oom_control", disable ? "1" : "0", "linux.resources.memory.disableOOMKiller");
        }
        if (m.Kernel is { } kernel && kernel != 0)
        {
            WriteKernel(dir + "/memory.kmem.limit_in_bytes", kernel, "linux.resources.memory.kernel");
        }
        if (m.KernelTcp is { } kernelTcp && kernelTcp != 0)
        {
            WriteKernel(dir + "/memory.kmem.tcp.limit_in_bytes", kernelTcp, "linux.resources.memory.kernelTCP");
        }
    }

    private static void WriteLimit(string dir, long limit)
    {
        var file = dir + "/memory.limit_in_bytes";
        var errno = CgroupFs.TryWrite(file, Bytes(limit));
        if (errno == Libc.EBUSY)
        {
            // The kernel could not reclaim down to the new limit.
            throw new BerthException(ErrorCode.InvalidArgument,
                $"linux.resources.memory.limit: {limit} is below what the container uses and cannot be reclaimed; raise it (write {file}: {Errno.Describe(errno)})");
        }
        if (errno != 0)
        {
            throw new CgroupIOException("write", file, errno, "linux.resources.memory.limit " + Bytes(limit));
        }
    }

    private static void WriteSwap(string file, long swap)
    {
        var errno = CgroupFs.TryWrite(file, Bytes(swap));
        // No memory.memsw.* files: the kernel does not account swap (swapaccount=0); there is nothing to limit.
        if (errno != 0 && errno != Libc.ENOENT)
        {
            throw new CgroupIOException("write", file, errno, "linux.resources.memory.swap " + Bytes(swap));
        }
    }

    private static void WriteKernel(string file, long value, string field)
    {
        var errno = CgroupFs.TryWrite(file, Bytes(value));
        if (errno is Libc.ENOENT or Libc.EOPNOTSUPP)
        {
            throw BerthException.Unsupported($"{field}: this kernel no longer limits kernel memory separately ({file}: {Errno.Describe(errno)}); remove the field");
        }
        if (errno != 0)
        {
            throw new CgroupIOException("write", file, errno, field);
        }
    }

    private void SetCpu(CpuResources c)
    {
        var needsCpu = c.Shares is > 0 || c.Quota is { } and not 0 || c.Period is > 0 || c.Burst is not null
            || c.RealtimeRuntime is { } and not 0 || c.RealtimePeriod is > 0 || c.Idle is not null;
        if (!needsCpu)
        {
            return;
        }
        var dir = (cpu ?? throw Missing("linux.resources.cpu", "cpu")).Directory;
        if (c.Shares is { } shares && shares != 0)
        {
            CgroupFs.Write(dir + "/cpu.shares", shares.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.shares");
        }
        var quota = c.Quota ?? 0;
        var retryPeriod = false;
        if (c.Period is { } period && period != 0)
        {
            var errno = CgroupFs.TryWrite(dir + "/cpu.cfs_period_us", period.ToString(CultureInfo.InvariantCulture));
            // A shorter period can be refused while the old quota/new period ratio exceeds the parent's; set the
            // quota first and retry then.
            if (errno == Libc.EINVAL && quota != 0)
            {
                retryPeriod = true;
            }
            else if (errno != 0)
            {
                throw new CgroupIOException("write", dir + "/cpu.cfs_period_us", errno, "linux.resources.cpu.period");
            }
        }
        if (quota != 0)
        {
            CgroupFs.Write(dir + "/cpu.cfs_quota_us", quota, "linux.resources.cpu.quota");
            if (retryPeriod)
            {
                CgroupFs.Write(dir + "/cpu.cfs_period_us", c.Period!.Value.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.period");
            }
        }
        if (c.Burst is { } burst)
        {
            CgroupFs.Write(dir + "/cpu.cfs_burst_us", burst.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.burst");
        }
        if (c.RealtimePeriod is { } rtPeriod && rtPeriod != 0)
        {
            CgroupFs.Write(dir + "/cpu.rt_period_us", rtPeriod.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.realtimePeriod");
        }
        if (c.RealtimeRuntime is { } rtRuntime && rtRuntime != 0)
        {
            var file = dir + "/cpu.rt_runtime_us";
            var errno = CgroupFs.TryWrite(file, rtRuntime.ToString(CultureInfo.InvariantCulture));
            if (errno != 0)
            {
                // EINVAL: the parent's own rt budget (its cpu.rt_runtime_us, 0 unless someone set it) is too small.
                throw new CgroupIOException("write", file, errno, errno == Libc.EINVAL
                    ? $"linux.resources.cpu.realtimeRuntime: {rtRuntime} exceeds the realtime budget of the parent cgroup (raise its cpu.rt_runtime_us first)"
                    : "linux.resources.cpu.realtimeRuntime");
            }
        }
        if (c.Idle is { } idle)
        {
            CgroupFs.Write(dir + "/cpu.idle", idle, "linux.resources.cpu.idle");
        }
    }

    private void SetBlockIo(BlockIoResources b)
    {
        if (b.Weight is not > 0 && b.LeafWeight is not > 0)
        {
            return;
        }
        var dir = (blkio ?? throw Missing("linux.resources.blockIO", "blkio")).Directory;
        if (b.Weight is { } weight && weight != 0)
        {
            var value = weight.ToString(CultureInfo.InvariantCulture);
            // blkio.weight belongs to CFQ, gone from current kernels; BFQ has blkio.bfq.weight with the same range.
            var errno = CgroupFs.TryWrite(dir + "/blkio.weight", value);
            if (errno == Libc.ENOENT)
            {
                CgroupFs.Write(dir + "/blkio.bfq.weight", value, "linux.resources.blockIO.weight");
            }
            else if (errno != 0)
            {
                throw new CgroupIOException("write", dir + "/blkio.weight", errno, "linux.resources.blockIO.weight");
            }
        }
        if (b.LeafWeight is { } leaf && leaf != 0)
        {
            CgroupFs.Write(dir + "/blkio.leaf_weight", leaf.ToString(CultureInfo.InvariantCulture), "linux.resources.blockIO.leafWeight");
        }
    }

    private void SetHugepages(List<HugepageLimit> limits)
    {
        if (hugetlb is not null)
        {
            foreach (var l in limits)
            {
                WriteHugepage(hugetlb.Directory + "/hugetlb." + l.PageSize + ".limit_in_bytes", l);
            }
            return;
        }
        // Hybrid hosts may carry hugetlb on the cgroup2 hierarchy only (this machine kind does).
        if (unified is not null && Array.IndexOf(V2.Subtree.Available(unified.Hierarchy.MountPoint), "hugetlb") >= 0)
        {
            V2.Subtree.Enable(unified.Hierarchy.MountPoint, unified.Directory, ["hugetlb"]);
            foreach (var l in limits)
            {
                WriteHugepage(unified.Directory + "/hugetlb." + l.PageSize + ".max", l);
            }
            return;
        }
        throw Missing("linux.resources.hugepageLimits", "hugetlb");
    }

    private static void WriteHugepage(string file, HugepageLimit l)
    {
        var errno = CgroupFs.TryWrite(file, l.Limit.ToString(CultureInfo.InvariantCulture));
        if (errno == Libc.ENOENT)
        {
            throw BerthException.InvalidArgument($"linux.resources.hugepageLimits: page size \"{l.PageSize}\" is not supported by this host ({file} does not exist)");
        }
        if (errno != 0)
        {
            throw new CgroupIOException("write", file, errno, "linux.resources.hugepageLimits " + l.PageSize);
        }
    }

    public override void Freeze()
    {
        var file = (freezer ?? throw Missing("pause (freezer)", "freezer")).Directory + "/freezer.state";
        CgroupFs.Write(file, "FROZEN");
        var settled = WaitUntil(attempt =>
        {
            var state = CgroupFs.Read(file).AsSpan().Trim();
            if (state.SequenceEqual("FROZEN"))
            {
                return true;
            }
            // Tasks forked while freezing can leave it FREEZING; asking again picks them up.
            if (attempt % 10 == 9)
            {
                CgroupFs.Write(file, "FROZEN");
            }
            return false;
        });
        if (!settled)
        {
            CgroupFs.TryWrite(file, "THAWED");
            throw new BerthException(ErrorCode.Unavailable,
                $"freezing cgroup {Path} did not finish within {Options.FreezeTimeout.TotalSeconds:0.#}s ({file} stayed FREEZING); it was thawed again — retry");
        }
    }

    public override void Thaw()
    {
        var file = (freezer ?? throw Missing("resume (freezer)", "freezer")).Directory + "/freezer.state";
        CgroupFs.Write(file, "THAWED");
        if (!WaitUntil(_ => CgroupFs.Read(file).AsSpan().Trim().SequenceEqual("THAWED")))
        {
            throw new BerthException(ErrorCode.Unavailable, $"thawing cgroup {Path} did not finish within {Options.FreezeTimeout.TotalSeconds:0.#}s ({file})");
        }
    }

    public override FreezerState GetFreezerState()
    {
        if (freezer is null)
        {
            return FreezerState.Thawed;
        }
        var text = CgroupFs.TryRead(freezer.Directory + "/freezer.state", out _);
        return text?.Trim() switch
        {
            "FROZEN" => FreezerState.Frozen,
            "FREEZING" => FreezerState.Freezing,
            _ => FreezerState.Thawed,
        };
    }

    public override long GetOomKillCount()
    {
        if (memory is null)
        {
            return 0;
        }
        var text = CgroupFs.TryRead(memory.Directory + "/memory.oom_control", out _);
        return text is null ? 0 : CgroupFs.KeyedValue(text, "oom_kill") ?? 0;
    }

    public override CgroupStats GetStats()
    {
        MemoryStats? mem = null;
        if (memory is not null)
        {
            var d = memory.Directory;
            mem = new MemoryStats
            {
                Usage = CgroupFs.ReadLong(d + "/memory.usage_in_bytes"),
                Limit = NormalizeUnlimited(CgroupFs.ReadLong(d + "/memory.limit_in_bytes")),
                MaxUsage = CgroupFs.TryReadLong(d + "/memory.max_usage_in_bytes") ?? -1,
                Failcnt = CgroupFs.TryReadLong(d + "/memory.failcnt") ?? 0,
                SwapUsage = CgroupFs.TryReadLong(d + "/memory.memsw.usage_in_bytes") ?? -1,
            };
        }
        CpuStats? cpuStats = null;
        if (cpuacct is not null || cpu is not null)
        {
            string? stat = cpu is null ? null : CgroupFs.TryRead(cpu.Directory + "/cpu.stat", out _);
            var acct = cpuacct?.Directory;
            cpuStats = new CpuStats
            {
                UsageNanoseconds = acct is null ? 0 : CgroupFs.TryReadLong(acct + "/cpuacct.usage") ?? 0,
                UserNanoseconds = acct is null ? 0 : CgroupFs.TryReadLong(acct + "/cpuacct.usage_user") ?? 0,
                SystemNanoseconds = acct is null ? 0 : CgroupFs.TryReadLong(acct + "/cpuacct.usage_sys") ?? 0,
                Periods = stat is null ? 0 : CgroupFs.KeyedValue(stat, "nr_periods") ?? 0,
                ThrottledPeriods = stat is null ? 0 : CgroupFs.KeyedValue(stat, "nr_throttled") ?? 0,
                ThrottledNanoseconds = stat is null ? 0 : CgroupFs.KeyedValue(stat, "throttled_time") ?? 0,
            };
        }
        PidsStats? pidStats = null;
        if (pids is not null)
        {
            pidStats = new PidsStats
            {
                Current = CgroupFs.ReadLong(pids.Directory + "/pids.current"),
                Limit = CgroupFs.ReadLong(pids.Directory + "/pids.max"),
            };
        }
        return new CgroupStats { Memory = mem, Cpu = cpuStats, Pids = pidStats, OomKills = GetOomKillCount() };
    }

    // v1 reports "unlimited" as PAGE_COUNTER_MAX pages (9223372036854771712 on 4 KiB pages).
    private static long NormalizeUnlimited(long value) => value >= 1L << 62 ? -1 : value;

    private static string Bytes(long value) => value < 0 ? Unlimited : value.ToString(CultureInfo.InvariantCulture);

    private static BerthException BelowUsage(long limit, long usage) => BerthException.InvalidArgument(
        $"linux.resources.memory.limit: {limit} is below the container's current usage {usage}; use a limit of at least {usage} bytes or -1 for unlimited");
}
