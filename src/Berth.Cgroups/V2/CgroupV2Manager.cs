using System.Globalization;
using Berth.Cgroups.Interop;
using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.V2;

/// <summary>The cgroup v2 (unified) driver: one directory, limits in the v2 files, devices through an eBPF program.</summary>
internal sealed class CgroupV2Manager : CgroupManagerBase
{
    private readonly CgroupEntry entry;
    private readonly string dir;

    public CgroupV2Manager(CgroupLayout layout, Dictionary<string, string> paths, CgroupOptions options)
        : base(layout, paths, options)
    {
        entry = Entries[0];
        dir = entry.Directory;
    }

    public override CgroupMode Mode => CgroupMode.Unified;

    public override string Path => entry.CgroupPath;

    protected override string ProcsDirectory => dir;

    protected override bool CanFreeze => true;

    public override void Create(Resources? resources)
    {
        ResourceValidator.Validate(resources, Mode);
        var created = new List<string>();
        try
        {
            CgroupFs.MakeDirectories(dir, created);
            if (created.Count == 0 || created[^1] != dir)
            {
                EnsureNoProcesses(dir, entry.CgroupPath);
            }
            // Every available controller, as runc and crun do, so a later update or stats read finds its files.
            Subtree.Enable(entry.Hierarchy.MountPoint, dir, wanted: null);
            Set(resources, fresh: true);
        }
        catch
        {
            // Removing the cgroup also releases any device program attached to it.
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
            throw BerthException.NotFound($"cgroup {Path} does not exist ({dir}); the container may have been deleted");
        }
        Set(resources, fresh: false);
    }

    private void Set(Resources? r, bool fresh)
    {
        if (r is null)
        {
            return;
        }
        if (r.Cpu is { } c)
        {
            if (!string.IsNullOrEmpty(c.Cpus))
            {
                Write("cpuset.cpus", c.Cpus, $"linux.resources.cpu.cpus \"{c.Cpus}\"", "cpuset");
            }
            if (!string.IsNullOrEmpty(c.Mems))
            {
                Write("cpuset.mems", c.Mems, $"linux.resources.cpu.mems \"{c.Mems}\"", "cpuset");
            }
        }
        if (r.Memory is { } m)
        {
            SetMemory(m, fresh);
        }
        if (r.Cpu is { } cpu)
        {
            SetCpu(cpu, fresh);
        }
        if (r.Pids is { } p)
        {
            Write("pids.max", p.Limit > 0 ? p.Limit.ToString(CultureInfo.InvariantCulture) : "max", "linux.resources.pids.limit", "pids");
        }
        if (r.BlockIO is { Weight: > 0 } b)
        {
            var weight = CgroupConvert.BlkioWeightToIoWeight(b.Weight!.Value).ToString(CultureInfo.InvariantCulture);
            var errno = CgroupFs.TryWrite(dir + "/io.weight", weight);
            if (errno == Libc.ENOENT)
            {
                // Without io.weight (no cost model) BFQ's own knob takes the v1 range unconverted.
                Write("io.bfq.weight", b.Weight.Value.ToString(CultureInfo.InvariantCulture), "linux.resources.blockIO.weight", "io");
            }
            else if (errno != 0)
            {
                throw new CgroupIOException("write", dir + "/io.weight", errno, "linux.resources.blockIO.weight");
            }
        }
        if (r.HugepageLimits is { } hl)
        {
            foreach (var l in hl)
            {
                var file = dir + "/hugetlb." + l.PageSize + ".max";
                var errno = CgroupFs.TryWrite(file, l.Limit.ToString(CultureInfo.InvariantCulture));
                if (errno == Libc.ENOENT)
                {
                    throw BerthException.InvalidArgument(
                        $"linux.resources.hugepageLimits: page size \"{l.PageSize}\" is not available here ({file} does not exist; is the hugetlb controller enabled?)");
                }
                if (errno != 0)
                {
                    throw new CgroupIOException("write", file, errno, "linux.resources.hugepageLimits " + l.PageSize);
                }
            }
        }
        if (r.Devices is { } devices)
        {
            DeviceFilter.Apply(dir, devices);
        }
        // Last, so explicit unified keys win over the converted values (as in runc).
        if (r.Unified is { } unified)
        {
            foreach (var (key, value) in unified)
            {
                var file = dir + "/" + key;
                var errno = CgroupFs.TryWrite(file, value);
                if (errno == Libc.ENOENT)
                {
                    var controller = key[..key.IndexOf('.', StringComparison.Ordinal)];
                    throw BerthException.InvalidArgument(
                        $"linux.resources.unified: \"{key}\" does not exist in {dir} (is the {controller} controller available on this host?)");
                }
                if (errno != 0)
                {
                    throw new CgroupIOException("write", file, errno, $"linux.resources.unified \"{key}\"");
                }
            }
        }
    }

