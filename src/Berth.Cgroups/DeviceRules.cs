using Berth.Oci.Runtime;

namespace Berth.Cgroups;

/// <summary>
/// The device rules a container gets, as runc builds them: the spec's linux.resources.devices in order, then the
/// devices every container may use, then an allow rule per linux.devices entry. Both drivers start from deny-all.
/// </summary>
public static class DeviceRules
{
    /// <summary>runc's allowed devices: mknod of any char/block device, the standard /dev nodes, ptys and tun.</summary>
    public static IReadOnlyList<DeviceCgroup> Defaults { get; } =
    [
        Allow("c", null, null, "m"),
        Allow("b", null, null, "m"),
        Allow("c", 1, 3),     // /dev/null
        Allow("c", 1, 8),     // /dev/random
        Allow("c", 1, 7),     // /dev/full
        Allow("c", 5, 0),     // /dev/tty
        Allow("c", 1, 5),     // /dev/zero
        Allow("c", 1, 9),     // /dev/urandom
        Allow("c", 136, null), // /dev/pts/*
        Allow("c", 5, 2),     // /dev/ptmx
        Allow("c", 10, 200),  // /dev/net/tun
    ];

    /// <summary>The full rule list for a container: spec rules, <see cref="Defaults"/>, then linux.devices.</summary>
    public static List<DeviceCgroup> ForContainer(Berth.Oci.Runtime.Linux? linux)
    {
        var rules = new List<DeviceCgroup>();
        if (linux?.Resources?.Devices is { } specRules)
        {
            rules.AddRange(specRules);
        }
        rules.AddRange(Defaults);
        if (linux?.Devices is { } devices)
        {
            foreach (var d in devices)
            {
                if (d.Type is "c" or "b" or "u")
                {
                    rules.Add(Allow(d.Type == "u" ? "c" : d.Type, d.Major, d.Minor));
                }
            }
        }
        return rules;
    }

    /// <summary>
    /// The resources to give <see cref="ICgroupManager.Create"/> for a container: the spec's, with
    /// <see cref="ForContainer"/> as the device rules (so a spec without device rules still gets deny-all plus the
    /// defaults, never an open device cgroup). The spec's objects are shared, not copied.
    /// </summary>
    public static Resources ContainerResources(Berth.Oci.Runtime.Linux? linux)
    {
        var r = linux?.Resources;
        return new Resources
        {
            Devices = ForContainer(linux),
            Memory = r?.Memory,
            Cpu = r?.Cpu,
            Pids = r?.Pids,
            BlockIO = r?.BlockIO,
            HugepageLimits = r?.HugepageLimits,
            Unified = r?.Unified,
        };
    }

    private static DeviceCgroup Allow(string type, long? major, long? minor, string access = "rwm") =>
        new() { Allow = true, Type = type, Major = major, Minor = minor, Access = access };
}
