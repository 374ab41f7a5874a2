using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// The device-cgroup rules a container gets: the spec's, then allows for the devices the runtime itself creates
/// (the defaults, /dev/pts, /dev/ptmx, mknod of any node) and for every linux.devices entry, as runc does — otherwise a
/// spec that starts with "deny all" could not even populate its own /dev.
/// </summary>
internal static class DeviceRules
{
    private static readonly (string Type, long? Major, long? Minor, string Access)[] Allowed =
    [
        ("c", null, null, "m"), ("b", null, null, "m"),
        ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
        ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, null, "rwm"), ("c", 10, 200, "rwm"),
    ];

    public static Resources? WithRuntimeDevices(Spec spec)
    {
        var resources = spec.Linux?.Resources;
        if (resources?.Devices is not { Count: > 0 } rules)
        {
            return resources;
        }
        var merged = new List<DeviceCgroup>(rules);
        foreach (var (type, major, minor, access) in Allowed)
        {
            merged.Add(new DeviceCgroup { Allow = true, Type = type, Major = major, Minor = minor, Access = access });
        }
        foreach (var d in spec.Linux!.Devices ?? [])
        {
            merged.Add(new DeviceCgroup { Allow = true, Type = d.Type == "u" ? "c" : d.Type, Major = d.Major, Minor = d.Minor, Access = "rwm" });
        }
        return new Resources
        {
            Devices = merged,
            Memory = resources.Memory,
            Cpu = resources.Cpu,
            Pids = resources.Pids,
            BlockIO = resources.BlockIO,
            HugepageLimits = resources.HugepageLimits,
            Unified = resources.Unified,
        };
    }
}
