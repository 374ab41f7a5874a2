using System.Globalization;
using Berth.Oci.Runtime;

namespace Berth.Cgroups;

/// <summary>The value conversions between OCI resources and cgroup files, the same as runc and crun make them.</summary>
public static class CgroupConvert
{
    /// <summary>v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000); 0 means unset.</summary>
    public static ulong CpuSharesToWeight(ulong shares) => shares == 0 ? 0 : 1 + (((shares - 2) * 9999) / 262142);

    /// <summary>v1 blkio.weight (10..1000) to v2 io.weight (1..10000); 0 means unset.</summary>
    public static ulong BlkioWeightToIoWeight(ulong weight) => weight == 0 ? 0 : 1 + (((weight - 10) * 9999) / 990);

    /// <summary>
    /// OCI (and v1) swap is memory+swap; v2 memory.swap.max is swap alone. Returns the v2 value (-1 = "max",
    /// 0 = unset) or throws naming the fields.
    /// </summary>
    public static long SwapToV2(long swap, long memory)
    {
        // As in v1: an unlimited memory with no explicit swap means unlimited swap too.
        if (memory == -1 && swap == 0)
        {
            return -1;
        }
        if (swap is -1 or 0)
        {
            return swap;
        }
        if (memory is 0 or -1)
        {
            throw Berth.Core.BerthException.InvalidArgument(
                $"linux.resources.memory.swap: {swap} needs linux.resources.memory.limit to be set (swap is memory+swap on cgroup v2 too)");
        }
        if (swap < memory)
        {
            throw Berth.Core.BerthException.InvalidArgument(
                $"linux.resources.memory.swap: {swap} is below linux.resources.memory.limit {memory}; swap is memory+swap and must be at least the limit, or -1 for unlimited");
        }
        return swap - memory;
    }

    /// <summary>A v1 device cgroup line: "c 1:3 rwm", "a *:* rwm".</summary>
    public static string DeviceRule(DeviceCgroup rule)
    {
        var type = string.IsNullOrEmpty(rule.Type) ? "a" : rule.Type;
        var major = rule.Major is null or -1 ? "*" : rule.Major.Value.ToString(CultureInfo.InvariantCulture);
        var minor = rule.Minor is null or -1 ? "*" : rule.Minor.Value.ToString(CultureInfo.InvariantCulture);
        var access = string.IsNullOrEmpty(rule.Access) ? "rwm" : rule.Access;
        return type + " " + major + ":" + minor + " " + access;
    }

    /// <summary>"-1" → "max" as the v2 files want it; other values as decimal.</summary>
    public static string V2Limit(long value) => value < 0 ? "max" : value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The v2 cpu.max line. Quota ≤ 0 is "max". Without a period only the quota is written and the kernel keeps
    /// the period in force; a period alone keeps <paramref name="currentQuota"/> (the first field of the current
    /// cpu.max, "max" for a new cgroup).
    /// </summary>
    public static string CpuMax(long? quota, ulong? period, string currentQuota = "max")
    {
        var q = quota is null or 0 ? currentQuota : quota > 0 ? quota.Value.ToString(CultureInfo.InvariantCulture) : "max";
        return period is > 0 ? q + " " + period.Value.ToString(CultureInfo.InvariantCulture) : q;
    }

    /// <summary>A cpuset list: "0-3,5,7-8" (empty is allowed and means "inherit"/none).</summary>
    public static bool IsValidCpuList(string list)
    {
        if (list.Length == 0)
        {
            return true;
        }
        foreach (var partRange in list.AsSpan().Split(','))
        {
            var part = list.AsSpan()[partRange].Trim();
            if (part.Length == 0)
            {
                return false;
            }
            var dash = part.IndexOf('-');
            if (dash < 0)
            {
                if (!uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    return false;
                }
                continue;
            }
            if (!uint.TryParse(part[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
                || !uint.TryParse(part[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var hi)
                || hi < lo)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>An OCI hugepage size as the cgroup files spell it: "2MB", "1GB", "64KB".</summary>
    public static bool IsValidHugepageSize(string size)
    {
        if (size.Length < 3)
        {
            return false;
        }
        var unit = size.AsSpan()[^2..];
        return (unit.SequenceEqual("KB") || unit.SequenceEqual("MB") || unit.SequenceEqual("GB"))
            && uint.TryParse(size.AsSpan()[..^2], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0;
    }
}