    private void SetMemory(MemoryResources m, bool fresh)
    {
        var limit = m.Limit ?? 0;
        var swap = m.Swap ?? 0;
        if (!fresh && limit > 0)
        {
            var usage = CgroupFs.ReadLong(dir + "/memory.current");
            if (limit < usage)
            {
                throw BerthException.InvalidArgument(
                    $"linux.resources.memory.limit: {limit} is below the container's current usage {usage}; use a limit of at least {usage} bytes or -1 for unlimited");
            }
        }
        if (swap != 0 || limit == -1)
        {
            // An update of swap alone converts against the limit in force.
            var memoryForSwap = limit != 0 ? limit : (fresh ? 0 : CgroupFs.ReadLong(dir + "/memory.max"));
            var v2Swap = CgroupConvert.SwapToV2(swap, memoryForSwap);
            // 0 from memory+swap == memory means "no swap", not "unset" (as runc).
            if (v2Swap != 0 || swap > 0)
            {
                var file = dir + "/memory.swap.max";
                var errno = CgroupFs.TryWrite(file, CgroupConvert.V2Limit(v2Swap));
                // No memory.swap.max: swap is not accounted on this kernel; nothing to limit.
                if (errno != 0 && !(errno == Libc.ENOENT && File.Exists(dir + "/memory.max")))
                {
                    throw new CgroupIOException("write", file, errno, "linux.resources.memory.swap " + swap.ToString(CultureInfo.InvariantCulture));
                }
            }
        }
        if (limit != 0)
        {
            Write("memory.max", CgroupConvert.V2Limit(limit), "linux.resources.memory.limit", "memory");
        }
        if (m.Reservation is { } reservation && reservation != 0)
        {
            Write("memory.low", CgroupConvert.V2Limit(reservation), "linux.resources.memory.reservation", "memory");
        }
    }

