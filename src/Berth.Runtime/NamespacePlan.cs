using System.Globalization;
using Berth.Core;
using Berth.Linux;
using Berth.Oci.Runtime;

namespace Berth.Runtime;

/// <summary>
/// Which namespaces a container gets new and which it joins. New ones are unshared on the spawning thread (so only the
/// init inherits them), except the cgroup namespace, which init unshares itself once it sits in its cgroup so that the
/// namespace is rooted there. A user namespace cannot be entered from a multithreaded process: when the plan has one,
/// <see cref="UserNamespaceSpawner"/> hands all of it to the berth-userns helper, and <see cref="Unshare"/> never
/// contains the user flag.
/// </summary>
internal sealed class NamespacePlan
{
    public NamespaceFlags Unshare { get; private set; }

    public List<(string Path, NamespaceFlags Flag, string Type)> Join { get; } = [];

    public HashSet<string> Own { get; } = [];

    public HashSet<string> All { get; } = [];

    /// <summary>True when the container gets a new user namespace or joins one.</summary>
    public bool User => All.Contains("user");

    public static NamespacePlan From(Spec spec)
    {
        var plan = new NamespacePlan();
        var flags = NamespaceFlags.None;
        foreach (var ns in spec.Linux?.Namespaces ?? [])
        {
            var (flag, _) = NamespaceKinds.FromOci(ns.Type)!.Value;
            plan.All.Add(ns.Type);
            if (string.IsNullOrEmpty(ns.Path))
            {
                plan.Own.Add(ns.Type);
                if (flag is not (NamespaceFlags.Cgroup or NamespaceFlags.User))
                {
                    flags |= flag;
                }
            }
            else
            {
                plan.Join.Add((ns.Path, flag, ns.Type));
            }
        }
        if (plan.Own.Contains("user"))
        {
            if (UserNamespaceSpawner.HostId(spec.Linux!.UidMappings, 0) is null || UserNamespaceSpawner.HostId(spec.Linux.GidMappings, 0) is null)
            {
                throw BerthException.InvalidArgument("linux.uidMappings/gidMappings: a new user namespace needs mappings for container uid 0 and gid 0 (e.g. {\"containerID\": 0, \"hostID\": 100000, \"size\": 65536})");
            }
        }
        if (!plan.Own.Contains("mount"))
        {
            throw BerthException.InvalidArgument("linux.namespaces: a new mount namespace (type \"mount\" without a path) is required");
        }
        plan.Unshare = flags;
        return plan;
    }

    /// <summary>Runs on the spawning thread: join, then unshare, then set time offsets for the new time namespace.</summary>
    public void Enter(Dictionary<string, TimeOffset>? timeOffsets)
    {
        foreach (var (path, flag, type) in Join)
        {
            var fd = Sys.Open(path, Sys.O_RDONLY);
            try
            {
                Sys.SetNs(fd, flag, type + " " + path);
            }
            finally
            {
                Sys.Close(fd);
            }
        }
        if (Unshare != NamespaceFlags.None)
        {
            Sys.Unshare(Unshare);
        }
        if (timeOffsets is { Count: > 0 } && Unshare.HasFlag(NamespaceFlags.Time))
        {
            var lines = string.Join('\n', timeOffsets.Select(kv =>
                string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value.Secs} {kv.Value.Nanosecs}")));
            Sys.WriteFile("/proc/thread-self/timens_offsets", lines);
        }
    }
}
