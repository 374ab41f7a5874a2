using System.Globalization;

namespace Berth.Shim.Server;

/// <summary>
/// The OOM-kill counter of a container's memory cgroup, found from /proc/PID/cgroup of its init: cgroup v1's
/// memory.oom_control ("oom_kill N", kernel 4.13+) or cgroup v2's memory.events ("oom_kill N").
/// </summary>
internal sealed class OomCounter
{
    private readonly string _file;
    private readonly long _initial;

    private OomCounter(string file)
    {
        _file = file;
        _initial = Read(file);
    }

    public static OomCounter? For(int pid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        }
        catch (IOException)
        {
            return null;
        }
        foreach (var line in lines)
        {
            var parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[1].Split(',').Contains("memory"))
            {
                var file = "/sys/fs/cgroup/memory" + parts[2] + "/memory.oom_control";
                if (File.Exists(file))
                {
                    return new OomCounter(file);
                }
            }
        }
        foreach (var line in lines)
        {
            if (line.StartsWith("0::", StringComparison.Ordinal))
            {
                foreach (var root in new[] { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" })
                {
                    var file = root + line[3..] + "/memory.events";
                    if (File.Exists(file))
                    {
                        return new OomCounter(file);
                    }
                }
            }
        }
        return null;
    }

    /// <summary>Whether the kernel OOM-killed a process of the container since it was created.</summary>
    public bool Killed() => Read(_file) > _initial;

    private static long Read(string file)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal)
                    && long.TryParse(line.AsSpan(9), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                {
                    return n;
                }
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
