using Berth.Core;

namespace Berth.Cgroups;

/// <summary>Timeouts of the polling operations and the clock they are measured with.</summary>
public sealed class CgroupOptions
{
    public static readonly CgroupOptions Default = new();

    /// <summary>How long Freeze/Thaw wait for the kernel to settle before giving up (and thawing again).</summary>
    public TimeSpan FreezeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long Destroy retries rmdir while the last processes exit (EBUSY).</summary>
    public TimeSpan DestroyTimeout { get; init; } = TimeSpan.FromSeconds(3);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>Entry points: a manager for a new container's cgroup, or for an existing one from its saved path.</summary>
public static class CgroupManager
{
    /// <summary>Where containers go when the spec gives no cgroupsPath: /berth/&lt;id&gt;.</summary>
    public const string DefaultParent = "/berth";

    /// <summary>
    /// A manager for the cgroup of a new container (nothing is touched until <see cref="ICgroupManager.Create"/>).
    /// <paramref name="cgroupsPath"/> follows runc: absolute = from the hierarchy root, relative = below this process's own
    /// cgroup (in each hierarchy), null/empty = /berth/&lt;id&gt;; the systemd "slice:prefix:name" form is not supported.
    /// </summary>
    public static ICgroupManager For(CgroupLayout layout, string? cgroupsPath, string containerId, CgroupOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var normalized = Normalize(cgroupsPath, containerId);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var h in layout.All)
        {
            paths[h.Key] = normalized[0] == '/' ? normalized : Join(h.OwnPath, normalized);
        }
        return Make(layout, paths, options ?? CgroupOptions.Default);
    }

    /// <summary>The manager of an existing container's cgroup, from <see cref="ICgroupManager.SavedPath"/>.</summary>
    public static ICgroupManager Load(CgroupLayout layout, string savedPath, CgroupOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentException.ThrowIfNullOrEmpty(savedPath);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        if (savedPath[0] == '/')
        {
            var clean = Normalize(savedPath, "");
            foreach (var h in layout.All)
            {
                paths[h.Key] = clean;
            }
        }
        else
        {
            // key=path;key=path (hierarchies resolved a relative cgroupsPath differently).
            foreach (var part in savedPath.Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                // "name=systemd=/x": the path is after the last '=' that is followed by '/'.
                var split = part.IndexOf("=/", StringComparison.Ordinal);
                if (eq <= 0 || split <= 0)
                {
                    throw BerthException.InvalidArgument($"saved cgroup path \"{savedPath}\" is malformed (expected /path or key=/path;...)");
                }
                paths[part[..split]] = Normalize(part[(split + 1)..], "");
            }
        }
        return Make(layout, paths, options ?? CgroupOptions.Default);
    }

    /// <summary>Normalizes a cgroupsPath: "/a/b" (absolute), "a/b" (relative), or /berth/&lt;id&gt; when empty.</summary>
    public static string Normalize(string? cgroupsPath, string containerId)
    {
        if (string.IsNullOrEmpty(cgroupsPath))
        {
            if (string.IsNullOrEmpty(containerId) || containerId.Contains('/', StringComparison.Ordinal) || containerId is "." or "..")
            {
                throw BerthException.InvalidArgument($"container id \"{containerId}\" cannot name a cgroup; use letters, digits, '_', '-' and '.'");
            }
            return DefaultParent + "/" + containerId;
        }
        if (cgroupsPath.Contains(':', StringComparison.Ordinal))
        {
            throw BerthException.Unsupported(
                $"systemd cgroup paths (linux.cgroupsPath \"{cgroupsPath}\"); use --systemd-cgroup=false / cgroupfs and a path like /berth/<id>");
        }
        var absolute = cgroupsPath[0] == '/';
        var parts = new List<string>();
        foreach (var part in cgroupsPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                throw BerthException.InvalidArgument($"linux.cgroupsPath: \"{cgroupsPath}\" may not contain '..'");
            }
            parts.Add(part);
        }
        if (parts.Count == 0)
        {
            throw BerthException.InvalidArgument($"linux.cgroupsPath: \"{cgroupsPath}\" names the root cgroup; give the container a cgroup of its own like /berth/<id>");
        }
        var joined = string.Join('/', parts);
        return absolute ? "/" + joined : joined;
    }

    private static string Join(string parent, string relative) => parent.EndsWith('/') ? parent + relative : parent + "/" + relative;

    private static ICgroupManager Make(CgroupLayout layout, Dictionary<string, string> paths, CgroupOptions options) =>
        layout.Mode == CgroupMode.Unified
            ? new V2.CgroupV2Manager(layout, paths, options)
            : new V1.CgroupV1Manager(layout, paths, options);

    internal static string Save(IReadOnlyList<CgroupEntry> entries)
    {
        var first = entries[0].CgroupPath;
        var uniform = true;
        foreach (var e in entries)
        {
            uniform &= e.CgroupPath == first;
        }
        if (uniform)
        {
            return first;
        }
        var parts = new string[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            parts[i] = entries[i].Hierarchy.Key + "=" + entries[i].CgroupPath;
        }
        return string.Join(';', parts);
    }
}

/// <summary>The container's cgroup in one hierarchy.</summary>
internal sealed record CgroupEntry(CgroupHierarchy Hierarchy, string CgroupPath, string Directory);
