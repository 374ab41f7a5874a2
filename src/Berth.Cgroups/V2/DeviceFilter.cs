using Berth.Core;
using Berth.Oci.Runtime;

namespace Berth.Cgroups.V2;

/// <summary>cgroup v2 device rules: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup.</summary>
internal static class DeviceFilter
{
    public static void Apply(string dir, List<DeviceCgroup> rules) =>
        throw BerthException.Unsupported("device rules on cgroup v2 (" + dir + ")");

    public static void Detach(string dir)
    {
    }
}