    private void SetCpu(CpuResources c, bool fresh)
    {
        if (c.Shares is { } shares && shares != 0)
        {
            Write("cpu.weight", CgroupConvert.CpuSharesToWeight(shares).ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.shares", "cpu");
        }
        if (c.Quota is { } and not 0 || c.Period is > 0)
        {
            var currentQuota = "max";
            if (c.Quota is null or 0 && !fresh)
            {
                // A period alone must not reset the quota in force.
                var current = CgroupFs.Read(dir + "/cpu.max").AsSpan().Trim();
                var space = current.IndexOf(' ');
                currentQuota = (space < 0 ? current : current[..space]).ToString();
            }
            Write("cpu.max", CgroupConvert.CpuMax(c.Quota, c.Period, currentQuota), "linux.resources.cpu.quota/period", "cpu");
        }
        if (c.Burst is { } burst)
        {
            Write("cpu.max.burst", burst.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.burst", "cpu");
        }
        if (c.Idle is { } idle)
        {
            Write("cpu.idle", idle.ToString(CultureInfo.InvariantCulture), "linux.resources.cpu.idle", "cpu");
        }
    }

    private void Write(string name, string value, string field, string controller)
    {
        var file = dir + "/" + name;
        var errno = CgroupFs.TryWrite(file, value);
        if (errno == Libc.ENOENT)
        {
            throw new CgroupIOException("write", file, errno,
                $"{field} needs the {controller} controller, which is not enabled for {Path} (not in the parent's cgroup.subtree_control)");
        }
        if (errno != 0)
        {
            throw new CgroupIOException("write", file, errno, field);
        }
    }

    public override void Freeze()
    {
        CgroupFs.Write(dir + "/cgroup.freeze", "1");
        if (!WaitUntil(_ => Frozen() == true))
        {
            CgroupFs.TryWrite(dir + "/cgroup.freeze", "0");
            throw new BerthException(ErrorCode.Unavailable,
                $"freezing cgroup {Path} did not finish within {Options.FreezeTimeout.TotalSeconds:0.#}s ({dir}/cgroup.events never said frozen 1); it was thawed again — retry");
        }
    }

    public override void Thaw()
    {
        CgroupFs.Write(dir + "/cgroup.freeze", "0");
        if (!WaitUntil(_ => Frozen() == false))
        {
            throw new BerthException(ErrorCode.Unavailable, $"thawing cgroup {Path} did not finish within {Options.FreezeTimeout.TotalSeconds:0.#}s ({dir}/cgroup.events)");
        }
    }

    private bool? Frozen()
    {
        var events = CgroupFs.TryRead(dir + "/cgroup.events", out _);
        return events is null ? null : CgroupFs.KeyedValue(events, "frozen") == 1;
    }

    public override FreezerState GetFreezerState()
    {
        if (Frozen() == true)
        {
            return FreezerState.Frozen;
        }
        var requested = CgroupFs.TryRead(dir + "/cgroup.freeze", out _);
        return requested?.Trim() == "1" ? FreezerState.Freezing : FreezerState.Thawed;
    }

    public override long GetOomKillCount()
    {
        var events = CgroupFs.TryRead(dir + "/memory.events", out _);
        return events is null ? 0 : CgroupFs.KeyedValue(events, "oom_kill") ?? 0;
    }

    public override CgroupStats GetStats()
    {
        MemoryStats? mem = null;
        var current = CgroupFs.TryReadLong(dir + "/memory.current");
        string? events = null;
        if (current is not null)
        {
            events = CgroupFs.TryRead(dir + "/memory.events", out _);
            mem = new MemoryStats
            {
                Usage = current.Value,
                Limit = CgroupFs.TryReadLong(dir + "/memory.max") ?? -1,
                MaxUsage = CgroupFs.TryReadLong(dir + "/memory.peak") ?? -1,
                Failcnt = events is null ? 0 : CgroupFs.KeyedValue(events, "max") ?? 0,
                SwapUsage = CgroupFs.TryReadLong(dir + "/memory.swap.current") ?? -1,
            };
        }
        CpuStats? cpu = null;
        var stat = CgroupFs.TryRead(dir + "/cpu.stat", out _);
        if (stat is not null)
        {
            cpu = new CpuStats
            {
                UsageNanoseconds = (CgroupFs.KeyedValue(stat, "usage_usec") ?? 0) * 1000,
                UserNanoseconds = (CgroupFs.KeyedValue(stat, "user_usec") ?? 0) * 1000,
                SystemNanoseconds = (CgroupFs.KeyedValue(stat, "system_usec") ?? 0) * 1000,
                Periods = CgroupFs.KeyedValue(stat, "nr_periods") ?? 0,
                ThrottledPeriods = CgroupFs.KeyedValue(stat, "nr_throttled") ?? 0,
                ThrottledNanoseconds = (CgroupFs.KeyedValue(stat, "throttled_usec") ?? 0) * 1000,
            };
        }
        PidsStats? pids = null;
        if (CgroupFs.TryReadLong(dir + "/pids.current") is { } pidsCurrent)
        {
            pids = new PidsStats { Current = pidsCurrent, Limit = CgroupFs.TryReadLong(dir + "/pids.max") ?? -1 };
        }
        return new CgroupStats
        {
            Memory = mem,
            Cpu = cpu,
            Pids = pids,
            OomKills = events is null ? GetOomKillCount() : CgroupFs.KeyedValue(events, "oom_kill") ?? 0,
        };
    }

    public override void KillAll(int signal)
    {
        // cgroup.kill (Linux 5.14+) SIGKILLs the whole subtree atomically, no freeze needed.
        if (signal == 9 && CgroupFs.TryWrite(dir + "/cgroup.kill", "1") == 0)
        {
            return;
        }
        base.KillAll(signal);
    }
}
