namespace Berth.Runtime.Tests;

/// <summary>What a failed or finished container must not leave behind: mounts, cgroup dirs, state dirs.</summary>
public sealed record HostSnapshot(string[] Mounts, string[] Cgroups, string[] StateDirs)
{
    public static HostSnapshot Take(string stateRoot, string cgroupName) => new(
        File.ReadAllLines("/proc/self/mountinfo").Select(l => string.Join(' ', l.Split(' ').Skip(3).Take(2))).Order().ToArray(),
        Directory.GetDirectories("/sys/fs/cgroup").SelectMany(h => Directory.Exists(Path.Combine(h, "berth"))
            ? Directory.GetDirectories(Path.Combine(h, "berth")).Where(d => d.Contains(cgroupName, StringComparison.Ordinal))
            : []).Order().ToArray(),
        Directory.Exists(stateRoot) ? Directory.GetDirectories(stateRoot).Order().ToArray() : []);

    public void AssertSameAs(HostSnapshot before)
    {
        Assert.Equal(before.Mounts, Mounts);
        Assert.Equal(before.Cgroups, Cgroups);
        Assert.Equal(before.StateDirs, StateDirs);
    }
}
