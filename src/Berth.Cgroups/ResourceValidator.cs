using System.Globalization;
using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups;

/// <summary>
/// Checks linux.resources before anything is written, and reports every bad field at once, each with its value
/// and what would be valid.
/// </summary>
public static class ResourceValidator
{
    public static void Validate(Resources? resources, CgroupMode mode)
    {
        if (resources is null)
        {
            return;
        }
        List<string>? errors = null;
        void Bad(string message) => (errors ??= []).Add(message);
        var v2 = mode == CgroupMode.Unified;

        if (resources.Memory is { } m)
        {
            Bytes("linux.resources.memory.limit", m.Limit);
            Bytes("linux.resources.memory.reservation", m.Reservation);
            Bytes("linux.resources.memory.swap", m.Swap);
            Bytes("linux.resources.memory.kernel", m.Kernel);
            Bytes("linux.resources.memory.kernelTCP", m.KernelTcp);
            if (m.Swap is > 0 && m.Limit is > 0 && m.Swap < m.Limit)
            {
                Bad($"linux.resources.memory.swap: {m.Swap} is below linux.resources.memory.limit {m.Limit}; swap is memory+swap and must be at least the limit, or -1 for unlimited");
            }
            if (m.Swappiness is { } s && s != ulong.MaxValue && s > 100)
            {
                Bad($"linux.resources.memory.swappiness: {s} is invalid; use 0..100");
            }
            if (v2 && m.Swappiness is { } s2 && s2 != ulong.MaxValue)
            {
                Bad("not supported: linux.resources.memory.swappiness on cgroup v2 (the kernel has no per-cgroup swappiness there); remove it");
            }
            if (v2 && m.DisableOomKiller == true)
            {
                Bad("not supported: linux.resources.memory.disableOOMKiller on cgroup v2 (the kernel has no switch for it there); remove it");
            }
            if (v2 && (m.Kernel is > 0 || m.KernelTcp is > 0))
            {
                Bad("not supported: linux.resources.memory.kernel/kernelTCP on cgroup v2 (kernel memory is part of memory.max there); remove them");
            }
        }

        if (resources.Cpu is { } c)
        {
            if (c.Shares is { } sh && sh != 0 && (sh < 2 || sh > 262144))
            {
                Bad($"linux.resources.cpu.shares: {sh} is invalid; use 2..262144");
            }
            if (c.Quota is { } q && q != 0 && q != -1 && q < 1000)
            {
                Bad($"linux.resources.cpu.quota: {q} is invalid; use at least 1000 (microseconds) or -1 for unlimited");
            }
            if (c.Period is { } p && p != 0 && (p < 1000 || p > 1000000))
            {
                Bad($"linux.resources.cpu.period: {p} is invalid; use 1000..1000000 (microseconds)");
            }
            if (c.RealtimeRuntime is { } rr && rr < -1)
            {
                Bad($"linux.resources.cpu.realtimeRuntime: {rr} is invalid; use a number of microseconds or -1");
            }
            if (c.RealtimeRuntime is > 0 && c.RealtimePeriod is { } rp && rp != 0 && (ulong)c.RealtimeRuntime.Value > rp)
            {
                Bad($"linux.resources.cpu.realtimeRuntime: {c.RealtimeRuntime} exceeds linux.resources.cpu.realtimePeriod {rp}");
            }
            if (v2 && (c.RealtimeRuntime is { } and not 0 || c.RealtimePeriod is { } and not 0))
            {
                Bad("not supported: linux.resources.cpu.realtimeRuntime/realtimePeriod on cgroup v2 (no cpu.rt_* files there); remove them");
            }
            if (c.Idle is { } idle && idle is not (0 or 1))
            {
                Bad($"linux.resources.cpu.idle: {idle} is invalid; use 0 or 1");
            }
            if (c.Cpus is { } cpus && !CgroupConvert.IsValidCpuList(cpus))
            {
                Bad($"linux.resources.cpu.cpus: \"{cpus}\" is malformed; use a list like \"0-3,5\"");
            }
            if (c.Mems is { } mems && !CgroupConvert.IsValidCpuList(mems))
            {
                Bad($"linux.resources.cpu.mems: \"{mems}\" is malformed; use a list like \"0-1\"");
            }
        }

        if (resources.BlockIO is { } b)
        {
            if (b.Weight is { } w && w != 0 && (w < 10 || w > 1000))
            {
                Bad($"linux.resources.blockIO.weight: {w} is invalid; use 10..1000");
            }
            if (b.LeafWeight is { } lw && lw != 0 && (lw < 10 || lw > 1000))
            {
                Bad($"linux.resources.blockIO.leafWeight: {lw} is invalid; use 10..1000");
            }
            if (v2 && b.LeafWeight is { } and not 0)
            {
                Bad("not supported: linux.resources.blockIO.leafWeight on cgroup v2; remove it");
            }
        }

        if (resources.HugepageLimits is { } hl)
        {
            for (var i = 0; i < hl.Count; i++)
            {
                if (!CgroupConvert.IsValidHugepageSize(hl[i].PageSize))
                {
                    Bad($"linux.resources.hugepageLimits[{i}].pageSize: \"{hl[i].PageSize}\" is malformed; use a size like \"2MB\" or \"1GB\"");
                }
            }
        }

        if (resources.Devices is { } devices)
        {
            for (var i = 0; i < devices.Count; i++)
            {
                var d = devices[i];
                if (d.Type is not (null or "" or "a" or "b" or "c"))
                {
                    Bad($"linux.resources.devices[{i}].type: \"{d.Type}\" is invalid; use a, b or c");
                }
                if (d.Major is < -1)
                {
                    Bad($"linux.resources.devices[{i}].major: {d.Major} is invalid");
                }
                if (d.Minor is < -1)
                {
                    Bad($"linux.resources.devices[{i}].minor: {d.Minor} is invalid");
                }
                if (d.Access is { Length: > 0 } access && (access.Length > 3 || access.AsSpan().IndexOfAnyExcept("rwm") >= 0))
                {
                    Bad($"linux.resources.devices[{i}].access: \"{access}\" is invalid; use any of r, w, m");
                }
            }
        }

        if (resources.Unified is { Count: > 0 } unified)
        {
            if (!v2)
            {
                Bad("not supported: linux.resources.unified on cgroup v1 (this host mounts v1 controllers); use the v1 fields instead");
            }
            foreach (var key in unified.Keys)
            {
                if (key.Contains('/', StringComparison.Ordinal) || key.Contains("..", StringComparison.Ordinal) || !key.Contains('.', StringComparison.Ordinal))
                {
                    Bad($"linux.resources.unified: key \"{key}\" is not a cgroup interface file name like \"memory.high\"");
                }
            }
        }

        if (errors is not null)
        {
            var message = string.Join("; ", errors);
            throw errors.TrueForAll(e => e.StartsWith("not supported:", StringComparison.Ordinal))
                ? new BerthException(ErrorCode.Unsupported, message)
                : BerthException.InvalidArgument(message);
        }

        void Bytes(string field, long? value)
        {
            if (value is { } v && v < -1)
            {
                Bad(field + ": " + v.ToString(CultureInfo.InvariantCulture) + " is invalid; use a positive number of bytes or -1 for unlimited");
            }
        }
    }
}
